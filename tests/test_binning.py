"""One binning: evaluate, replay, report and training lay a recording's time axis out the
same way (time origin + window stored with the model), and SLAYER -> NIR -> netx keeps the
model's time step."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.errors import BadInputError
from neuro_deploy.events.tensor import Binning
from neuro_deploy.events.types import EVENT_DTYPE
from neuro_deploy.netx import load_netx
from neuro_deploy.netx.meta import binning_for, read_meta


def _events(ts: list[int]) -> np.ndarray:
    ev = np.zeros(len(ts), EVENT_DTYPE)
    ev["t"] = ts
    ev["x"], ev["y"], ev["p"] = 1, 2, 1
    return ev


def test_binning_origins_and_windows():
    ev = _events([3000, 7000, 12_000])
    zero, first = Binning(5000, "zero"), Binning(5000, "first-event")
    assert zero.length(ev) == 3 and first.length(ev) == 2  # 0..12000 vs 3000..12000
    assert zero.bin(ev, (4, 4))[1, 2, 1].tolist() == [1, 1, 1]  # bins 0, 1, 2
    assert first.bin(ev, (4, 4))[1, 2, 1].tolist() == [1, 1]  # 3000 -> 0, 7000 -> 0, 12000 -> 1
    assert first.bin(ev, (4, 4))[1, 2, 1, 0] == 1
    assert Binning(5000, "zero", 10).bin(ev, (4, 4)).shape[-1] == 10
    assert Binning(5000, "zero").length(_events([])) == 1
    with pytest.raises(BadInputError, match="first-event"):  # camera clock: 1.6e15 us
        Binning(5000, "zero").length(_events([1_605_537_493_718_345, 1_605_537_493_818_345]))
    with pytest.raises(BadInputError, match="no event falls"):  # window misses every event
        Binning(1000, "zero", 10).bin(_events([50_000, 60_000]), (4, 4))
    with pytest.warns(UserWarning, match="first 100 steps are empty"):
        Binning(1000, "zero").bin(_events([100_000, 100_500]), (4, 4))
    with pytest.raises(BadInputError):
        Binning(5000, "middle")


def test_binning_for_metadata_and_legacy():
    assert binning_for({"dt_us": 5000, "num_steps": 60}) == Binning(5000, "zero", 60)  # before time_origin
    assert binning_for({"dt_us": 5000, "num_steps": 60, "time_origin": "first-event"}) == Binning(
        5000, "first-event", 60
    )
    assert binning_for({"dt_s": 0.005}) == Binning(5000, "zero", None)  # older NIR imports
    assert binning_for({}, dt_us=2000, time_origin="first-event") == Binning(2000, "first-event", None)
    with pytest.raises(BadInputError, match="--dt-us"):
        binning_for({}, what="x.net")
    with pytest.warns(UserWarning, match="made for 5000 us"):
        binning_for({"dt_us": 5000}, dt_us=1000)


@pytest.fixture(scope="module")
def nmnist(fixtures):
    return need(fixtures / "events" / "nmnist")


def _evaluate_and_replay(net_path, nmnist, tmp_path, extra: list[str], n: int = 60):
    """evaluate (data-set path) and replay (recording path) on the same first ``n`` files."""
    from neuro_deploy.data import load_dataset
    from neuro_deploy.sim.evaluate import evaluate_deployed
    from neuro_deploy.sim.replay import ReplayConfig, replay

    r = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(net_path),
            "--dataset",
            "nmnist",
            "--root",
            str(nmnist),
            "--split",
            "all",
            "--limit",
            str(n),
            "--json",
        ]
        + extra,
    )
    assert r.exit_code == 0, r.output
    ev_cli = json.loads(r.stdout)
    folder = tmp_path / "rec"
    folder.mkdir(exist_ok=True)
    for i in range(1, n + 1):
        (folder / f"{i}.bin").write_bytes((nmnist / "train" / f"{i}.bin").read_bytes())
    r = CliRunner().invoke(
        main,
        [
            "replay",
            str(net_path),
            str(folder),
            "--dt-us",
            str(ev_cli["dt_us"]),
            "--labels",
            str(nmnist / "train_labels.txt"),
            "--json",
        ]
        + extra,
    )
    assert r.exit_code == 0, r.output
    rp_cli = json.loads(r.stdout)
    # per-file predictions of the data-set path, through the same functions the CLI uses
    meta = read_meta(net_path)
    origin = extra[extra.index("--time-origin") + 1] if "--time-origin" in extra else None
    b = binning_for(meta, ev_cli["dt_us"], None, origin)
    ds = load_dataset("nmnist", root=nmnist).subset(np.arange(n))
    x, lens = ds.bin(b)
    ev = evaluate_deployed(load_netx(net_path), x, ds.labels, lengths=lens)
    rp = replay(load_netx(net_path), [folder], ReplayConfig(dt_us=b.dt_us, time_origin=origin))
    return ev_cli, rp_cli, ev, rp, ds


@pytest.mark.parametrize("origin", [None, "first-event"])
def test_evaluate_equals_replay_on_the_same_nmnist_files(tiny_dense, nmnist, tmp_path, origin):
    """A model with a training window (30 steps of 10 ms, from t = 0 as trained): both paths
    bin every file the same way, so accuracy and every prediction agree."""
    extra = ["--time-origin", origin] if origin else []
    ev_cli, rp_cli, ev, rp, ds = _evaluate_and_replay(tiny_dense["net"], nmnist, tmp_path, extra)
    assert ev_cli["accuracy"] == rp_cli["accuracy"]
    assert ev_cli["steps"] == 30 and {s["steps"] for s in rp_cli["samples"]} == {30}
    assert ev_cli["time_origin"] == rp_cli["time_origin"] == (origin or "zero")
    assert ev.predictions.tolist() == [s.predicted if s.predicted is not None else 0 for s in rp.samples]
    assert ev.output_counts.tolist() == [s.output_counts for s in rp.samples]
    assert [c.totals() for c in ev.counts] == [c.totals() for c in rp.counts]


def test_evaluate_equals_replay_without_a_window(nmnist, tmp_path):
    """A network without export metadata: both paths take each file for its own length
    (61-63 steps of 5 ms on the fixture) from the same origin."""
    from neuro_deploy.netx.writer import cuba_neuron, write_netx

    rng = np.random.default_rng(0)
    write_netx(
        tmp_path / "own.net",
        [
            {
                "type": "dense",
                "weight": rng.integers(-30, 40, (64, 2 * 34 * 34)) * 2,
                "neuron": cuba_neuron(1024, 256, 60),
            },
            {"type": "dense", "weight": rng.integers(-60, 60, (10, 64)) * 2, "neuron": cuba_neuron(1024, 256, 40)},
        ],
    )
    r = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(tmp_path / "own.net"),
            "--dataset",
            "nmnist",
            "--root",
            str(nmnist),
            "--split",
            "all",
            "--limit",
            "5",
            "--json",
        ],
    )
    assert r.exit_code == 2 and "--dt-us" in r.output  # no silent 1 ms default
    ev_cli, rp_cli, ev, rp, ds = _evaluate_and_replay(tmp_path / "own.net", nmnist, tmp_path, ["--dt-us", "5000"], n=40)
    assert len({s["steps"] for s in rp_cli["samples"]}) >= 2
    assert ev_cli["accuracy"] == rp_cli["accuracy"]
    assert ev.output_counts.tolist() == [s.output_counts for s in rp.samples]
    assert ev.run_steps.tolist() == [s.steps + len(load_netx(tmp_path / "own.net")) for s in rp.samples]


def test_time_origin_stored_in_checkpoint_and_netx(tiny_dense, tmp_path):
    import torch

    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.api import export as export_model

    payload = torch.load(tiny_dense["ckpt"], weights_only=False)
    legacy = dict(payload, config={k: v for k, v in payload["config"].items() if k != "time_origin"})
    torch.save(legacy, tmp_path / "legacy.pt")  # written before the key existed
    assert load_checkpoint(tmp_path / "legacy.pt")[1].time_origin == "zero"
    payload["config"]["time_origin"] = "first-event"
    torch.save(payload, tmp_path / "fe.pt")
    export_model(tmp_path / "fe.pt", tmp_path / "fe.net", verify_inputs=np.zeros((0,)))
    meta = read_meta(tmp_path / "fe.net")
    assert meta["time_origin"] == "first-event" and meta["dt_us"] == 10_000 and meta["num_steps"] == 30
    assert binning_for(meta) == Binning(10_000, "first-event", 30)


@pytest.mark.train
def test_train_cli_stores_time_origin(tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--steps",
            "10",
            "--dt-us",
            "30000",
            "--time-origin",
            "first-event",
            "-o",
            str(tmp_path / "m.pt"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["export", str(tmp_path / "m.pt"), "-o", str(tmp_path / "m.net"), "--json"])
    assert r.exit_code == 0, r.output
    assert read_meta(tmp_path / "m.net")["time_origin"] == "first-event"


def test_slayer_nir_netx_evaluates_like_the_direct_export(tiny_dense, tmp_path):
    """The NIR file gets the checkpoint's 10 ms step, the netx built back from it carries
    dt_us / window / origin, and evaluate gives exactly the direct export's answer."""
    import nir

    run = CliRunner().invoke
    r = run(main, ["export", str(tiny_dense["ckpt"]), "--target", "nir", "-o", str(tmp_path / "m.nir")])
    assert r.exit_code == 0, r.output
    g = nir.read(str(tmp_path / "m.nir"))
    assert float(g.metadata["dt"]) == pytest.approx(0.01) and int(g.metadata["dt_us"]) == 10_000
    net = load_netx(tiny_dense["net"])
    lif = g.nodes["lif0"]
    vd = net.layers[0].neuron.dv / 4096
    assert float(np.ravel(lif.tau_mem)[0]) == pytest.approx(0.01 / vd)  # time constants for 10 ms
    r = run(main, ["export", str(tmp_path / "m.nir"), "-o", str(tmp_path / "via_nir.net")])
    assert r.exit_code == 0, r.output
    assert "nan" not in r.output
    table = [l.split() for l in r.output.splitlines() if l.startswith("layer")]
    col = table[0].index("zero") - 4  # header words "float w range", "w range", "rel err"
    direct = tiny_dense["report"].layers
    assert [float(row[col]) for row in table[1:]] == [round(q.zero_fraction, 2) for q in direct]
    meta = read_meta(tmp_path / "via_nir.net")
    assert (meta["dt_us"], meta["num_steps"], meta["time_origin"]) == (10_000, 30, "zero")
    via = load_netx(tmp_path / "via_nir.net")
    for a, b in zip(net.layers, via.layers):
        assert np.array_equal(a.weight, b.weight) and (a.neuron.du, a.neuron.dv, a.neuron.vth) == (
            b.neuron.du,
            b.neuron.dv,
            b.neuron.vth,
        )
    outs = []
    for path in (tiny_dense["net"], tmp_path / "via_nir.net"):
        r = run(main, ["evaluate", str(path), "--limit", "60", "--json"])
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        outs.append((d["accuracy"], d["dt_us"], d["steps"], d["time_origin"], d["layers"]))
    assert outs[0] == outs[1]


