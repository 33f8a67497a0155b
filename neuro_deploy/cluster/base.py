"""Tasks, where they run (:class:`Execution`), the executor registry and :func:`run_tasks`.

A *task* is one call ``fn(payload)`` of a module-level function - importable under the
same dotted name on every worker - with a picklable payload: a shard of recordings, a
batch of samples, one sweep cell. :func:`run_tasks` runs a list of them on the executor
named by ``Execution.executor`` and returns their results **in task order**, whatever
order they finished in and however often a task had to be started, so callers combine
them exactly as one process would (activity counts with
:func:`neuro_deploy.energy.counts.merge_counts`).

Executors are looked up by name in :data:`EXECUTORS`, a registry of dotted paths
resolved on first use (so ``import neuro_deploy.cluster`` never imports Ray):

* ``local`` - ``workers`` forked processes on this machine (``workers <= 1``: in this
  process);
* ``ray`` - Ray tasks, on a Ray started for the run (``address=None`` starts one on this
  machine, or joins the one already running here) or on a running cluster
  (``address="HOST:PORT"`` or ``"auto"``).

Faults (the same contract on both executors):

* a task whose worker process dies (killed, out of memory, its node lost) is started
  again, at most ``max_retries`` times; only the result of the run that finished is
  used, so every recording / sample / cell is in the result exactly once;
* an exception raised *by the task itself* (a corrupt recording, a bad option) is not
  retried - it would fail again - and reaches the caller as itself (typed errors keep
  their exit code);
* tasks that cannot finish - retries used up, or (Ray) no live node able to run them
  for ``node_timeout_s`` - end the run with :class:`TasksLostError`, which names every
  missing task; results delivered so far have already reached ``on_result``;
* Ctrl-C (or any error) stops every worker process the run started - local processes
  and the Lava runtime processes under them, Ray tasks (cancelled with force) and a Ray
  started for the run - before the exception propagates.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from neuro_deploy.errors import BadInputError, NeuroDeployError, UnknownNameError


class TasksLostError(NeuroDeployError):
    """Tasks that did not finish: their worker died more often than allowed, or no live
    node could run them. ``missing`` names them; ``done`` results were delivered."""

    exit_code = 5

    def __init__(self, missing: Sequence[str], total: int, reason: str, hint: str = "") -> None:
        self.missing, self.total, self.reason = list(missing), int(total), reason
        self.done = self.total - len(self.missing)
        shown = "; ".join(self.missing[:20]) + (
            f"; ... ({len(self.missing) - 20} more)" if len(self.missing) > 20 else ""
        )
        super().__init__(
            f"{len(self.missing)} of {self.total} tasks did not finish ({reason}): "
            f"{shown}" + (f". {hint}" if hint else "")
        )

    def with_hint(self, hint: str) -> "TasksLostError":
        """The same error with a sentence added (e.g. where the partial results are)."""
        return TasksLostError(self.missing, self.total, self.reason, hint)


@dataclass
class Execution:
    """Where tasks run. ``Execution()`` is one process, as without this layer."""

    executor: str = "local"  #: a key of :data:`EXECUTORS`
    workers: int = 1  #: local: processes; ray: tasks in flight (0 = every CPU)
    address: str | None = None  #: ray: None = start (or join) a Ray on this machine
    max_retries: int = 3  #: restarts of a task whose worker process died
    node_timeout_s: float = 60.0  #: ray: how long tasks may lack a live node to run on
    object_store_mb: int = 512  #: ray: object store of a Ray started for the run
    resources: dict[str, float] = field(default_factory=dict)  #: ray: extra resources per task

    @classmethod
    def from_options(cls, workers: int = 1, ray: bool = False, ray_address: str | None = None) -> "Execution":
        """From the CLI's ``--workers N``, ``--ray`` and ``--ray-address HOST:PORT|auto``
        (``--ray-address`` implies ``--ray``; with Ray, ``--workers`` caps the tasks in flight
        and defaults to every CPU of the cluster)."""
        if workers < 1:
            raise BadInputError(f"--workers must be at least 1, got {workers}")
        if ray_address is not None:
            check_address(ray_address)
        if ray or ray_address:
            return cls("ray", workers if workers > 1 else 0, ray_address or None)
        return cls("local", workers)


def check_address(address: str) -> str:
    """``auto`` or ``HOST:PORT`` (the form ``ray start --head`` prints); else a BadInputError."""
    if address == "auto":
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInputError(f"--ray-address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379) or 'auto'")
    return address


class Executor(Protocol):
    """Runs tasks; a context manager that owns (and on exit releases) its workers."""

    #: tasks that run at the same time (local: processes; ray: CPUs of the cluster)
    slots: int

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: Any) -> None: ...

    def run(
        self,
        fn: Callable[[Any], Any],
        payloads: Sequence[Any],
        keys: Sequence[str],
        on_result: Callable[[int, Any], None],
    ) -> None:
        """Call ``on_result(i, fn(payloads[i]))`` for every task, in any order; raise
        :class:`TasksLostError` for tasks that cannot finish."""


#: executor name -> "module:attribute" of a class taking an :class:`Execution`.
EXECUTORS: dict[str, str] = {
    "local": "neuro_deploy.cluster.local:LocalExecutor",
    "ray": "neuro_deploy.cluster.ray_executor:RayExecutor",
}

#: items per task on Ray unless the caller says otherwise (see :meth:`Session.shards`)
DEFAULT_TASK_ITEMS = 64


def register_executor(name: str, dotted: str) -> None:
    """Add an executor (``"package.module:Class"``, resolved on first use)."""
    EXECUTORS[name] = dotted


def get_executor(execution: Execution) -> Executor:
    """The executor for ``execution`` (not yet entered)."""
    if execution.executor not in EXECUTORS:
        raise UnknownNameError("executor", execution.executor, EXECUTORS)
    module, _, attr = EXECUTORS[execution.executor].partition(":")
    return getattr(importlib.import_module(module), attr)(execution)


class Session:
    """An entered executor: split work with :meth:`shards`, run it with :meth:`run`."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self._executor = get_executor(execution)

    def __enter__(self) -> "Session":
        self._executor.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._executor.__exit__(*exc)

    @property
    def slots(self) -> int:
        return max(1, int(self._executor.slots))

    def shards(self, n: int, per_task: int | None = None) -> list[range]:
        """``n`` items as contiguous tasks. Locally one task per process
        (``ceil(n / workers)`` items, capped by ``per_task``); on Ray ``per_task`` items
        (default :data:`DEFAULT_TASK_ITEMS`), fewer when that leaves CPUs idle: small tasks
        balance the load over nodes and lose little work to a failure. Results never
        depend on the split (callers merge in item order)."""
        if n <= 0:
            return []
        even = -(-n // self.slots)
        if self.execution.executor == "local":
            size = min(even, per_task) if per_task else even
        else:
            size = min(per_task or DEFAULT_TASK_ITEMS, even)
        size = max(1, size)
        return [range(i, min(n, i + size)) for i in range(0, n, size)]

    def run(
        self,
        fn: Callable[[Any], Any],
        payloads: Sequence[Any],
        keys: Sequence[str] | None = None,
        on_result: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """Run ``fn(payload)`` for every payload; results in task order. ``keys`` name the
        tasks in errors (default ``task i``); ``on_result(i, result)`` is called once per
        task as it finishes (progress bars, journals of partial results)."""
        keys = list(keys) if keys is not None else [f"task {i}" for i in range(len(payloads))]
        if len(keys) != len(payloads):
            raise ValueError("Session.run: one key per payload")
        results: dict[int, Any] = {}

        def collect(i: int, result: Any) -> None:
            if i in results:  # a task reported twice (retried): keep the first
                return
            results[i] = result
            if on_result is not None:
                on_result(i, result)

        if payloads:
            self._executor.run(fn, payloads, keys, collect)
        missing = [keys[i] for i in range(len(payloads)) if i not in results]
        if missing:  # executors raise instead; never return short
            raise TasksLostError(missing, len(payloads), "the executor returned without them")
        return [results[i] for i in range(len(payloads))]


def open_session(execution: Execution | None = None) -> Session:
    """``with open_session(execution) as s: ...`` (default: this process)."""
    return Session(execution or Execution())


def run_tasks(
    fn: Callable[[Any], Any],
    payloads: Sequence[Any],
    execution: Execution | None = None,
    keys: Sequence[str] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """:meth:`Session.run` in a session of its own."""
    with open_session(execution) as s:
        return s.run(fn, payloads, keys, on_result)


def progress_bar(total: int, what: str) -> Callable[[int, Any], None]:
    """An ``on_result`` callback advancing a progress bar by one finished task
    (:func:`neuro_deploy._progress.progress_bar`: a bar on a terminal, plain lines in logs)."""
    from neuro_deploy._progress import progress_bar as bar_for

    bar = bar_for(total=total, desc=what, unit="task")

    def advance(i: int, result: Any) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return advance


def unwrap_task_error(exc: BaseException) -> BaseException:
    """A typed neuro-deploy error raised inside a task, as itself (else ``exc``)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, NeuroDeployError) else exc
