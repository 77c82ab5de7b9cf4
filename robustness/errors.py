"""User-facing errors.

Every problem caused by the user's input (a missing file, a malformed qrels line, an unknown
ranker, a ranker returning NaN) is raised as a `RobustnessError` whose message is one line
naming the problem. The CLI prints that line alone (no traceback), so the message must be
complete on its own.
"""


class RobustnessError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ConfigError(RobustnessError):
    """A benchmark spec field is missing, mistyped or out of range."""


class DataError(RobustnessError):
    """A collection file is missing or malformed, or a dataset name is unknown."""


class RankerError(RobustnessError):
    """A ranker cannot be loaded, or returned scores of the wrong shape, dtype or value."""


class TrainingError(RobustnessError, ValueError):
    """Training input or configuration is unusable (empty triples, a query too long, bad config)."""
