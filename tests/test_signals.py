"""Signals and processes (issue 14, item 5), with real processes and real signals.

* the first Ctrl-C - SIGINT to the whole process group, as a terminal sends it - stops a
  command within 5 s with exit 130 and no process of its session left;
* kill -9 of the parent leaves no Lava worker alive for more than a few seconds;
* SIGTERM exits 143 and removes the temp file of a write in progress.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from conftest import need
from neuro_deploy._io import TEMP_MARK
from proctools import alive, lava_workers_started, session_processes, start_cli, wait_for  # noqa: F401

STOP_S = 5.0


def _interrupt_and_check(cli, sig=signal.SIGINT, code=130):
    t0 = time.monotonic()
    cli.group_signal(sig)
    try:
        rc = cli.proc.wait(30)
    except Exception:
        rc = None
    took = time.monotonic() - t0
    left = cli.leftovers(2.0)
    return rc, took, left


def test_ctrl_c_stops_lava_run_with_no_worker_left(zygote, tmp_path, tiny_dense):
    cli = zygote.run(
        ["run", str(tiny_dense["net"]), "--steps", "1000000", "--backend", "lava", "-o", str(tmp_path / "o.npz")],
        tmp_path,
    )
    try:
        assert wait_for(lava_workers_started(cli), 240), cli.stderr()
        assert cli.proc.poll() is None, cli.stderr()
        time.sleep(1.0)  # inside net.run
        rc, took, left = _interrupt_and_check(cli)
        assert rc == 130, (rc, cli.stderr())
        assert took < STOP_S, took
        assert left == [], left
        assert "interrupted" in cli.stderr() and "Traceback" not in cli.stderr()
        assert not (tmp_path / "o.npz").exists()
        assert not [p for p in os.listdir(tmp_path) if TEMP_MARK in p]
    finally:
        cli.cleanup()


def test_kill_9_of_parent_takes_lava_workers_along(zygote, tmp_path, tiny_dense):
    cli = zygote.run(
        ["run", str(tiny_dense["net"]), "--steps", "1000000", "--backend", "lava", "-o", str(tmp_path / "o.npz")],
        tmp_path,
    )
    try:
        assert wait_for(lava_workers_started(cli), 240), cli.stderr()
        workers = [p for p in alive(session_processes(cli.pid)) if p[0] != cli.pid]
        assert len(workers) >= 3
        os.kill(cli.pid, signal.SIGKILL)
        cli.proc.wait(10)
        t0 = time.monotonic()
        gone = wait_for(lambda: not alive(session_processes(cli.pid)), 10.0)
        assert gone, alive(session_processes(cli.pid))
        assert time.monotonic() - t0 < 5.0
    finally:
        cli.cleanup()


def test_sigterm_during_export_removes_the_temp_file(zygote, tmp_path, tiny_dense):
    """SIGTERM (e.g. from a job scheduler) while the netx file is being written and checked:
    exit 143, no output, no temp file."""
    cli = zygote.run(["export", str(tiny_dense["ckpt"]), "-o", str(tmp_path / "m.net")], tmp_path)
    try:
        assert wait_for(
            lambda: any(TEMP_MARK in p for p in os.listdir(tmp_path)) or cli.proc.poll() is not None, 240, step=0.01
        ), cli.stderr()
        if cli.proc.poll() is not None:
            pytest.skip("the export finished before the signal could be sent")
        cli.proc.send_signal(signal.SIGTERM)
        rc = cli.proc.wait(30)
        assert rc in (143, 0), (rc, cli.stderr())
        names = os.listdir(tmp_path)
        assert not [p for p in names if TEMP_MARK in p], names
        if rc == 143:
            assert "m.net" not in names and "terminated" in cli.stderr()
    finally:
        cli.cleanup()


def _replay_args(fixtures, tiny_dense, tmp_path, n=6):
    d = need(fixtures / "events" / "nmnist" / "train")
    sub = tmp_path / "rec"
    sub.mkdir()
    for i in range(1, n + 1):
        (sub / f"{i}.bin").write_bytes((d / f"{i}.bin").read_bytes())
    return ["replay", str(tiny_dense["net"]), str(sub), "--dt-us", "1000", "--steps", "200000"]


@pytest.mark.slow
def test_ctrl_c_stops_lava_replay_with_two_workers(zygote, tmp_path, tiny_dense, fixtures):
    cli = zygote.run(_replay_args(fixtures, tiny_dense, tmp_path) + ["--backend", "lava", "--workers", "2"], tmp_path)
    try:
        # 2 workers, each with Lava actors of its own
        assert wait_for(lava_workers_started(cli, 8), 300), (cli.stderr(), session_processes(cli.pid))
        time.sleep(1.0)
        rc, took, left = _interrupt_and_check(cli)
        assert rc == 130 and took < STOP_S and left == [], (rc, took, left, cli.stderr())
        assert "Traceback" not in cli.stderr()
    finally:
        cli.cleanup()


@pytest.mark.slow
def test_kill_9_of_replay_parent_takes_workers_and_their_lava_along(zygote, tmp_path, tiny_dense, fixtures):
    cli = zygote.run(_replay_args(fixtures, tiny_dense, tmp_path) + ["--backend", "lava", "--workers", "2"], tmp_path)
    try:
        assert wait_for(lava_workers_started(cli, 8), 300), cli.stderr()
        os.kill(cli.pid, signal.SIGKILL)
        cli.proc.wait(10)
        assert wait_for(lambda: not alive(session_processes(cli.pid)), 5.0), alive(session_processes(cli.pid))
    finally:
        cli.cleanup()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["train", "export", "replay-fast", "report", "evaluate", "distill", "simulate", "demo"]
)
def test_ctrl_c_stops_every_command(zygote, name, tmp_path, tiny_dense, fixtures):
    """Any command, interrupted while it works: exit 130 within 5 s, nothing left."""
    x = (np.random.default_rng(0).random((2312, 400000)) < 0.01).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    args = {
        "train": ["train", "--epochs", "50", "-o", "m.pt"],
        "export": ["export", str(tiny_dense["ckpt"]), "-o", "m.net"],
        "replay-fast": _replay_args(fixtures, tiny_dense, tmp_path, 30),
        "report": ["report", str(tiny_dense["net"]), "--input", "x.npy", "--steps", "400000", "-o", "r.json"],
        "evaluate": ["evaluate", str(tiny_dense["net"]), "--split", "all", "--backend", "lava"],
        "distill": ["distill", "--iterations", "100000", "-o", "d.npz"],
        "simulate": ["events", "simulate", "-o", "sim"],
        "demo": ["demo", "--out", "demo"],
    }[name]
    cli = zygote.run(args, tmp_path)
    try:
        # wait until it works: a progress line, or Lava workers, or 25 s
        wait_for(
            lambda: cli.proc.poll() is not None or "%" in cli.stderr() or len(alive(session_processes(cli.pid))) > 2, 25
        )
        time.sleep(3.0)
        if cli.proc.poll() is not None:
            pytest.skip(f"{name} finished before the signal ({cli.proc.returncode})")
        rc, took, left = _interrupt_and_check(cli)
        assert rc == 130 and took < STOP_S and left == [], (rc, took, left, cli.stderr()[-2000:])
        assert "Traceback" not in cli.stderr()
        assert not [p for p in os.listdir(tmp_path) if TEMP_MARK in p]
    finally:
        cli.cleanup()


@pytest.mark.slow
def test_ctrl_c_stops_a_fresh_cli_process(tmp_path, tiny_dense):
    """The same as the zygote-forked case, from `python -m neuro_deploy.cli` itself."""
    cli = start_cli(
        ["run", str(tiny_dense["net"]), "--steps", "1000000", "--backend", "lava", "-o", str(tmp_path / "o.npz")],
        tmp_path,
    )
    try:
        assert wait_for(lava_workers_started(cli), 300), cli.stderr()
        time.sleep(1.0)
        rc, took, left = _interrupt_and_check(cli)
        assert rc == 130 and took < STOP_S and left == [], (rc, took, left, cli.stderr())
    finally:
        cli.cleanup()
