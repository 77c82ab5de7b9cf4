"""The five robustness tasks of Wu et al., "Are Neural Ranking Models Robust?" (TOIS 2022),
and the defence tasks (certification, detection).

Tasks are registered under the entry-point group `robustness.tasks` (see robustness.registry)
and built from a spec's `tasks: [{name, params}]`; a task's parameters are its constructor's.
"""

from robustness.tasks.base import RankerResult, Task, TaskContext

__all__ = ["RankerResult", "Task", "TaskContext"]
