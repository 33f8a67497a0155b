"""Per-layer weight scaling (issue 13): one quantizer for QAT and export; float == deployed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.models import load_checkpoint
from neuro_deploy.models.quantize import QuantSpec, bits_used, choose_exponent, exponent_limits, quantize_array
from neuro_deploy.netx import load_netx
from neuro_deploy.api import export as export_model
from neuro_deploy.sim.evaluate import evaluate_deployed
from neuro_deploy.sim.float_model import float_net, load_network

pytestmark = pytest.mark.train  # QAT training and exports of trained models


def test_profile_limits_are_the_quantizer_defaults():
    from neuro_deploy.hardware.profile import load_profile

    assert load_profile("loihi2").quant_spec() == QuantSpec()
    q = QuantSpec()
    assert (q.weight_mant_min, q.weight_mant_max, q.threshold_mant_max) == (-256, 254, 2**17 - 1)


@pytest.mark.parametrize("wmax", [0.003, 0.05, 0.1, 0.7, 3.0])
def test_range_exponent_spans_the_mantissa_without_clipping(wmax):
    """Without other limits the largest |w| lands in (127, 254]: 8 bits used, none clipped."""
    spec = QuantSpec(threshold_mant_bits=40, state_bits=60)
    rng = np.random.default_rng(1)
    w = rng.uniform(-wmax, wmax, (30, 40))
    w.flat[0] = wmax
    e = choose_exponent(w, 0.01, spec, state_peak=0.01)
    q = quantize_array(w, e, spec)
    assert 127 < np.abs(q).max() <= 254 and bits_used(q) == 8
    assert np.all(np.abs(w * 2.0**e - q) <= 1.0)  # rounding only, no clipping
    assert exponent_limits(w, 0.01, spec, 0.01)["range"] == e


def test_state_and_threshold_limits_bind():
    spec = QuantSpec()
    w = np.full((4, 4), 1e-4)
    lim = exponent_limits(w, 1.25, spec, state_peak=100.0)  # v reaches 80 thresholds
    e = choose_exponent(w, 1.25, spec, state_peak=100.0)
    assert e == lim["state"] < lim["range"]
    assert 100.0 * 2.0 ** (e + 6 + spec.state_margin_bits) <= 2**23 - 1
    assert int(1.25 * 2**e) < 2**12  # SLAYER float32 test stays exact


def _legacy_checkpoint(src, dst):
    """Rewrite a checkpoint as version 1 wrote it (no quantization entries): its weights
    rounded at SLAYER's fixed 2**6 in every forward pass."""
    payload = torch.load(src, map_location="cpu", weights_only=False)
    for k in ("quant_mode", "quant_exponents", "state_peaks"):
        payload["state_dict"].pop(k)
    payload.pop("quantization")
    payload["version"] = 1
    torch.save(payload, dst)


def test_version1_checkpoint_loads_and_new_scaling_preserves_it(tiny_dense, tmp_path):
    _legacy_checkpoint(tiny_dense["ckpt"], tmp_path / "old.pt")
    model, _, _ = load_checkpoint(tmp_path / "old.pt")
    assert model.quantization == ("slayer", [6, 6])
    x, y = tiny_dense["x"][:48], tiny_dense["y"][:48]
    old = export_model(tmp_path / "old.pt", tmp_path / "old_slayer.net", scaling="slayer", verify_inputs=x[:8])
    new = export_model(tmp_path / "old.pt", tmp_path / "old_auto.net", verify_inputs=x[:8])
    assert [q.weight_exponent for q in old.layers] == [6, 6]
    assert old.agreement.output_count_exact == 1.0  # the old export was exact at 2**6
    n_old, n_new = load_netx(tmp_path / "old_slayer.net"), load_netx(tmp_path / "old_auto.net")
    for q, lo, ln in zip(new.layers, n_old.layers, n_new.layers):
        e = q.weight_exponent
        assert e > 6 and q.exponent_limited_by in ("range", "state", "float32")
        # the same weights and threshold, scaled together by 2**(e-6)
        assert np.array_equal(ln.weight, lo.weight * 2 ** (e - 6))
        assert ln.neuron.vth == lo.neuron.vth * 2 ** (e - 6) and q.weight_rel_error == 0.0
        assert q.weight_bits_used > bits_used(lo.weight)
    fl = evaluate_deployed(load_network(tmp_path / "old.pt"), x, y, "float")
    dep = evaluate_deployed(n_new, x, y, "fast")
    assert np.mean(fl.predictions == dep.predictions) >= 0.95  # only the decays' rounding is finer
    assert abs(fl.accuracy - dep.accuracy) <= 0.05


