"""Replay throughput on 1 process, 2 local processes and 2 Ray workers, and the cost per task.

The same replay (N-MNIST fixture recordings through a 2312-128-10 CUBA netx network,
each recording for its own length at 5 ms per step) runs

* in one process (``Execution()``),
* in 2 forked local processes (``--workers 2``),
* on Ray: a real two-node cluster on this machine (``ray.cluster_utils.Cluster``, one CPU
  per node, ``--ray-address``), tasks of ``--shard`` recordings,

on the fast backend (``--recordings``) and on Lava (``--lava-recordings``); every result is
checked equal to the one-process result. Each mode runs once to warm up (numba's compile,
imports, Ray workers) and is timed on a second run. Overhead per task: (a) the round trip
of an empty task (``--noop-tasks`` of them, 2 in flight), locally and on Ray; (b) the
extra time per task of the real replay on Ray when it is cut into one-recording tasks
instead of ``--shard``-recording ones. From the measured per-worker rate and per-task cost
it projects the N-MNIST test set (10,000 recordings) on N nodes: ``ceil(tasks / N) x (64 / r + o)``
with ``r`` the one-process rate (one worker per node) and ``o`` the measured cost per Ray task.

    .venv/bin/python benchmarks/cluster_replay.py [--recordings 400] [--lava-recordings 16]
        [--shard 40] [--out benchmarks/results/cluster_replay]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neuro_deploy.cluster import Execution, run_tasks  # noqa: E402
from neuro_deploy.netx import load_netx  # noqa: E402
from neuro_deploy.netx.writer import cuba_neuron, write_netx  # noqa: E402
from neuro_deploy.sim.replay import ReplayConfig, replay  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "events" / "nmnist" / "train"
TEST_SET = 10_000


def noop(x: int) -> int:
    return x


def key(res) -> tuple:
    """Everything a replay computes except wall time."""
    return (
        [(s.file, s.steps, s.spikes, s.synops, s.output_counts, s.predicted, s.latency_steps) for s in res.samples],
        [(c.name, c.synops.tolist(), c.output_spikes.tolist(), c.neuron_updates, c.active_updates) for c in res.counts],
    )


def timed_replay(net, files, backend: str, execution: Execution, shard: int | None, reference=None):
    cfg = ReplayConfig(dt_us=5000, backend=backend, execution=execution, shard_size=shard)
    replay(net, files[: max(2, 2 * (shard or 1))], cfg)  # warm up (on Ray: a task for each worker)
    t = time.perf_counter()
    res = replay(net, files, cfg)
    wall = time.perf_counter() - t
    if reference is not None and key(res) != key(reference):
        raise SystemExit(f"{backend} on {execution}: result differs from one process")
    return res, wall


def noop_round_trip(execution: Execution, n: int) -> float:
    run_tasks(noop, list(range(4)), execution)
    t = time.perf_counter()
    run_tasks(noop, list(range(n)), execution)
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=400)
    ap.add_argument("--lava-recordings", type=int, default=16)
    ap.add_argument("--shard", type=int, default=40, help="recordings per Ray task")
    ap.add_argument("--noop-tasks", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cluster_replay"))
    a = ap.parse_args()
    if not FIXTURE.is_dir():
        raise SystemExit(f"needs the N-MNIST fixture at {FIXTURE}")
    import ray
    from ray.cluster_utils import Cluster

    rng = np.random.default_rng(0)
    files = [FIXTURE / f"{i}.bin" for i in range(1, a.recordings + 1)]
    lava_files = files[: a.lava_recordings]
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "nmnist-128.net"
        write_netx(
            path,
            [
                {
                    "type": "dense",
                    "weight": rng.integers(-30, 40, (128, 2312)) * 2,
                    "neuron": cuba_neuron(1024, 256, 60),
                },
                {"type": "dense", "weight": rng.integers(-60, 60, (10, 128)) * 2, "neuron": cuba_neuron(1024, 256, 40)},
            ],
        )
        net = load_netx(path)
        one, t1 = timed_replay(net, files, "fast", Execution(), None)
        _, t2 = timed_replay(net, files, "fast", Execution("local", 2), None, one)
        lava1, l1 = timed_replay(net, lava_files, "lava", Execution(), None)
        fast_sub = replay(net, lava_files, ReplayConfig(dt_us=5000))
        if key(lava1) != key(fast_sub):
            raise SystemExit("lava differs from fast")
        _, l2 = timed_replay(net, lava_files, "lava", Execution("local", 2), None, lava1)
        local_noop = noop_round_trip(Execution("local", 2), a.noop_tasks)

        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        t = time.perf_counter()
        from neuro_deploy.cluster.ray_executor import WORKER_NICENESS_ENV

        os.environ.setdefault(WORKER_NICENESS_ENV, "0")  # as a Ray started for the run: workers at normal priority
        c = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "object_store_memory": 100 << 20, "include_dashboard": False},
        )
        try:
            c.add_node(num_cpus=1, object_store_memory=100 << 20)
            ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
            c.wait_for_nodes()
            startup = time.perf_counter() - t
            on_ray = Execution("ray", address=c.address)
            _, tr = timed_replay(net, files, "fast", on_ray, a.shard, one)
            _, tr1 = timed_replay(net, files, "fast", on_ray, 1, one)
            _, lr = timed_replay(net, lava_files, "lava", on_ray, max(1, a.lava_recordings // 4), lava1)
            ray_noop = noop_round_trip(on_ray, a.noop_tasks)
        finally:
            ray.shutdown()
            c.shutdown()
    n, nl = len(files), len(lava_files)
    tasks_big, tasks_one = math.ceil(n / a.shard), n
    per_task = max(0.0, (tr1 - tr) * 2 / (tasks_one - tasks_big))  # 2 workers in parallel
    rows = {
        "fast": {"1 process": n / t1, "2 local processes": n / t2, "2 Ray workers (2 nodes)": n / tr},
        "lava": {"1 process": nl / l1, "2 local processes": nl / l2, "2 Ray workers (2 nodes)": nl / lr},
    }
    overhead = {
        "noop round trip, 2 local processes (ms)": local_noop * 1e3,
        "noop round trip, Ray 2 nodes (ms)": ray_noop * 1e3,
        f"replay task on Ray, extra per task (ms; 1- vs {a.shard}-recording tasks)": per_task * 1e3,
        "Ray cluster start, 2 nodes (s)": startup,
    }
    # projection: T recordings in tasks of k on N nodes, one worker each running at the measured
    # one-process rate r (a node has its own CPU; here the two "nodes" share two busy cores),
    # plus the measured cost o of a replay task on Ray
    k = 64
    proj = []
    for backend in ("fast", "lava"):
        r = rows[backend]["1 process"]
        for nodes in (1, 2, 4, 8, 16, 32, 64):
            waves = math.ceil(math.ceil(TEST_SET / k) / nodes)
            proj.append(
                {
                    "backend": backend,
                    "nodes": nodes,
                    "tasks": math.ceil(TEST_SET / k),
                    "hours": waves * (k / r + per_task) / 3600,
                    "seconds": waves * (k / r + per_task),
                }
            )
    result = {
        "recordings": n,
        "lava_recordings": nl,
        "shard": a.shard,
        "throughput_rec_per_s": rows,
        "overhead": overhead,
        "projection_nmnist_test_10000": proj,
        "machine": f"{os.cpu_count()} cores, shared (load {os.getloadavg()[0]:.1f})",
    }
    md = [
        f"Replay of N-MNIST fixture recordings through 2312-128-10 CUBA (own length, 5 ms steps): "
        f"{n} recordings on fast, {nl} on Lava; every result equal to one process.",
        "",
        "| backend | 1 process | 2 local processes | 2 Ray workers (2 nodes) |",
        "|---|---|---|---|",
    ]
    for b, r in rows.items():
        md.append(f"| {b} | " + " | ".join(f"{v:.1f} rec/s" for v in r.values()) + " |")
    md += ["", "| overhead | value |", "|---|---|"] + [f"| {k_} | {v:.3g} |" for k_, v in overhead.items()]
    md += [
        "",
        f"Projection, N-MNIST test set ({TEST_SET:,} recordings in {math.ceil(TEST_SET / k)} tasks of {k}), "
        "one worker per node at the measured one-process rate plus the measured cost per Ray task "
        "(a node with c cores runs c workers: divide by c):",
        "",
        "| nodes | fast | lava |",
        "|---|---|---|",
    ]
    for nodes in sorted({p["nodes"] for p in proj}):
        f_, l_ = (next(p for p in proj if p["nodes"] == nodes and p["backend"] == b) for b in ("fast", "lava"))
        md.append(f"| {nodes} | {f_['seconds']:.0f} s | {l_['hours']:.2f} h |")
    text = "\n".join(md)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
