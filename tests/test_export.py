"""Export: a trained model's netx file loads in lava-dl and runs in Lava; errors are typed."""

from __future__ import annotations

import numpy as np
import pytest

from neuro_deploy.errors import CheckpointError, UnknownNameError
from neuro_deploy.netx import load_netx
from neuro_deploy.api import export as export_model


def test_export_loads_in_lava_dl_netx_and_runs_in_lava(tiny_dense):
    """The written file through lava-dl's own netx.hdf5.Network in Loihi2SimCfg(fixed_pt)."""
    from neuro_deploy.netx.export import encode_for_net
    from neuro_deploy.sim.lava import import_lava

    netx, io, RunSteps, Loihi2SimCfg = import_lava()
    net = netx.hdf5.Network(net_config=str(tiny_dense["net"]))
    assert len(net) == 2 and net.inp.shape == (2 * 34 * 34,) and net.out.shape == (10,)
    x = encode_for_net(load_netx(tiny_dense["net"]), tiny_dense["x"][:1])[0].astype(np.int32)
    steps = x.shape[-1] + 2
    src = io.source.RingBuffer(data=np.concatenate([x, np.zeros((x.shape[0], 2), np.int32)], -1))
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=steps)
    src.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get()
    finally:
        net.stop()
    assert out.shape == (10, steps) and out.sum() > 0


def test_export_report_has_quantization_and_agreement(tiny_dense):
    rep = tiny_dense["report"]
    assert [q.name for q in rep.layers] == ["layer0", "layer1"]
    for q in rep.layers:
        assert -256 <= q.weight_int_min <= q.weight_int_max <= 254
        assert q.weight_rmse >= 0 and 0 <= q.zero_fraction <= 1
        # threshold scaled with the layer's weights (issue 13): vThMant = threshold * 2**e
        assert q.i_decay == round(0.25 * 4096) and q.vth_mant == int(1.25 * 2**q.weight_exponent)
        assert q.exponent_limited_by == "trained" and q.state_peak_bits < 24
    a = rep.agreement
    assert a.samples == 8 and 0.0 <= a.class_agreement <= 1.0
    # the default recipe ends in QAT with the export's quantizer: float == deployed, spike for spike
    assert a.class_agreement == 1.0 and a.output_count_exact == 1.0


def test_deployed_accuracy_close_to_float(tiny_dense):
    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.models.slayer_model import evaluate
    from neuro_deploy.sim.evaluate import evaluate_deployed

    model, _, _ = load_checkpoint(tiny_dense["ckpt"])
    x, y = tiny_dense["x"][:200], tiny_dense["y"][:200]
    fl, _ = evaluate(model, x, y)
    dep = evaluate_deployed(load_netx(tiny_dense["net"]), x, y, "fast")
    assert fl > 0.3  # it learned something in 2 epochs
    assert abs(fl - dep.accuracy) <= 0.05


def test_conv_export_reads_back(tiny_conv):
    net = load_netx(tiny_conv["net"])
    assert [l.kind for l in net.layers] == ["conv", "conv", "dense"]
    assert net.layers[2].flatten_input
    assert tiny_conv["report"].agreement.samples == 4


def test_export_errors_leave_no_file(tmp_path, tiny_dense):
    out = tmp_path / "x.net"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        export_model(bad, out)
    with pytest.raises(CheckpointError, match="not found"):
        export_model(tmp_path / "missing.pt", out)
    with pytest.raises(UnknownNameError, match="loihi2-sim"):
        export_model(tiny_dense["ckpt"], out, target="loihi3")
    assert not out.exists() and not list(tmp_path.glob(".x.net*"))