def test_export_nir_refuses_another_dt(tiny_dense, tmp_path):
    r = CliRunner().invoke(
        main, ["export", str(tiny_dense["ckpt"]), "--target", "nir", "--dt", "0.001", "-o", str(tmp_path / "m.nir")]
    )
    assert r.exit_code == 2 and "10000 us" in r.output
    assert not (tmp_path / "m.nir").exists()


def test_replay_camera_clock_needs_first_event(fixtures, tmp_path):
    """A recording on a camera clock (AEDAT4: Unix microseconds) binned from t = 0 is an
    error naming the fix, not billions of empty steps; with first-event it replays."""
    from neuro_deploy.netx.writer import cuba_neuron, write_netx

    f = need(fixtures / "events" / "formats" / "aedat4_dvxplorer_320x240_tonic_sample.aedat4")
    rng = np.random.default_rng(0)
    write_netx(
        tmp_path / "n.net",
        [
            {
                "type": "dense",
                "weight": rng.integers(-20, 40, (10, 2 * 30 * 30)) * 2,
                "neuron": cuba_neuron(1024, 256, 60),
            }
        ],
    )
    base = [
        "replay",
        str(tmp_path / "n.net"),
        str(f),
        "--dt-us",
        "20000",
        "--crop",
        "0,0,240,240",
        "--downsample",
        "0.125",
        "--json",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = CliRunner().invoke(main, base)
        assert r.exit_code == 2 and "first-event" in r.output
        r = CliRunner().invoke(main, base + ["--time-origin", "first-event"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["time_origin"] == "first-event" and 28 <= d["samples"][0]["steps"] <= 30  # 0.59 s / 20 ms
