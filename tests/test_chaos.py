"""Chaos (issue 14, item 6, processes and files): kill -9 at random points of export,
report, train and replay. Afterwards the output is either absent or complete (it loads
and equals an uninterrupted run's), no temp file is left, and no process of the run
(Lava workers, the temp-file guardian) outlives it by more than a few seconds.

The default run kills `export` a few times; ``-m slow`` kills every command
``CHAOS_CASES`` times (default 10) at uniformly random moments of its run.
Each run prints its figures (cases, complete/absent outputs, stray files, orphans).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from conftest import need
from neuro_deploy._io import TEMP_MARK
from proctools import alive, guardians_orphaned, session_processes, wait_for


def _same_netx(a: Path, b: Path) -> bool:
    from neuro_deploy.netx import load_netx

    x, y = load_netx(a), load_netx(b)
    return len(x) == len(y) and all(np.array_equal(p.weight, q.weight) for p, q in zip(x.layers, y.layers))


def _same_json(keys: tuple[str, ...]) -> Callable[[Path, Path], bool]:
    def same(a: Path, b: Path) -> bool:
        da, db = json.loads(a.read_text()), json.loads(b.read_text())
        da, db = (da[0], db[0]) if isinstance(da, list) else (da, db)
        return all(da[k] == db[k] for k in keys)

    return same


def _same_checkpoint(a: Path, b: Path) -> bool:
    from neuro_deploy.models import load_checkpoint

    ma, _, _ = load_checkpoint(a)
    mb, _, _ = load_checkpoint(b)
    sa, sb = ma.state_dict(), mb.state_dict()
    return sa.keys() == sb.keys() and all((sa[k] == sb[k]).all() for k in sa)


def _commands(tiny_dense, fixtures, tmp: Path) -> dict[str, tuple[list[str], str, Callable]]:
    """name -> (argv with OUT for the output, output file name, completeness check)."""
    rec = need(fixtures / "events" / "nmnist" / "train")
    recs = tmp / "recs"
    recs.mkdir(exist_ok=True)
    for i in range(1, 9):
        (recs / f"{i}.bin").write_bytes((rec / f"{i}.bin").read_bytes())
    x = (np.random.default_rng(0).random((2312, 3000)) < 0.05).astype(np.int8)
    np.save(tmp / "x.npy", x)
    net, ckpt = str(tiny_dense["net"]), str(tiny_dense["ckpt"])
    return {
        "export": (["export", ckpt, "-o", "OUT"], "m.net", _same_netx),
        "report": (
            ["report", net, "--input", str(tmp / "x.npy"), "--steps", "3000", "-o", "OUT", "-q"],
            "r.json",
            _same_json(("energy_per_inference_uj", "synops", "spikes")),
        ),
        "train": (
            ["train", "--epochs", "1", "--hidden", "16", "--steps", "10", "--dt-us", "30000", "-o", "OUT", "-q"],
            "m.pt",
            _same_checkpoint,
        ),
        "replay": (
            ["replay", net, str(recs), "--dt-us", "10000", "--workers", "2", "-o", "OUT", "-q"],
            "r.json",
            _same_json(("accuracy", "samples")),
        ),
    }


def _chaos(zygote, name: str, cases: int, tiny_dense, fixtures, tmp_path: Path, seed: int = 0) -> dict:
    argv, out_name, same = _commands(tiny_dense, fixtures, tmp_path)[name]
    ref_dir = tmp_path / f"{name}-ref"
    ref_dir.mkdir()
    t0 = time.monotonic()
    cli = zygote.run([a if a != "OUT" else str(ref_dir / out_name) for a in argv], ref_dir)
    assert cli.proc.wait(600) == 0, cli.stderr()
    t_ref = time.monotonic() - t0
    rng = random.Random(seed)
    figures = {
        "command": name,
        "cases": 0,
        "killed": 0,
        "complete": 0,
        "absent": 0,
        "incomplete": 0,
        "stray_files": 0,
        "orphans": 0,
        "reference_s": round(t_ref, 2),
    }
    for k in range(cases):
        d = tmp_path / f"{name}-{k}"
        d.mkdir()
        cli = zygote.run([a if a != "OUT" else str(d / out_name) for a in argv], d)
        time.sleep(rng.uniform(0.0, t_ref))
        sid = cli.pid
        if cli.proc.poll() is None:
            os.kill(cli.pid, signal.SIGKILL)
            figures["killed"] += 1
        cli.proc.wait(30)
        figures["cases"] += 1
        # temp files: the guardian removes them when the parent is gone
        wait_for(lambda: not [p for p in os.listdir(d) if TEMP_MARK in p], 5.0)
        stray = [p for p in os.listdir(d) if p not in (out_name, "cli.stdout", "cli.stderr")]
        figures["stray_files"] += len(stray)
        if not wait_for(lambda: not alive(session_processes(sid)), 5.0):
            figures["orphans"] += len(alive(session_processes(sid)))
        out = d / out_name
        if not out.exists():
            figures["absent"] += 1
        else:
            try:
                ok = same(out, ref_dir / out_name)
            except Exception:
                ok = False
            figures["complete" if ok else "incomplete"] += 1
    wait_for(lambda: not guardians_orphaned(), 5.0)
    figures["orphans"] += len(guardians_orphaned())
    print(f"\nchaos figures: {json.dumps(figures)}")
    return figures


def _check(f: dict) -> None:
    assert f["incomplete"] == 0 and f["stray_files"] == 0 and f["orphans"] == 0, f
    assert f["complete"] + f["absent"] == f["cases"]


def test_kill_9_during_export(zygote, tiny_dense, fixtures, tmp_path):
    _check(_chaos(zygote, "export", 2, tiny_dense, fixtures, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["export", "report", "train", "replay"])
def test_kill_9_at_random_points(zygote, name, tiny_dense, fixtures, tmp_path):
    cases = int(os.environ.get("CHAOS_CASES", "10"))
    f = _chaos(zygote, name, cases, tiny_dense, fixtures, tmp_path, seed=cases)
    _check(f)
    assert f["absent"] > 0 or f["complete"] > 0
