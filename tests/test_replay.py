"""Replay recordings end to end on both backends: identical predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.errors import ShapeError
from neuro_deploy.netx import load_netx
from neuro_deploy.netx.writer import cuba_neuron, write_netx
from neuro_deploy.sim.replay import ReplayConfig, replay

pytestmark = pytest.mark.lava  # these compare with (or run) Lava's simulator


def _both(net, files, cfg_kwargs, labels=None):
    fast = replay(net, files, ReplayConfig(backend="fast", **cfg_kwargs), labels)
    lava = replay(net, files, ReplayConfig(backend="lava", **cfg_kwargs), labels)
    assert [s.predicted for s in fast.samples] == [s.predicted for s in lava.samples]
    assert [s.output_counts for s in fast.samples] == [s.output_counts for s in lava.samples]
    assert [s.synops for s in fast.samples] == [s.synops for s in lava.samples]
    assert [s.latency_steps for s in fast.samples] == [s.latency_steps for s in lava.samples]
    return fast, lava


def test_replay_nmnist_files_on_both_backends(fixtures, tiny_dense):
    from neuro_deploy.data import read_labels

    d = need(fixtures / "events" / "nmnist")
    files = [d / "train" / f"{i}.bin" for i in range(1, 7)]
    labels = read_labels(d / "train_labels.txt")
    fast, _ = _both(load_netx(tiny_dense["net"]), files, {"dt_us": 10_000}, labels)
    assert fast.accuracy is not None and len(fast.samples) == 6
    s = fast.samples[0]
    assert s.label == labels["1"] and s.events > 1000 and s.synops["layer0"] > 0
    assert len(fast.accuracy_vs_step) > 10


def test_replay_dvs_gesture_downsampled_on_both_backends(fixtures, tmp_path):
    d = need(fixtures / "events" / "dvs_gesture")
    rng = np.random.default_rng(0)
    write_netx(
        tmp_path / "g.net",
        [
            {
                "type": "dense",
                "weight": rng.integers(-30, 40, (24, 2 * 32 * 32)) * 2,
                "neuron": cuba_neuron(1024, 256, 60),
            },
            {"type": "dense", "weight": rng.integers(-60, 60, (11, 24)) * 2, "neuron": cuba_neuron(1024, 256, 40)},
        ],
    )
    net = load_netx(tmp_path / "g.net")
    files = [d / f"{i}.bin" for i in (1, 4, 9)]
    fast, _ = _both(net, files, {"dt_us": 20_000, "downsample": 0.25, "refractory_us": 1000})
    assert all(s.steps == 73 for s in fast.samples)  # 1.45 s / 20 ms
    assert all(s.predicted is not None for s in fast.samples)


def test_replay_geometry_mismatch_is_named(fixtures, tiny_dense):
    f = need(fixtures / "events" / "dvs_gesture" / "1.bin")
    with pytest.raises(ShapeError, match="downsample"):
        replay(load_netx(tiny_dense["net"]), [f], ReplayConfig(dt_us=1000))


def test_replay_cli_json_folder_and_workers(fixtures, tiny_dense, tmp_path):
    d = need(fixtures / "events" / "nmnist")
    sub = tmp_path / "rec"
    sub.mkdir()
    for i in range(1, 5):
        (sub / f"{i}.bin").write_bytes((d / "train" / f"{i}.bin").read_bytes())
    (tmp_path / "labels.txt").write_text("# name class\n1.bin 5\n2 0\n")
    r = CliRunner().invoke(
        main,
        [
            "replay",
            str(tiny_dense["net"]),
            str(sub),
            "--dt-us",
            "10000",
            "--labels",
            str(tmp_path / "labels.txt"),
            "--workers",
            "2",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    o = json.loads(r.stdout)  # stderr: the warning that 3.bin and 4.bin have no label
    assert "2 of 4 recordings have no label" in r.stderr
    assert [s["file"].rsplit("/", 1)[1] for s in o["samples"]] == ["1.bin", "2.bin", "3.bin", "4.bin"]
    assert [s["label"] for s in o["samples"]] == [5, 0, None, None]
    assert o["accuracy"] in (0.0, 0.5, 1.0)
    assert all({"file", "predicted", "label", "latency_steps"} <= set(s) for s in o["samples"])
