"""The main job end to end on the embedded data (short settings)."""

from __future__ import annotations

import json

import pytest

from neuro_deploy.pipeline import DemoConfig, run_demo

pytestmark = [pytest.mark.lava, pytest.mark.train]  # the demo trains and runs Lava


def test_demo_end_to_end(tmp_path):
    r = run_demo(DemoConfig(out_dir=str(tmp_path), epochs=2, lava_samples=12, progress=False), log=lambda s: None)
    assert r.val_samples == 359 and r.lava_samples == 12
    assert r.float_accuracy > 0.5 and r.fast_accuracy > 0.5
    assert r.lava_accuracy is not None
    assert r.lava_fast_prediction_agreement == 1.0  # bit-exact backends
    assert r.export["lava_fast_counts_equal"] is True
    assert [l["name"] for l in r.layers] == ["layer0", "layer1"]
    assert all(l["synops"] > 0 and l["spikes"] > 0 for l in r.layers)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["schema"] == "neuro-deploy-demo/1"
    assert (tmp_path / "model.net").exists() and (tmp_path / "summary.png").stat().st_size > 1000
    # the main job ends the way the mission does: fit, energy and latency on Loihi 2, one answer
    h = r.loihi2
    assert h["fits"] and h["chips"] == 1 and h["cores"] == sum(h["cores_per_layer"].values())
    lo, hi = h["energy_per_inference_uj_band"]
    assert 0 < lo < h["energy_per_inference_uj"] < hi
    assert h["time_per_step_us"] > 0 and summary["loihi2"]["fit_summary"] == h["fit_summary"]
    from neuro_deploy.energy.cost import estimate_cost
    from neuro_deploy.hardware import load_profile
    from neuro_deploy.hardware.fit import fit_network
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim.evaluate import evaluate_deployed

    net = load_netx(tmp_path / "model.net")
    from neuro_deploy.data import load_dataset

    _, val = load_dataset("digits", progress=False).split(0.2, 0)
    ev = evaluate_deployed(net, val.to_tensors(5000, 60), val.labels, backend="fast", batch_size=64)
    prof = load_profile("loihi2")
    again = estimate_cost(net, ev.counts, fit_network(net, prof), prof)
    assert again.energy_per_inference_uj == h["energy_per_inference_uj"]  # same counts, same cost
