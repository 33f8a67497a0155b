"""The project as it was at an earlier commit, for side-by-side speed measurements.

``Baseline(rev)`` exports ``rev`` of this repository (``git archive``) into a temporary
directory and starts a Python process that imports neuro-deploy from there. It answers
timing requests (one JSON line in, one out), so a benchmark can alternate rounds of the
current code (in its own process) with rounds of the old code and report the median of
the per-round ratios - load from other processes then hits both sides alike.

Requests: ``{"fast": {"net": path, "inputs": path.npy, "steps": n}}`` (one fast-backend
run, seconds) and ``{"replay": {"net": path, "files": [...], "cfg": {...}}}`` (one
replay, seconds). The first request of each kind also compiles the old kernels: send it
as a warm-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the commit the speed work started from (issue 16's "today")
DEFAULT_REV = "6cb6efe"

SERVER = r"""
import json, sys, time
import numpy as np
from neuro_deploy.netx import load_netx
from neuro_deploy.sim import RunSpec, get_backend
nets = {}
for line in sys.stdin:
    req = json.loads(line)
    if "fast" in req:
        r = req["fast"]
        net = nets.setdefault(r["net"], load_netx(r["net"]))
        x = np.load(r["inputs"])
        t0 = time.perf_counter()
        get_backend("fast").run(net, RunSpec(steps=r["steps"], inputs=x, probe="all"))
        out = {"s": time.perf_counter() - t0}
    elif "replay" in req:
        from neuro_deploy.sim.replay import ReplayConfig, replay
        r = req["replay"]
        net = nets.setdefault(r["net"], load_netx(r["net"]))
        t0 = time.perf_counter()
        res = replay(net, r["files"], ReplayConfig(**r["cfg"]))
        out = {"s": time.perf_counter() - t0, "predicted": [s.predicted for s in res.samples]}
    else:
        out = {"error": "unknown request"}
    print(json.dumps(out), flush=True)
"""


class Baseline:
    """A process running neuro-deploy at ``rev`` (see module docstring)."""

    def __init__(self, rev: str = DEFAULT_REV):
        self.rev = rev
        self.dir = tempfile.TemporaryDirectory(prefix="nd-baseline-")
        archive = Path(self.dir.name) / "src.tar"
        with open(archive, "wb") as f:
            subprocess.run(["git", "-C", str(ROOT), "archive", rev], stdout=f, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(Path(self.dir.name) / "src")
        env = dict(os.environ, PYTHONPATH=str(Path(self.dir.name) / "src"))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=self.dir.name,
        )

    def ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"baseline {self.rev} process ended (exit {self.proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.dir.cleanup()

    def __enter__(self) -> "Baseline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def available(rev: str = DEFAULT_REV) -> bool:
    """Whether this checkout has ``rev`` (a git repository with that commit)."""
    r = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}^{{commit}}"], capture_output=True)
    return r.returncode == 0