@pytest.mark.parametrize("e", [6, 8, 10])
def test_model_at_any_scale_is_bit_exact_with_its_export(tiny_dense, tmp_path, e):
    """The torch model quantized at 2**e computes exactly what the netx file at 2**e does."""
    from neuro_deploy.models.slayer_model import deployable

    model, _, _ = load_checkpoint(tiny_dense["ckpt"])
    dep = deployable(model, [e, e])
    dep.export_hdf5(tmp_path / "m.net")
    x = tiny_dense["x"][:24]
    a = evaluate_deployed(float_net(dep), x, None, "float")
    b = evaluate_deployed(load_netx(tmp_path / "m.net"), x, None, "fast")
    assert np.array_equal(a.output_counts, b.output_counts) and a.output_counts.sum() > 0
    assert [c.totals() for c in a.counts] == [c.totals() for c in b.counts]


def test_qat_tiny_model_float_equals_deployed(digits, tmp_path):
    from neuro_deploy.models import ModelConfig, TrainConfig, save_checkpoint, train_model
    from neuro_deploy.models.slayer_model import evaluate

    cfg = ModelConfig(hidden=(16,), dt_us=20_000, num_steps=15)
    sub = digits.subset(np.arange(150))
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    res = train_model(cfg, TrainConfig(epochs=2, qat_epochs=2, progress=False), x[:100], sub.labels[:100])
    mode, exps = res.model.quantization
    assert mode == "qat" and all(h["quantization"] == "qat" for h in res.history)
    save_checkpoint(res, cfg, tmp_path / "q.pt")
    rep = export_model(tmp_path / "q.pt", tmp_path / "q.net", verify_inputs=x[100:108])
    assert [q.weight_exponent for q in rep.layers] == exps and rep.quantization == "qat"
    assert all(q.weight_rel_error == 0.0 for q in rep.layers)  # weights already on the grid
    fl = evaluate_deployed(load_network(tmp_path / "q.pt"), x[100:], sub.labels[100:], "float")
    dep = evaluate_deployed(load_netx(tmp_path / "q.net"), x[100:], sub.labels[100:], "fast")
    assert np.array_equal(fl.output_counts, dep.output_counts) and fl.output_counts.sum() > 0
    assert fl.accuracy == dep.accuracy
    # the models-level evaluate() runs the same steps: one answer for "float accuracy"
    acc, counts = evaluate(load_checkpoint(tmp_path / "q.pt")[0], x[100:], sub.labels[100:])
    assert acc == fl.accuracy and np.array_equal(counts, fl.output_counts)


def test_default_recipe_ends_in_qat_and_float_training_is_possible(digits):
    from neuro_deploy.models import ModelConfig, TrainConfig, train_model

    cfg = ModelConfig(hidden=(8,), dt_us=20_000, num_steps=10)
    sub = digits.subset(np.arange(40))
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    assert TrainConfig(epochs=10).qat_epoch_count() == 2 and TrainConfig(epochs=1).qat_epoch_count() == 1
    res = train_model(cfg, TrainConfig(epochs=3, qat_epochs=1, progress=False), x, sub.labels)
    assert [h["quantization"] for h in res.history] == ["float", "float", "qat"]
    res = train_model(cfg, TrainConfig(epochs=1, qat_epochs=0, progress=False), x, sub.labels)
    assert res.model.quantization[0] == "float" and float(res.model.state_peaks.min()) > 0


