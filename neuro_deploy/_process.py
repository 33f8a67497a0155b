"""Child processes: they leave Ctrl-C to their parent and die with it.

Lava runs every process model as a forked OS process (plus a shared-memory manager),
and ``replay --workers`` forks workers. Two rules make them safe to interrupt:

* **The parent decides.** A terminal's Ctrl-C goes to the whole process group. A
  child that dies of it mid-message leaves its parent waiting forever (Lava's
  ``net.stop()`` blocks on a channel of a dead actor), so children ignore SIGINT;
  the parent gets ``KeyboardInterrupt``, stops its children itself
  (:func:`stop_children`) and exits with 130.
* **Children watch their parent.** ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (Linux) has
  the kernel signal a child when the thread that forked it ends, so a ``kill -9`` of
  the parent takes its Lava workers along within milliseconds. Where prctl is not
  available, or the fork came from a non-main thread (which may end before the
  process), a daemon thread polls ``getppid()`` twice a second instead.

Both apply to ``fork`` children started while :func:`child_policy` is active (the CLI
keeps it active for a whole command; library calls that fork enter it themselves);
outside it, forks are left alone. :func:`map_in_processes` runs jobs in forked
workers under this policy, with results, typed errors and progress ticks sent back
through pipes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable, Iterator, Sequence

PR_SET_PDEATHSIG = 1  #: <linux/prctl.h>
PARENT_POLL_S = 0.5
STOP_GRACE_S = 2.0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (exit 143)."""


_state: dict[str, Any] = {"depth": 0, "registered": False, "parent": None, "from_main": True, "libc": None}


def _libc() -> Any:
    if _state["libc"] is None and sys.platform.startswith("linux"):
        try:
            _state["libc"] = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _state["libc"] = False
    return _state["libc"] or None


def _before_fork() -> None:
    _state["parent"] = os.getpid()
    _state["from_main"] = threading.current_thread() is threading.main_thread()


def watch_parent(parent_pid: int, sig: int = signal.SIGTERM, use_prctl: bool = True) -> str:
    """Make the calling (child) process receive ``sig`` when ``parent_pid`` goes away;
    returns ``"prctl"`` or ``"thread"``, the mechanism used."""
    how = "thread"
    libc = _libc() if use_prctl else None
    if libc is not None and libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0:
        how = "prctl"
    if os.getppid() != parent_pid:  # the parent died before the prctl
        os.kill(os.getpid(), sig)
    if how == "thread":

        def poll() -> None:
            while os.getppid() == parent_pid:
                time.sleep(PARENT_POLL_S)
            os.kill(os.getpid(), sig)

        threading.Thread(target=poll, name="neuro-deploy-parent-watch", daemon=True).start()
    return how


def _after_fork_in_child() -> None:
    if _state["depth"] <= 0 or _state["parent"] is None:
        return
    with contextlib.suppress(ValueError):  # not the main thread: nothing to set
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's raising handler
    watch_parent(_state["parent"], signal.SIGTERM, use_prctl=_state["from_main"])


@contextlib.contextmanager
def child_policy() -> Iterator[None]:
    """While active, forked children ignore SIGINT and die with their parent."""
    if not _state["registered"]:
        _libc()  # dlopen now, not in a forked child
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _state["registered"] = True
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1


def stop_children(grace_s: float = STOP_GRACE_S) -> int:
    """SIGTERM every live ``multiprocessing`` child, SIGKILL those still alive after
    ``grace_s``; returns how many there were."""
    import multiprocessing as mp

    children = mp.active_children()
    for p in children:
        with contextlib.suppress(Exception):
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in children:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
    for p in children:
        with contextlib.suppress(Exception):
            if p.is_alive():
                p.kill()
                p.join(1.0)
    return len(children)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread (restored on exit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------ workers
def _picklable(exc: BaseException) -> BaseException | None:
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:
        return None


def _child_main(func: Callable[[Any], Any], job: Any, conn: Any) -> None:
    from neuro_deploy.errors import NeuroDeployError

    signal.signal(signal.SIGTERM, _raise_terminated)
    from neuro_deploy._progress import forward_ticks

    code = 0
    try:
        with forward_ticks(lambda n, unit: conn.send(("progress", n, unit))):
            msg: tuple = ("ok", func(job))
    except Terminated:
        msg, code = ("interrupted", None), 143
    except NeuroDeployError as exc:
        same = _picklable(exc)
        msg = ("error", same) if same is not None else ("error-text", (str(exc), exc.exit_code))
    except BaseException:  # a bug: the parent re-raises it with this text
        msg = ("crash", traceback.format_exc())
    try:
        conn.send(msg)
        conn.close()
    finally:
        os._exit(code)


def map_in_processes(func: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
    """``[func(j) for j in jobs]``, one forked process per job, under :func:`child_policy`.

    A typed error in a worker is raised again in the parent (the first one, in job
    order); Ctrl-C or any exception in the parent stops every worker before it
    propagates; a worker that dies without an answer is an error naming its signal.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    from neuro_deploy._progress import tick
    from neuro_deploy.errors import NeuroDeployError

    ctx = mp.get_context("fork")
    procs: list = []
    results: list[Any] = [None] * len(jobs)
    answers: dict[int, tuple] = {}
    with child_policy():
        try:
            for job in jobs:
                r, w = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_child_main, args=(func, job, w))
                p.start()
                w.close()
                procs.append((p, r))
            pending = {r: i for i, (_, r) in enumerate(procs)}
            while pending:
                for r in wait(list(pending)):
                    try:
                        msg = r.recv()
                        if msg[0] == "progress":
                            tick(msg[1], msg[2])
                            continue
                        answers[pending.pop(r)] = msg
                    except EOFError:
                        i = pending.pop(r)
                        p = procs[i][0]
                        p.join(5.0)
                        code = p.exitcode
                        how = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
                        answers[i] = ("crash", f"worker {i} died without an answer ({how})")
            for p, _ in procs:
                p.join()
        except BaseException:
            for p, _ in procs:
                with contextlib.suppress(Exception):
                    p.terminate()
            for p, _ in procs:
                with contextlib.suppress(Exception):
                    p.join(STOP_GRACE_S)
                    if p.is_alive():
                        p.kill()
                        p.join(1.0)
            raise
        finally:
            for _, r in procs:
                with contextlib.suppress(Exception):
                    r.close()
    for i in range(len(jobs)):
        kind, value = answers[i]
        if kind == "ok":
            results[i] = value
        elif kind == "error":
            raise value
        elif kind == "error-text":
            err = NeuroDeployError(value[0])
            err.exit_code = value[1]
            raise err
        elif kind == "interrupted":
            raise KeyboardInterrupt()
        else:
            raise RuntimeError(f"worker {i} failed:\n{value}")
    return results
