"""Activity counts, the cost model (hand-checked) and the report in every format."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.energy.cost import estimate_cost
from neuro_deploy.energy.counts import count_activity, lava_to_trains
from neuro_deploy.hardware import load_profile
from neuro_deploy.hardware.fit import fit_network
from neuro_deploy.netx import load_netx
from neuro_deploy.netx.writer import cuba_neuron, write_netx
from neuro_deploy.sim import RunSpec, run_network
from neuro_deploy.sim.fast import source_spikes


def _tiny_net(tmp_path):
    # 2 inputs -> 1 neuron; only input 0 has a synapse. iDecay=4096 (u = input each step),
    # vDecay=4096 (v = u each step), vth=1: the neuron spikes whenever it receives input.
    write_netx(
        tmp_path / "h.net", [{"type": "dense", "weight": np.array([[10, 0]]), "neuron": cuba_neuron(4096, 4096, 1)}]
    )
    return load_netx(tmp_path / "h.net")


def _counts(net, spec, backend="fast"):
    res = run_network(net, spec, backend)
    trains = res.extra.get("trains") or lava_to_trains(net, res.spikes)
    return count_activity(net, trains, source_spikes(spec, net, spec.steps), spec.input_bias)


def test_counts_hand_checked(tmp_path):
    net = _tiny_net(tmp_path)
    x = np.zeros((1, 2, 5), dtype=np.int32)
    x[0, :, :4] = 1  # both inputs spike at steps 1..4
    c = _counts(net, RunSpec(steps=5, inputs=x))[0]
    assert c.synops.tolist() == [1, 1, 1, 1, 0]  # the zero weight is not a synapse
    assert c.input_spikes.tolist() == [2, 2, 2, 2, 0]
    assert c.output_spikes.tolist() == [0, 1, 1, 1, 1]
    assert c.neuron_updates == 5 and c.active_updates == 4


def test_energy_is_counts_times_profile_costs(tmp_path):
    net = _tiny_net(tmp_path)
    x = np.zeros((1, 2, 5), dtype=np.int32)
    x[0, :, :4] = 1
    prof = load_profile("loihi2")
    cost = estimate_cost(net, _counts(net, RunSpec(steps=5, inputs=x)), fit_network(net, prof), prof)
    c = prof.costs
    dyn_pj = (
        4 * c.e_synop_pj + 4 * c.e_neuron_update_active_pj + 1 * c.e_neuron_update_idle_pj + 4 * c.e_spike_in_core_pj
    )
    assert cost.dynamic_energy_uj == pytest.approx(dyn_pj * 1e-6, rel=1e-12)
    t_upd = 0.8 * c.t_neuron_update_active_ns + 0.2 * c.t_neuron_update_idle_ns
    work = [c.t_synop_ns + t_upd, *[c.t_synop_ns + t_upd + c.t_spike_out_ns] * 3, t_upd + c.t_spike_out_ns]
    latency_ns = sum(work) + 5 * c.t_barrier_ns
    assert cost.latency_us == pytest.approx(latency_ns / 1e3, rel=1e-12)
    assert cost.static_energy_uj == pytest.approx(c.static_power_w_per_chip * latency_ns / 1e3, rel=1e-12)
    assert cost.energy_per_inference_uj == pytest.approx(cost.dynamic_energy_uj + cost.static_energy_uj)
    assert cost.edp_uj_us == pytest.approx(cost.energy_per_inference_uj * cost.latency_us)
    assert cost.ann_comparison["macs_per_step"] == 2


def test_changing_the_profile_changes_the_result(tmp_path):
    net = _tiny_net(tmp_path)
    x = np.zeros((1, 2, 5), dtype=np.int32)
    x[0, :, :4] = 1
    data = yaml.safe_load(open(load_profile("loihi2").path))
    data["costs"]["e_synop_pj"]["value"] = 2 * data["costs"]["e_synop_pj"]["value"]
    data["costs"]["static_power_w_per_chip"]["value"] = 0.0
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(data))
    base, alt = load_profile("loihi2"), load_profile(p)
    counts = _counts(net, RunSpec(steps=5, inputs=x))
    a = estimate_cost(net, counts, fit_network(net, base), base)
    b = estimate_cost(net, counts, fit_network(net, alt), alt)
    assert b.dynamic_energy_uj - a.dynamic_energy_uj == pytest.approx(4 * base.costs.e_synop_pj * 1e-6)
    assert b.static_energy_uj == 0 and a.static_energy_uj > 0
    l1 = load_profile("loihi1")
    c = estimate_cost(net, counts, fit_network(net, l1), l1)
    assert c.latency_us > a.latency_us  # Loihi 1 neuron updates are slower


def test_counts_equal_on_lava_and_fast(fixtures, tiny_dense):
    d = need(fixtures / "lava-dl" / "tinynet")
    net = load_netx(d / "tiny.net")
    spec = RunSpec(steps=16, input_bias=np.load(d / "input_bias.npy"))
    assert [c.totals() for c in _counts(net, spec, "fast")] == [c.totals() for c in _counts(net, spec, "lava")]
    from neuro_deploy.netx.export import encode_for_net

    net = load_netx(tiny_dense["net"])
    x = encode_for_net(net, tiny_dense["x"][:2])
    spec = RunSpec(steps=x.shape[-1] + 2, inputs=x)
    fa, la = _counts(net, spec, "fast"), _counts(net, spec, "lava")
    for a, b in zip(fa, la):
        assert a.totals() == b.totals()
        assert (a.synops == b.synops).all() and (a.synops_per_sample == b.synops_per_sample).all()


def test_report_json_contract(fixtures, tmp_path):
    d = need(fixtures / "lava-dl" / "tinynet")
    np.save(tmp_path / "b.npy", np.load(d / "input_bias.npy"))
    r = CliRunner().invoke(
        main, ["report", str(d / "tiny.net"), "--input-bias", str(tmp_path / "b.npy"), "--steps", "16", "--json"]
    )
    assert r.exit_code == 0, r.output
    o = json.loads(r.stdout)
    for k in (
        "synops",
        "neuron_updates",
        "spikes",
        "energy_per_inference_uj",
        "dynamic_energy_uj",
        "static_energy_uj",
        "time_per_step_us",
        "latency_us",
        "cores",
        "accuracy",
        "layers",
    ):
        assert k in o
    assert o["accuracy"] is None and o["cores"] == 3 and isinstance(o["energy_per_inference_uj"], float)
    assert o["energy_per_inference_uj"] == pytest.approx(o["dynamic_energy_uj"] + o["static_energy_uj"])
    assert sum(l["dynamic_energy_uj"] for l in o["layers"]) == pytest.approx(o["dynamic_energy_uj"])
    assert o["assumptions"] and o["ann_comparison"]["references"]


def test_report_compare_and_markdown(tiny_dense, tmp_path):
    net = str(tiny_dense["net"])
    r = CliRunner().invoke(main, ["report", net, net, "--dataset", "digits", "--limit", "20", "--json"])
    assert r.exit_code == 0, r.output
    o = json.loads(r.stdout)
    assert len(o["models"]) == 2 and o["comparison"][0]["accuracy"] == o["comparison"][1]["accuracy"]
    assert len(o["models"][0]["accuracy_vs_step"]) > 5
    r = CliRunner().invoke(
        main, ["report", net, "--dataset", "digits", "--limit", "10", "--format", "md", "-o", str(tmp_path / "r.md")]
    )
    assert r.exit_code == 0, r.output
    text = (tmp_path / "r.md").read_text()
    assert "| energy / inference (uJ) |" in text and "### Assumptions" in text


def test_report_workload_errors(tiny_dense):
    r = CliRunner().invoke(main, ["report", str(tiny_dense["net"])])
    assert r.exit_code == 2 and "exactly one workload" in r.output


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_report_renders_in_chromium(fixtures, tiny_dense, tmp_path):
    d = need(fixtures / "events" / "nmnist")
    out = tmp_path / "report.html"
    r = CliRunner().invoke(
        main,
        [
            "report",
            str(tiny_dense["net"]),
            "--recordings",
            str(d / "train" / "1.bin"),
            "--recordings",
            str(d / "train" / "2.bin"),
            "--labels",
            str(d / "train_labels.txt"),
            "--dt-us",
            "10000",
            "--format",
            "html",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert page.count("data:image/png;base64,") >= 4 and "http" not in page.split("<body>")[1][:200]
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium)")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            f"file://{out}",
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape[0] >= 1000 and img.std() > 10  # a real page, not a blank one


def _pilotnet_frames(steps: int) -> np.ndarray:
    """A smooth scene panning 2 px per frame, 0..255: netx input layout (W, H, C, T)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    scene = gaussian_filter(rng.random((3, 66, 200 + 2 * steps)), (0, 4, 4))
    scene = (scene - scene.min()) / (scene.max() - scene.min()) * 255
    frames = np.stack([scene[:, :, 2 * t : 2 * t + 200] for t in range(steps)], -1)
    return np.transpose(frames, (2, 1, 0, 3)).astype(np.int32)


