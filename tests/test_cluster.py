"""The execution layer (neuro_deploy.cluster) and sweeps, in this process and local processes.

Ray itself is tested in test_cluster_ray.py (a real two-node cluster, marker ``ray``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT, need
from neuro_deploy.cli import main
from neuro_deploy.cluster import Execution, TasksLostError, open_session, run_tasks
from neuro_deploy.errors import BadInputError, CorruptRecordingError
from neuro_deploy.netx import load_netx
from neuro_deploy.netx.writer import cuba_neuron, write_netx
from neuro_deploy.sim.replay import ReplayConfig, replay
from test_invariance import counts_key, per_recording


@pytest.fixture(scope="module")
def nmnist_train(fixtures):
    return need(fixtures / "events" / "nmnist" / "train")


@pytest.fixture(scope="module")
def own_length_net(tmp_path_factory):
    """2x34x34 -> 64 -> 10 CUBA without metadata: each recording replayed for its own length."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("cl") / "own.net"
    write_netx(
        path,
        [
            {
                "type": "dense",
                "weight": rng.integers(-30, 40, (64, 2 * 34 * 34)) * 2,
                "neuron": cuba_neuron(1024, 256, 60),
            },
            {"type": "dense", "weight": rng.integers(-60, 60, (10, 64)) * 2, "neuron": cuba_neuron(1024, 256, 40)},
        ],
    )
    return load_netx(path)


def same_replay(a, b) -> None:
    pa, pb = per_recording(a), per_recording(b)
    assert list(pa) == list(pb)
    differ = [f for f in pa if pa[f] != pb[f]]
    assert not differ, f"{len(differ)} recordings differ, e.g. {differ[:2]}"
    assert counts_key(a.counts) == counts_key(b.counts)
    assert (a.accuracy, a.accuracy_vs_step, a.layers, a.mean_latency_steps) == (
        b.accuracy,
        b.accuracy_vs_step,
        b.layers,
        b.mean_latency_steps,
    )


# --------------------------------------------------------------------------- options
def test_execution_from_cli_options():
    assert Execution.from_options() == Execution()
    assert Execution.from_options(3) == Execution("local", 3)
    assert Execution.from_options(1, ray=True) == Execution("ray", 0, None)
    assert Execution.from_options(4, ray_address="10.0.0.5:6379") == Execution("ray", 4, "10.0.0.5:6379")
    assert Execution.from_options(ray_address="auto").address == "auto"
    for bad in ("10.0.0.5", "host:port", ":6379", "h:70000"):
        with pytest.raises(BadInputError, match="--ray-address"):
            Execution.from_options(ray_address=bad)
    with pytest.raises(BadInputError, match="--workers"):
        Execution.from_options(0)


