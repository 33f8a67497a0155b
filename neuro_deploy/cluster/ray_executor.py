"""The ``ray`` executor: tasks on a Ray cluster (``--ray``, ``--ray-address HOST:PORT|auto``).

Connecting, on the first task (so a command that fails on its input never starts Ray): if
this process is already connected to Ray (``ray.init`` was called), that connection is
used and left open. Otherwise ``ray.init(address=...)`` joins the cluster at
``Execution.address`` or, with none, joins the Ray already running on this machine or
starts one (``num_cpus`` = ``workers`` when given, no dashboard, a small object store).
Sessions nest (the CLI holds one for the whole command, ``replay``/``evaluate`` open their
own inside it): the outermost one disconnects - stopping a Ray it started - when it
closes, also after Ctrl-C or an error; one Ray serves every model of a ``report``.
Workers run at normal priority in a Ray started for the run (:data:`WORKER_NICENESS_ENV`).
Every node needs neuro-deploy (the same version) importable by the Python that runs the
Ray workers; each task loads the netx file from the bytes it is sent, so nodes need no
shared file system.

Each task is ``ray.remote(fn)`` with ``num_cpus=1`` (plus ``Execution.resources``) and
``max_retries=Execution.max_retries``: Ray starts a task again when its worker process or
its node dies (a system failure), not when the task raises (``retry_exceptions=False``).
At most ``workers`` tasks (default: twice the cluster's CPUs) are in flight, so payloads
do not pile up in the object store. While tasks are outstanding the executor watches the
cluster: when the live nodes together lack the CPU (or the resources) one task needs for
``node_timeout_s`` - a node went away and did not come back - the run ends with
:class:`~neuro_deploy.cluster.base.TasksLostError` naming every unfinished task.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Sequence

from neuro_deploy.cluster.base import Execution, TasksLostError, unwrap_task_error
from neuro_deploy.errors import BadInputError, EnvironmentProblem

INSTALL_HINT = "pip install -e '.[cluster]' (or pip install 'ray==2.60.0')"
#: Ray runs its workers at niceness 15 unless this is set when the raylet starts: on a
#: machine with any other work their simulations then get a fraction of a core (measured
#: here: a fast-backend replay 5-10x slower than one process next to a training job). A Ray
#: started for the run gets 0; start your own cluster's nodes with ``RAY_worker_niceness=0
#: ray start ...`` for the same.
WORKER_NICENESS_ENV = "RAY_worker_niceness"


def import_ray():
    """``ray``, or an EnvironmentProblem saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise EnvironmentProblem(f"--ray needs Ray, which is not installed here ({exc}); {INSTALL_HINT}") from None
    return ray


#: Ray sessions open in this process, and whether one of them connected Ray (then the
#: outermost one disconnects - and stops a Ray it started - when it closes)
_SESSIONS = {"open": 0, "connected_here": False}


class RayExecutor:
    def __init__(self, execution: Execution) -> None:
        self.execution = execution

    # ------------------------------------------------------------------ connection
    def __enter__(self) -> "RayExecutor":
        import_ray()
        _SESSIONS["open"] += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        _SESSIONS["open"] -= 1
        if _SESSIONS["open"] == 0 and _SESSIONS["connected_here"]:
            import ray

            _SESSIONS["connected_here"] = False
            ray.shutdown()

    def connect(self):
        """``ray``, connected (on first use: a command that fails on its input before any
        task never starts a Ray)."""
        ray = import_ray()
        if ray.is_initialized():
            return ray
        ex = self.execution
        base: dict[str, Any] = {
            "address": ex.address,
            "include_dashboard": False,
            "logging_level": "ERROR",
            "log_to_driver": False,
        }
        start = {"num_cpus": ex.workers or os.cpu_count() or 1, "object_store_memory": ex.object_store_mb * 1024 * 1024}
        if not ex.address:
            os.environ.setdefault(WORKER_NICENESS_ENV, "0")  # read by the raylet this starts
        try:
            try:
                ray.init(**base, **({} if ex.address else start))
            except ValueError:  # a Ray already runs here: join it as it is
                if ex.address:
                    raise
                ray.init(**base)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"--ray-address {ex.address}" if ex.address else "a local Ray"
            raise BadInputError(f"{where}: cannot connect ({type(exc).__name__}: {exc})") from None
        _SESSIONS["connected_here"] = True
        return ray

    @property
    def slots(self) -> int:
        """CPUs of the cluster (connects)."""
        return max(1, int(self.connect().cluster_resources().get("CPU", 1)))

    # ------------------------------------------------------------------ tasks
    def run(
        self,
        fn: Callable[[Any], Any],
        payloads: Sequence[Any],
        keys: Sequence[str],
        on_result: Callable[[int, Any], None],
    ) -> None:
        ray = self.connect()
        from ray.exceptions import RayTaskError

        ex = self.execution
        demand = {"CPU": 1.0, **{k: float(v) for k, v in ex.resources.items()}}
        remote = ray.remote(fn).options(
            num_cpus=1, resources=dict(ex.resources) or None, max_retries=ex.max_retries, retry_exceptions=False
        )
        window = ex.workers or 2 * self.slots
        queue = list(range(len(payloads)))
        running: dict[Any, int] = {}
        lost: list[int] = []
        starved_since: float | None = None
        try:
            while queue or running:
                while queue and len(running) < window:
                    i = queue.pop(0)
                    running[remote.remote(payloads[i])] = i
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in ready:
                    i = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayTaskError as err:
                        raise unwrap_task_error(err) from None
                    except ray.exceptions.RayError:  # worker or node died more than max_retries times
                        lost.append(i)
                        continue
                    on_result(i, result)
                if ready:
                    starved_since = None
                    continue
                if _feasible(ray.cluster_resources(), demand):
                    starved_since = None
                elif starved_since is None:
                    starved_since = time.monotonic()
                elif time.monotonic() - starved_since > ex.node_timeout_s:
                    missing = sorted(lost + list(running.values()) + queue)
                    raise TasksLostError(
                        [keys[i] for i in missing],
                        len(payloads),
                        f"no live Ray node with {_fmt(demand)} for {ex.node_timeout_s:g} s: a node "
                        "left the cluster and did not come back",
                    )
            if lost:
                raise TasksLostError(
                    [keys[i] for i in sorted(lost)],
                    len(payloads),
                    "the Ray worker process or node running them died, and they had "
                    f"been started {ex.max_retries + 1} times (max_retries {ex.max_retries})",
                )
        except BaseException:
            for ref in running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # pragma: no cover - already finished or gone
                    pass
            raise


def _feasible(total: dict[str, float], demand: dict[str, float]) -> bool:
    return all(total.get(k, 0.0) >= v for k, v in demand.items())


def _fmt(demand: dict[str, float]) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in demand.items())