def test_replay_checkpoint_runs_float_with_the_same_keys(fixtures, tiny_dense, tmp_path):
    d = need(fixtures / "events" / "nmnist")
    files = [str(d / "train" / f"{i}.bin") for i in range(1, 4)]
    labels = str(d / "train_labels.txt")
    out = {}
    for name, path in (("pt", tiny_dense["ckpt"]), ("net", tiny_dense["net"])):
        r = CliRunner().invoke(main, ["replay", str(path), *files, "--dt-us", "10000", "--labels", labels, "--json"])
        assert r.exit_code == 0, r.output
        out[name] = json.loads(r.stdout)
    assert out["pt"]["backend"] == "float" and out["net"]["backend"] == "fast"
    assert sorted(out["pt"]) == sorted(out["net"])
    assert sorted(out["pt"]["samples"][0]) == sorted(out["net"]["samples"][0])
    # a QAT checkpoint and its export: the same spikes, recording by recording
    assert [s["output_counts"] for s in out["pt"]["samples"]] == [s["output_counts"] for s in out["net"]["samples"]]
    r = CliRunner().invoke(main, ["replay", str(tiny_dense["ckpt"]), *files, "--dt-us", "10000", "--backend", "lava"])
    assert r.exit_code == 2 and "checkpoint" in r.output


def test_export_check_prints_float_vs_deployed(fixtures, tiny_dense, tmp_path):
    d = need(fixtures / "events" / "nmnist")
    rec = tmp_path / "rec"
    rec.mkdir()
    for i in range(1, 5):
        (rec / f"{i}.bin").write_bytes((d / "train" / f"{i}.bin").read_bytes())
    labels = str(d / "train_labels.txt")
    out = tmp_path / "m.net"
    r = CliRunner().invoke(
        main, ["export", str(tiny_dense["ckpt"]), "-o", str(out), "--check", str(rec), "--labels", labels]
    )
    assert r.exit_code == 0, r.output
    assert "check on 4 recordings (4 labelled, dt 10000 us): float accuracy" in r.output
    assert "same prediction 1.0000, identical output counts 1.0000" in r.output
    assert " exp " in r.output and "bits" in r.output and out.exists()
    r = CliRunner().invoke(
        main,
        [
            "export",
            str(tiny_dense["ckpt"]),
            "-o",
            str(tmp_path / "j.net"),
            "--check",
            str(rec),
            "--labels",
            labels,
            "--json",
        ],
    )
    c = json.loads(r.stdout)["check"]
    assert c["samples"] == 4 and c["prediction_agreement"] == 1.0 and c["accuracy_drop_points"] == 0.0
    # bad check input: typed error, exit 2, nothing written
    r = CliRunner().invoke(
        main, ["export", str(tiny_dense["ckpt"]), "-o", str(tmp_path / "n.net"), "--check", str(tmp_path / "missing")]
    )
    assert r.exit_code == 2 and "missing" in r.output and not (tmp_path / "n.net").exists()


def test_evaluate_checkpoint_is_float_on_the_deployed_inputs(tiny_dense):
    runs = {}
    for name in ("ckpt", "net"):
        r = CliRunner().invoke(main, ["evaluate", str(tiny_dense[name]), "--limit", "40", "--json"])
        assert r.exit_code == 0, r.output
        runs[name] = json.loads(r.stdout)
    assert runs["ckpt"]["backend"] == "float" and runs["net"]["backend"] == "fast"
    assert runs["ckpt"]["steps"] == runs["net"]["steps"] == 30
    assert runs["ckpt"]["accuracy"] == runs["net"]["accuracy"]  # QAT: by construction
    assert runs["ckpt"]["layers"] == runs["net"]["layers"]
