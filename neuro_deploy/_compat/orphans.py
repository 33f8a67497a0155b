"""Child processes that die with their parent (Linux), so a killed worker leaves nothing.

Lava's runtime forks one process per Lava process model plus a shared-memory manager
(``lava.magma.runtime.message_infrastructure.multiprocessing``: ``SystemProcess.start``,
``SharedMemoryManager.start``), and ``net.stop()`` is what ends them. A worker that is
killed (SIGKILL from the OS, ``ray.cancel(force=True)``, a node going away) never calls
it, and those children would run on as orphans. :func:`children_die_with_parent`
registers an ``os.register_at_fork`` hook: every child forked afterwards *from the main
thread* asks the kernel for ``SIGKILL`` when its parent ends
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``, prctl(2)). Children forked from other threads are
left alone: the kernel sends the signal when the forking *thread* ends, which for a
helper thread is not the end of the parent. Elsewhere than Linux this does nothing.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1          #: <linux/prctl.h>
_state = {"installed": False, "main": False, "parent": 0}


def _before_fork() -> None:
    _state["main"] = threading.current_thread() is threading.main_thread()
    _state["parent"] = os.getpid()


def _after_fork_in_child() -> None:
    if not _state["main"]:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):          # pragma: no cover - no prctl here
        return
    if os.getppid() != _state["parent"]:       # the parent died before prctl: follow it now
        os._exit(1)


def children_die_with_parent() -> bool:
    """Install the hook once (idempotent); True where it works (Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    if not _state["installed"]:
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _state["installed"] = True
    return True
