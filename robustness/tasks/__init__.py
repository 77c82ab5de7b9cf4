"""The five robustness tasks of Wu et al., "Are Neural Ranking Models Robust?" (TOIS 2022).

Registered by name; a task module is imported only when a spec uses it.
"""

from __future__ import annotations

import importlib

from robustness.errors import ConfigError
from robustness.tasks.base import RankerResult, Task, TaskContext

TASKS: dict[str, tuple[str, str]] = {
    "iid": ("robustness.tasks.iid:IIDTask", "1. I.I.D. performance variance on the in-domain test split"),
    "ood_query": ("robustness.tasks.ood_query:QueryVariationTask", "2. OOD: unseen query variations (typos, order, synonyms, ...)"),
    "ood_domain": ("robustness.tasks.ood_domain:DomainTask", "3. OOD: unseen domains (other collections)"),
    "adv_spam": ("robustness.tasks.adversarial:SpamTask", "4. adversarial: document manipulation by keyword stuffing"),
    "adv_substitution": ("robustness.tasks.adversarial:SubstitutionTask", "5. adversarial: word-substitution perturbation"),
}


def available_tasks() -> dict[str, str]:
    return {name: description for name, (_, description) in TASKS.items()}


def make_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r} (known: {', '.join(TASKS)})")
    module_name, _, attr = TASKS[name][0].partition(":")
    return getattr(importlib.import_module(module_name), attr)()


__all__ = ["RankerResult", "TASKS", "Task", "TaskContext", "available_tasks", "make_task"]
