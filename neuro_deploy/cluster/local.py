"""The ``local`` executor: forked worker processes on this machine (``--workers N``).

``workers <= 1`` (or a single task) runs the tasks one after the other in this process,
exactly what a call without the execution layer does. Otherwise a
:class:`concurrent.futures.ProcessPoolExecutor` with the ``fork`` start method (the
workers inherit the imported modules, Lava's 3.11 fixes included) runs them. A worker
that dies breaks the pool (``BrokenProcessPool``): the pool is rebuilt and every task
that had not delivered its result is submitted again, each at most
``Execution.max_retries`` times. The workers run under :func:`neuro_deploy._process.child_policy`
(they leave Ctrl-C to this process and die with it, as do the Lava runtime processes under
them); Ctrl-C or an error kills them before the exception propagates.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Sequence

from neuro_deploy.cluster.base import Execution, TasksLostError


def kill_children(timeout_s: float = 5.0) -> None:
    """Terminate, then kill, every live child process of this process."""
    children = mp.active_children()
    for p in children:
        p.terminate()
    for p in children:
        p.join(timeout_s)
        if p.is_alive():
            p.kill()
            p.join(1.0)


class LocalExecutor:
    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.slots = max(1, execution.workers)

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(
        self,
        fn: Callable[[Any], Any],
        payloads: Sequence[Any],
        keys: Sequence[str],
        on_result: Callable[[int, Any], None],
    ) -> None:
        if self.slots == 1 or len(payloads) == 1:
            for i, p in enumerate(payloads):
                on_result(i, fn(p))
            return
        from neuro_deploy._process import child_policy

        with child_policy():
            self._run_pool(fn, payloads, keys, on_result)

    def _run_pool(
        self,
        fn: Callable[[Any], Any],
        payloads: Sequence[Any],
        keys: Sequence[str],
        on_result: Callable[[int, Any], None],
    ) -> None:
        todo = set(range(len(payloads)))
        starts = {i: 0 for i in todo}
        while todo:
            lost = sorted(i for i in todo if starts[i] > self.execution.max_retries)
            if lost:
                raise TasksLostError(
                    [keys[i] for i in lost],
                    len(payloads),
                    "the worker process running them died, and they had been "
                    f"started {self.execution.max_retries + 1} times (max_retries "
                    f"{self.execution.max_retries})",
                )
            pool = ProcessPoolExecutor(max_workers=min(self.slots, len(todo)), mp_context=mp.get_context("fork"))
            try:
                futures: dict[Future, int] = {}
                for i in sorted(todo):
                    starts[i] += 1
                    futures[pool.submit(fn, payloads[i])] = i
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        exc = f.exception()
                        if isinstance(exc, BrokenProcessPool):
                            continue  # retried with a fresh pool below
                        if exc is not None:
                            raise exc
                        i = futures[f]
                        todo.discard(i)
                        on_result(i, f.result())
                pool.shutdown(wait=True)
            except BaseException:
                kill_children()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            else:
                if todo:  # the pool broke: rebuild it for the rest
                    kill_children()
