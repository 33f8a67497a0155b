"""A real two-node Ray cluster on this machine (ray.cluster_utils.Cluster, 1 CPU per node).

Everything computed on Ray equals the single-process result, spike for spike and count for
count: replay (fast and Lava), evaluate, the CLI, a two-cell sweep; a worker process killed
mid-task is retried and every recording is counted once; a node that never comes back ends
a sweep with an error naming the missing cell while the finished one stays on disk;
Ctrl-C leaves no Ray or Lava process behind. Marker ``ray``; skipped without Ray.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT
from neuro_deploy.cli import main
from neuro_deploy.cluster import Execution, TasksLostError
from neuro_deploy.netx import load_netx
from neuro_deploy.sim.replay import ReplayConfig, replay
from test_cluster import (  # noqa: F401 - fixtures (nmnist_train, own_length_net) are used by name
    comparable,
    interrupt_while_lava_runs,
    nmnist_train,
    own_length_net,
    same_replay,
    sweep_yaml,
    task_processes,
)
from test_invariance import counts_key

try:
    import ray
except ImportError as exc:  # CI installs it (make test: the [cluster] extra)
    pytest.skip(
        f"Ray tests skipped: ray is not importable ({exc}); pip install -e '.[cluster]'", allow_module_level=True
    )
pytestmark = pytest.mark.ray
RAY = Execution("ray")


@pytest.fixture(scope="module")
def cluster():
    """Head + one worker node, 1 CPU and an 80 MB object store each; workers import this
    checkout of neuro_deploy (PYTHONPATH is inherited by the nodes' processes)."""
    from ray.cluster_utils import Cluster

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([old] if old else []))
    args = {"num_cpus": 1, "object_store_memory": 80 << 20}
    os.environ.setdefault("RAY_worker_niceness", "0")  # as a Ray neuro-deploy starts: workers at normal priority
    c = Cluster(initialize_head=True, head_node_args={**args, "include_dashboard": False})
    try:
        c.add_node(**args)
        ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
        c.wait_for_nodes()
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_cluster_has_two_nodes(cluster):
    alive = [n for n in ray.nodes() if n["Alive"]]
    assert len(alive) >= 2 and ray.cluster_resources()["CPU"] >= 2


def test_replay_fast_on_ray_equals_one_process(cluster, nmnist_train, own_length_net):
    from neuro_deploy.data import read_labels

    files = [nmnist_train / f"{i}.bin" for i in range(1, 41)]
    labels = read_labels(nmnist_train.parent / "train_labels.txt")
    one = replay(own_length_net, files, ReplayConfig(dt_us=5000), labels)
    on_ray = replay(own_length_net, files, ReplayConfig(dt_us=5000, execution=RAY, shard_size=6), labels)
    assert len({s.steps for s in one.samples}) >= 3
    same_replay(one, on_ray)


def test_replay_lava_on_ray_equals_fast(cluster, nmnist_train, own_length_net):
    """Lava (with the 3.11 shim and its fork start method) inside Ray worker processes."""
    files = [nmnist_train / f"{i}.bin" for i in (1, 8, 40, 43)]  # 62, 63, 60, 61 steps
    lava = replay(own_length_net, files, ReplayConfig(dt_us=5000, backend="lava", execution=RAY, shard_size=2))
    fast = replay(own_length_net, files, ReplayConfig(dt_us=5000))
    assert lava.backend == "lava" and len({s.steps for s in lava.samples}) == 4
    assert sum(sum(s.spikes.values()) for s in lava.samples) > 0
    same_replay(fast, lava)


def test_cli_replay_ray_address_equals_one_process(cluster, nmnist_train, own_length_net, tmp_path):
    args = (
        ["replay", own_length_net.path]
        + [str(nmnist_train / f"{i}.bin") for i in range(1, 21)]
        + ["--dt-us", "5000", "--json"]
    )
    outs = []
    for extra in ([], ["--ray-address", cluster.address]):
        r = CliRunner().invoke(main, args + extra)
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        outs.append([d["samples"], d["layers"], d["accuracy_vs_step"]])
    assert outs[0] == outs[1]


