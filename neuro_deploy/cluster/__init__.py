"""One execution layer: independent tasks in local processes or on a Ray cluster.

``replay``, ``evaluate``, ``report`` (through them), ``sweep`` and the benchmarks split
their work into tasks and run them here; see :mod:`neuro_deploy.cluster.base` for the
contract (results in task order, retries of dead workers, named missing tasks, clean
Ctrl-C). Importing this package does not import Ray.
"""

from neuro_deploy.cluster.base import (
    DEFAULT_TASK_ITEMS,
    EXECUTORS,
    Execution,
    Session,
    TasksLostError,
    check_address,
    get_executor,
    open_session,
    progress_bar,
    register_executor,
    run_tasks,
)
from neuro_deploy.cluster.files import ShippedFile

__all__ = [
    "DEFAULT_TASK_ITEMS",
    "EXECUTORS",
    "Execution",
    "Session",
    "ShippedFile",
    "TasksLostError",
    "check_address",
    "get_executor",
    "open_session",
    "progress_bar",
    "register_executor",
    "run_tasks",
]