def test_pilotnet_report_on_one_chip_mj_per_frame(tmp_path, fixtures):
    """Intel's PilotNet SDNN driven by frames (input on the host as in its benchmark): one chip,
    energy per frame in the millijoule range, time per step in the tens to hundreds of us, with
    the uncertainty band around both, the per-core table and the fit summary in the report."""
    pn = need(fixtures / "lava-dl/pilotnet_sdnn/network.net")
    steps = 16
    np.save(tmp_path / "frames.npy", _pilotnet_frames(steps))
    r = CliRunner().invoke(
        main,
        ["report", str(pn), "--input", str(tmp_path / "frames.npy"), "--steps", str(steps), "--skip-input", "--json"],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["fits"] and d["cores"] == 61 and d["chips"] == 1 and d["fits_summary"] == "fits on 61 cores of 1 chip(s)"
    per_frame_mj = d["energy_per_inference_uj"] / steps / 1e3
    assert 0.05 < per_frame_mj < 5, per_frame_mj
    assert 10 < d["time_per_step_us"] < 1000
    for key in ("energy_per_inference_uj", "dynamic_energy_uj", "time_per_step_us"):
        lo, hi = d[key + "_band"]
        assert lo < d[key] <= hi * (1 + 1e-12)
    assert "e_synop_pj" in d["band_basis"]
    # every message is counted under the mapping: far fewer than one per spike and next-layer core
    l1 = next(l for l in d["layers"] if l["name"] == "layer1")
    assert l1["messages"] < 2 * l1["spikes"] and l1["tile"] == [4, 32, 24]
    assert {l["name"] for l in d["layers"]} == {f"layer{i}" for i in range(1, 10)}  # input on the host
    md = (
        CliRunner()
        .invoke(
            main,
            [
                "report",
                str(pn),
                "--input",
                str(tmp_path / "frames.npy"),
                "--steps",
                str(steps),
                "--skip-input",
                "--format",
                "md",
            ],
        )
        .output
    )
    assert "Per-core mapping" in md and "| layer1 | 2 | 1 | 3072 | 81 |" in md and "band" in md


def test_band_collapses_without_ranges(tmp_path):
    net = _tiny_net(tmp_path)
    data = yaml.safe_load(open(load_profile("loihi2").path))
    for v in data["costs"].values():
        v.pop("range", None)
    p = tmp_path / "flat.yaml"
    p.write_text(yaml.safe_dump(data))
    prof = load_profile(p)
    x = np.zeros((1, 2, 5), dtype=np.int32)
    x[0, :, :4] = 1
    cost = estimate_cost(net, _counts(net, RunSpec(steps=5, inputs=x)), fit_network(net, prof), prof)
    assert cost.energy_per_inference_uj_band == [cost.energy_per_inference_uj] * 2
    assert "no band" in cost.band_basis