def test_evaluate_on_ray_equals_one_process(cluster, tiny_dense, digits):
    from neuro_deploy.sim.evaluate import evaluate_deployed

    net = load_netx(tiny_dense["net"])
    sub = digits.subset(np.arange(50))
    x = sub.to_tensors(10_000, 30)
    lens = np.random.default_rng(3).integers(10, 31, len(x))
    one = evaluate_deployed(net, x, sub.labels, lengths=lens)
    on_ray = evaluate_deployed(net, x, sub.labels, batch_size=12, lengths=lens, execution=RAY)
    assert counts_key(one.counts) == counts_key(on_ray.counts)
    assert (one.predictions == on_ray.predictions).all() and one.accuracy == on_ray.accuracy


def test_sweep_two_cells_on_ray_equals_one_process(cluster, tmp_path, nmnist_train, own_length_net):
    from neuro_deploy.sweep import load_sweep_config, run_sweep

    files = [nmnist_train / f"{i}.bin" for i in (1, 8, 40)]
    grid = sweep_yaml(
        tmp_path / "grid.yaml", own_length_net.path, files, labels=nmnist_train.parent / "train_labels.txt"
    )
    local = run_sweep(load_sweep_config(grid, tmp_path / "one"))
    on_ray = run_sweep(load_sweep_config(grid, tmp_path / "ray"), RAY)
    assert on_ray.ran == 2 and on_ray.complete
    assert comparable(json.loads((tmp_path / "ray.json").read_text())) == comparable(local.to_dict())


def test_killed_ray_worker_is_retried_and_every_recording_counted_once(cluster, nmnist_train, own_length_net):
    files = [nmnist_train / f"{i}.bin" for i in range(1, 401)]  # 40 tasks: a kill lands while one runs
    one = replay(own_length_net, files, ReplayConfig(dt_us=5000))
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = replay(own_length_net, files, ReplayConfig(dt_us=5000, execution=RAY, shard_size=10))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and t.is_alive():
        running = task_processes("replay_shard")
        if running:
            os.kill(running[0], signal.SIGKILL)
            killed = running[0]
        time.sleep(0.02)
    t.join(600)
    assert killed is not None, "no Ray worker was seen running a replay task"
    assert "error" not in box, box.get("error")
    res = box["result"]
    assert [s.file for s in res.samples] == [str(f) for f in files]  # each recording exactly once
    same_replay(one, res)


def test_node_that_never_comes_back_names_the_missing_cell(cluster, tmp_path, nmnist_train, own_length_net):
    """Cells pinned to a third node (a custom resource); the node is removed after the first
    cell finished: the error names the other cell, the finished one stays readable."""
    from neuro_deploy.sweep import load_sweep_config, run_sweep

    node = cluster.add_node(num_cpus=1, object_store_memory=80 << 20, resources={"doomed": 1})
    cluster.wait_for_nodes()
    files = [nmnist_train / f"{i}.bin" for i in (1, 8, 40)]
    grid = sweep_yaml(
        tmp_path / "grid.yaml", own_length_net.path, files, ("loihi2",), backends=("fast", "lava")
    )  # a Lava cell: long enough to be cut
    out = tmp_path / "lost"
    ex = Execution("ray", resources={"doomed": 1}, node_timeout_s=5)
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = run_sweep(load_sweep_config(grid, out), ex)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and t.is_alive():
        if out.with_suffix(".json").is_file() and json.loads(out.with_suffix(".json").read_text())["cells"]:
            break
        time.sleep(0.05)
    cluster.remove_node(node)
    t.join(300)
    err = box.get("error")
    assert isinstance(err, TasksLostError), box
    doc = json.loads(out.with_suffix(".json").read_text())
    finished = [c["label"] for c in doc["cells"]]
    assert len(finished) == 1 and doc["complete"] is False
    assert err.missing == doc["missing"] and len(err.missing) == 1 and err.missing[0] not in finished
    assert "did not come back" in str(err) and err.missing[0] in str(err) and "lost.json" in str(err)
    assert len((tmp_path / "lost.csv").read_text().splitlines()) == 2


def test_ctrl_c_leaves_no_ray_or_lava_process(tmp_path, nmnist_train, own_length_net):
    """`replay --ray --backend lava` starts its own Ray; Ctrl-C while Lava runs inside a Ray
    worker: every process it started (Ray's, the workers, Lava's) is gone, exit 130."""
    seen = interrupt_while_lava_runs(
        own_length_net.path,
        [str(nmnist_train / f"{i}.bin") for i in range(1, 9)],
        ["--ray", "--workers", "2"],
        {"RAY_ADDRESS": "local"},
    )  # not the test cluster
    names = " ".join(seen.values())
    assert "raylet" in names and "gcs_server" in names and "ray::replay_shard" in names, names