def test_cli_bad_ray_address_is_exit_2(own_length_net, nmnist_train, tmp_path):
    out = tmp_path / "r.json"
    r = CliRunner().invoke(
        main,
        [
            "replay",
            own_length_net.path,
            str(nmnist_train / "1.bin"),
            "--dt-us",
            "5000",
            "--ray-address",
            "nowhere",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 2 and "--ray-address 'nowhere'" in r.output
    assert not out.exists()


def test_unknown_executor_is_named():
    with pytest.raises(BadInputError, match="unknown executor 'slurm'; supported: local, ray"):
        run_tasks(abs, [1], Execution("slurm"))


# --------------------------------------------------------------------------- local executor
def test_local_results_in_task_order_and_task_errors_unchanged(tmp_path):
    """Results come back in task order from 3 processes; an error raised by a task is the
    task's own typed error (not retried, not wrapped)."""
    seen = []
    assert run_tasks(abs, list(range(-9, 0)), Execution("local", 3), on_result=lambda i, r: seen.append(i)) == list(
        range(9, 0, -1)
    )
    assert sorted(seen) == list(range(9))
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00\x01\x02")
    from neuro_deploy.events.readers import read_events

    for workers in (1, 2):
        with pytest.raises(CorruptRecordingError, match="bad.bin"):
            run_tasks(read_events, [bad, bad], Execution("local", workers))


def test_shards_cover_every_item_once():
    for ex, n, per, sizes in [
        (Execution(), 10, None, [10]),
        (Execution("local", 3), 10, None, [4, 4, 2]),
        (Execution("local", 2), 130, 64, [64, 64, 2]),
        (Execution(), 130, 64, [64, 64, 2]),
    ]:
        with open_session(ex) as s:
            parts = s.shards(n, per)
        assert [len(p) for p in parts] == sizes
        assert [i for p in parts for i in p] == list(range(n))


def _replay_in_thread(net, files, cfg, box):
    try:
        box["result"] = replay(net, files, cfg)
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        box["error"] = exc


def _kill_a_worker_while_running(box, thread) -> int:
    """SIGKILL one local worker process of the running replay while it still runs; its pid."""
    import multiprocessing as mp

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and thread.is_alive():
        kids = mp.active_children()
        if kids:
            time.sleep(0.05)  # into its task (a task of 300 recordings lasts ~0.6 s on fast)
            for k in mp.active_children():
                try:
                    os.kill(k.pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                assert thread.is_alive(), "the replay had already finished"
                return k.pid
        time.sleep(0.02)
    raise AssertionError(f"no worker process appeared while the replay ran ({box})")


def test_local_killed_worker_is_retried_and_every_recording_counted_once(nmnist_train, own_length_net):
    files = [nmnist_train / f"{i}.bin" for i in range(1, 301)]
    ref = replay(own_length_net, files, ReplayConfig(dt_us=5000))
    box: dict = {}
    cfg = ReplayConfig(dt_us=5000, execution=Execution("local", 2), shard_size=20)
    t = threading.Thread(target=_replay_in_thread, args=(own_length_net, files, cfg, box))
    t.start()
    _kill_a_worker_while_running(box, t)
    t.join(300)
    assert "error" not in box, box.get("error")
    res = box["result"]
    assert [s.file for s in res.samples] == [str(f) for f in files]
    same_replay(ref, res)


def test_local_worker_dying_too_often_names_the_missing_tasks(nmnist_train, own_length_net):
    files = [nmnist_train / f"{i}.bin" for i in range(1, 601)]
    box: dict = {}
    cfg = ReplayConfig(dt_us=5000, execution=Execution("local", 2, max_retries=0), shard_size=300)
    t = threading.Thread(target=_replay_in_thread, args=(own_length_net, files, cfg, box))
    t.start()
    _kill_a_worker_while_running(box, t)
    t.join(300)
    err = box.get("error")
    assert isinstance(err, TasksLostError), box
    assert err.exit_code == 5 and err.missing and err.total == 2
    assert all("recordings" in m and ".bin" in m for m in err.missing), err.missing
    assert "worker process running them died" in str(err)


# --------------------------------------------------------------------------- evaluate / report
def test_evaluate_local_processes_equal_one_process(tiny_dense, digits):
    from neuro_deploy.sim.evaluate import evaluate_deployed

    net = load_netx(tiny_dense["net"])
    sub = digits.subset(np.arange(60))
    x = sub.to_tensors(10_000, 30)
    lens = np.random.default_rng(2).integers(10, 31, len(x))
    one = evaluate_deployed(net, x, sub.labels, batch_size=128, lengths=lens)
    two = evaluate_deployed(net, x, sub.labels, batch_size=16, lengths=lens, execution=Execution("local", 2))
    assert counts_key(one.counts) == counts_key(two.counts)
    assert (one.predictions == two.predictions).all() and one.accuracy == two.accuracy
    assert (one.trains_last == two.trains_last).all()


def test_cli_evaluate_and_report_take_workers(tiny_dense):
    base = ["--dataset", "digits", "--limit", "40", "--json"]
    outs = []
    for w in ("1", "2"):
        r = CliRunner().invoke(main, ["evaluate", str(tiny_dense["net"]), "--workers", w] + base)
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        d.pop("wall_s")
        outs.append(d)
    assert outs[0] == outs[1]
    reps = []
    for w in ("1", "2"):
        r = CliRunner().invoke(main, ["report", str(tiny_dense["net"]), "--workers", w] + base)
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        d.pop("wall_s")
        reps.append(d)
    assert reps[0] == reps[1]


# --------------------------------------------------------------------------- sweep
def sweep_yaml(path, net, files, profiles=("loihi2", "loihi1"), labels=None, backends=("fast",)):
    import yaml

    doc = {
        "models": [str(net)],
        "datasets": [
            {"recordings": [str(f) for f in files], "dt_us": 5000, **({"labels": str(labels)} if labels else {})}
        ],
        "profiles": list(profiles),
        "backends": list(backends),
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def comparable(sweep_json: dict) -> list:
    """A sweep's cells without ``wall_s`` (the one figure that depends on the run)."""
    cells = json.loads(json.dumps(sweep_json["cells"]))
    for c in cells:
        c["row"].pop("wall_s")
        c.get("report", {}).pop("wall_s", None)
    return cells


def test_sweep_two_cells_local_processes_equal_one_process_and_resume(tmp_path, own_length_net, nmnist_train):
    files = [nmnist_train / f"{i}.bin" for i in (1, 8, 40)]
    labels = nmnist_train.parent / "train_labels.txt"
    cfg = sweep_yaml(tmp_path / "grid.yaml", own_length_net.path, files, labels=labels)
    outs = {}
    for w in ("1", "2"):
        r = CliRunner().invoke(main, ["sweep", str(cfg), "-o", str(tmp_path / f"w{w}"), "--workers", w])
        assert r.exit_code == 0, r.output
        assert "2 cells (2 run, 0 from an earlier run)" in r.output
        outs[w] = json.loads((tmp_path / f"w{w}.json").read_text())
    assert outs["1"]["complete"] and outs["1"]["missing"] == []
    assert comparable(outs["1"]) == comparable(outs["2"])
    assert [c["params"]["profile"] for c in outs["1"]["cells"]] == ["loihi2", "loihi1"]
    rep = outs["1"]["cells"][0]["report"]
    assert rep["samples"] == 3 and rep["label"].startswith("own.net") and rep["network"] == own_length_net.path
    csv_lines = (tmp_path / "w1.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("cell,model,data,profile,backend,accuracy")
    md = (tmp_path / "w1.md").read_text()
    assert "## Comparison" in md and "energy / inference (uJ)" in md
    # resume: a finished sweep runs nothing and rewrites the same table
    before = (tmp_path / "w1.json").read_text()
    r = CliRunner().invoke(main, ["sweep", str(cfg), "-o", str(tmp_path / "w1")])
    assert r.exit_code == 0 and "(0 run, 2 from an earlier run)" in r.output
    assert (tmp_path / "w1.json").read_text() == before
    # a larger grid runs only its new cell; a different one is refused, nothing destroyed
    big = sweep_yaml(tmp_path / "big.yaml", own_length_net.path, files, ("loihi2",), labels)
    r = CliRunner().invoke(main, ["sweep", str(big), "-o", str(tmp_path / "w1")])
    assert r.exit_code == 2 and "holds cells that are not in" in r.output
    assert (tmp_path / "w1.json").read_text() == before
    small = sweep_yaml(tmp_path / "small.yaml", own_length_net.path, files, ("loihi2",), labels)
    r = CliRunner().invoke(main, ["sweep", str(small), "-o", str(tmp_path / "grow")])
    assert r.exit_code == 0
    r = CliRunner().invoke(main, ["sweep", str(cfg), "-o", str(tmp_path / "grow"), "--json"])
    assert r.exit_code == 0, r.output
    grown = json.loads(r.stdout)
    assert comparable(grown) == comparable(outs["1"])


def test_sweep_config_errors_name_the_key(tmp_path, own_length_net):
    cases = [
        ("models: [nope.net]\ndatasets: [digits]\n", "models: .*nope.net does not exist"),
        (f"models: [{own_length_net.path}]\ndatasets: [digits]\nprofiles: [loihi9]\n", "loihi9"),
        (f"models: [{own_length_net.path}]\ndatasets: [digits]\nbackend: [fast]\n", "backend: unknown"),
        ("kind: train\ndataset: digits\nmethods: [full, prune-magic-0.5]\n", "pruning selector .*magic"),
        ("kind: train\ndataset: digits\nmethods: [fulll]\n", "unknown training method 'fulll'"),
        ("kind: cook\n", "kind: expected one of"),
    ]
    for text, pattern in cases:
        p = tmp_path / "c.yaml"
        p.write_text(text)
        r = CliRunner().invoke(main, ["sweep", str(p), "-o", str(tmp_path / "o")])
        assert r.exit_code == 2, (text, r.output)
        assert "c.yaml" in r.output and __import__("re").search(pattern, r.output), (pattern, r.output)
        assert not (tmp_path / "o.json").exists()


def test_doctor_reports_ray():
    r = CliRunner().invoke(main, ["doctor", "--json", "--no-lava-run"])
    d = json.loads(r.stdout)
    ray = next(c for c in d["checks"] if c["name"] == "ray")
    assert ray["required"] is False
    try:
        import ray as _ray  # noqa: F401
    except ImportError:
        assert not ray["ok"] and ".[cluster]" in ray["fix"]
    else:
        assert ray["ok"] and ray["version"] == _ray.__version__


@pytest.mark.slow
def test_training_sweep_same_rows_in_this_process_and_a_worker_process(tmp_path):
    """Training cells pin torch's threads: a cell trained in this process and in a worker
    process gives the same accuracies, energy and latency (times aside)."""
    from neuro_deploy.sweep import run_sweep, sweep_config

    doc = {
        "kind": "train",
        "dataset": "digits",
        "methods": ["full", "prune-random-0.5"],
        "seeds": [0],
        "epochs": 1,
        "threads": 1,
        "limit": 300,
    }
    rows = {}
    for w in (1, 2):
        res = run_sweep(sweep_config(doc, tmp_path, "grid.yaml", output=tmp_path / f"t{w}"), Execution("local", w))
        assert res.complete and [c["label"] for c in res.cells] == ["full | seed 0", "prune-random-0.5 | seed 0"]
        rows[w] = [{k: v for k, v in c["row"].items() if not k.endswith("_s")} for c in res.cells]
    assert rows[1] == rows[2]
    assert 0.15 < rows[1][0]["deployed"] <= 1 and rows[1][0]["bytes"] == rows[1][1]["bytes"]
    md = (tmp_path / "t1.md").read_text()
    assert "Mean ± std over seeds" in md and "| prune-random-0.5 | 1 |" in md


def test_task_net_without_the_file_on_the_worker_uses_an_identical_copy(tmp_path, monkeypatch, own_length_net):
    """A node without the netx file (no shared file system) gets the shipped bytes."""
    import pickle
    import shutil

    from neuro_deploy.sim.evaluate import TaskNet

    monkeypatch.setenv("NEURO_DEPLOY_CACHE", str(tmp_path / "cache"))
    mine = tmp_path / "mine.net"
    shutil.copy(own_length_net.path, mine)
    ref = TaskNet.of(load_netx(mine))
    assert ref.local().path == str(mine)  # present here: used as it is
    sent = pickle.loads(pickle.dumps(ref))  # what a task receives
    mine.unlink()
    there = sent.local()
    assert there.path != str(mine) and (tmp_path / "cache" / "shipped") in Path(there.path).parents
    assert open(there.path, "rb").read() == open(own_length_net.path, "rb").read()
    assert [l.name for l in there.layers] == [l.name for l in own_length_net.layers]
    mine.write_bytes(b"changed")  # a different file at the same path: not used
    assert sent.local().path == there.path


# --------------------------------------------------------------------------- Ctrl-C
def task_processes(title: str) -> list[int]:
    """Pids of Ray workers whose process title says they are running ``title``."""
    return [
        int(d.name)
        for d in Path("/proc").iterdir()
        if d.name.isdigit() and _cmdline(int(d.name)).startswith(f"ray::{title}")
    ]


def _parent(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            children.setdefault(_parent(int(d.name)), []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def interrupt_while_lava_runs(net: str, files: list[str], options: list[str], env: dict[str, str]) -> dict[int, str]:
    """Run `replay --backend lava OPTIONS` in its own session, send SIGINT to its process
    group (what Ctrl-C in a terminal does) once Lava's runtime processes run under a
    worker, and check that it exits 130 leaving none of its processes; {pid: cmdline} seen."""
    env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neuro_deploy.cli",
            "replay",
            net,
            *files,
            "--dt-us",
            "5000",
            "--backend",
            "lava",
            *options,
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 240
        lava_running = False
        while time.monotonic() < deadline and proc.poll() is None and not lava_running:
            tree = _descendants(proc.pid)
            seen.update({p: seen.get(p) or _cmdline(p) for p in tree})
            workers = [p for p in task_processes("replay_shard") if p in tree] or [
                p for p in tree if _parent(p) == proc.pid and "python" in seen[p] and "ray" not in seen[p]
            ]
            lava_running = any(_descendants(w) for w in workers)  # Lava's processes under a worker
            time.sleep(0.2)
        seen.update({p: seen.get(p) or _cmdline(p) for p in _descendants(proc.pid)})
        assert lava_running, f"Lava never ran under a worker (exit {proc.poll()})"
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in seen):
        time.sleep(0.5)
    left = {p: _cmdline(p)[:80] for p in seen if _alive(p)}
    for p in left:  # do not leave them to the next test either
        os.kill(p, signal.SIGKILL)
    assert proc.returncode == 130, proc.stderr.read().decode()[-2000:]
    assert not left, f"{len(left)} of {len(seen)} processes left behind: {left}"
    return seen


def test_ctrl_c_with_local_workers_leaves_no_lava_process(nmnist_train, own_length_net):
    seen = interrupt_while_lava_runs(
        own_length_net.path, [str(nmnist_train / f"{i}.bin") for i in range(1, 9)], ["--workers", "2"], {}
    )
    assert len(seen) >= 4, seen  # 2 workers and Lava's processes under them
