"""Worker processes (neuro_deploy._process): typed errors and progress come back from
workers, a crashed worker is named, children ignore SIGINT and watch their parent."""

from __future__ import annotations

import os
import signal
import time

import pytest

from neuro_deploy import _process, _progress
from neuro_deploy.errors import CorruptRecordingError, ShapeError


def _square(x):
    _progress.tick(1, "jobs")
    _progress.tick(100, "steps")  # another unit: does not move the jobs bar
    return x * x


def _typed_error(x):
    if x == 2:
        raise CorruptRecordingError("rec2.bin", 17, "bad word")  # not picklable by args alone
    if x == 3:
        raise ShapeError("input", (2, 3), (4,))
    return x


def _die(x):
    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def _sigint_disposition(_):
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_results_in_job_order_and_ticks_reach_the_parent_bar(capsys):
    with _progress.task(4, "jobs", "jobs") as bar:
        assert _process.map_in_processes(_square, [1, 2, 3, 4]) == [1, 4, 9, 16]
        assert bar.n == 4


def test_typed_error_of_a_worker_is_raised_in_the_parent():
    with pytest.raises(Exception) as e:
        _process.map_in_processes(_typed_error, [1, 2, 3])
    assert "rec2.bin at byte 17: bad word" in str(e.value) and e.value.exit_code == 2


def test_a_killed_worker_is_an_error_naming_the_signal():
    with pytest.raises(RuntimeError, match="SIGKILL"):
        _process.map_in_processes(_die, [0, 1])


def test_workers_ignore_sigint_and_watch_their_parent():
    assert _process.map_in_processes(_sigint_disposition, [0, 1]) == [True, True]
    assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN  # the parent keeps Ctrl-C


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie. An orphan is re-parented to the nearest child
    subreaper - this very process once Ray's driver has made it one (ray.init does) - which
    does not reap it, so a dead orphan can stay a zombie here; reap it if it is ours."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def test_watch_parent_kills_an_orphan():
    """A child of a child: when its parent dies, it gets SIGTERM (prctl or the watchdog)."""
    for use_prctl in (True, False):
        r, w = os.pipe()
        mid = os.fork()
        if mid == 0:  # the parent-to-be-killed
            os.close(r)
            leaf = os.fork()
            if leaf == 0:
                # as the child policy does: the default action, not a handler inherited from this
                # test process (Ray's driver installs one for SIGTERM once a Ray test has run)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                how = _process.watch_parent(os.getppid(), use_prctl=use_prctl)
                os.write(w, f"{os.getpid()} {how}\n".encode())
                time.sleep(60)
                os._exit(0)
            time.sleep(60)
            os._exit(0)
        os.close(w)
        pid, how = os.read(r, 100).decode().split()
        assert how == ("prctl" if use_prctl else "thread")
        os.kill(mid, signal.SIGKILL)
        os.waitpid(mid, 0)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if _gone(int(pid)):
                break
            time.sleep(0.05)
        else:
            os.kill(int(pid), signal.SIGKILL)
            pytest.fail(f"orphan {pid} still alive 5 s after its parent died ({how})")


def test_energy_counting_first_then_fork_is_safe():
    """The first numba parallel launch fixes the threading layer for the process; with GNU
    OpenMP a later fork aborts ("fork() called from a process already using GNU OpenMP") -
    what a Lava replay did when the activity count ran before anything else had chosen the
    layer. Counting first, in a fresh process, then forking, must leave both alive."""
    import subprocess
    import sys

    code = """
import os, numpy as np, numba
from neuro_deploy.energy.kernels import dense_counts
t, b, n_in, n = 3, 4, 16, 8
counts = np.zeros((4, t, b), np.int64)
dense_counts(np.ones((t, b, n_in), np.uint8), np.ones((t, b, n), np.uint8), np.ones((t, b), bool),
             np.ones(n_in, np.int64), np.ones((n_in, 1), np.uint64), np.zeros(1, np.uint64), counts)
assert counts[0].sum() == t * b * n_in, counts
print(numba.threading_layer())
pid = os.fork()
if pid == 0:
    dense_counts(np.ones((t, b, n_in), np.uint8), np.ones((t, b, n), np.uint8), np.ones((t, b), bool),
                 np.ones(n_in, np.int64), np.ones((n_in, 1), np.uint64), np.zeros(1, np.uint64), counts)
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
print("child ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["workqueue", "child ok"], r.stdout
