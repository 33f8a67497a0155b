"""NIR import/export: every supported node, fast == lava, errors, round trips, norse."""

from __future__ import annotations

import numpy as np
import pytest

from neuro_deploy.errors import BadInputError, UnsupportedLayerError
from neuro_deploy.netx import load_netx
from neuro_deploy.nir import NirImportConfig, nir_to_netx
from neuro_deploy.nir.fidelity import fidelity
from test_backends import assert_identical
from neuro_deploy.sim import RunSpec

pytestmark = pytest.mark.train  # trains norse / SLAYER models

nir = pytest.importorskip("nir")
DT = 1e-3


def _full(n, v):
    return np.full(n, float(v))


def dense_graph(rng, neuron="CubaLIF", delay=False, linear=False):
    n_in, n_h, n_out = 24, 16, 6
    neurons = {
        "CubaLIF": lambda n: nir.CubaLIF(
            tau_syn=_full(n, 5e-3),
            tau_mem=_full(n, 1e-2),
            r=_full(n, 10),
            v_leak=_full(n, 0),
            v_threshold=_full(n, 1.0),
        ),
        "LIF": lambda n: nir.LIF(tau=_full(n, 1e-2), r=_full(n, 10), v_leak=_full(n, 0), v_threshold=_full(n, 1.0)),
        "IF": lambda n: nir.IF(r=_full(n, 1.0), v_threshold=_full(n, 1.0)),
    }[neuron]
    nodes = {"in": nir.Input({"input": np.array([n_in])})}
    edges = []
    prev = "in"
    if delay:
        nodes["d"] = nir.Delay(rng.integers(0, 5, n_in) * DT)
        edges.append((prev, "d"))
        prev = "d"
    nodes["fc1"] = (
        nir.Linear(rng.normal(0, 0.8, (n_h, n_in)))
        if linear
        else nir.Affine(rng.normal(0, 0.8, (n_h, n_in)), rng.normal(0, 0.05, n_h))
    )
    nodes["n1"] = neurons(n_h)
    nodes["fc2"] = nir.Affine(rng.normal(0, 0.8, (n_out, n_h)), np.zeros(n_out))
    nodes["n2"] = neurons(n_out)
    nodes["out"] = nir.Output({"output": np.array([n_out])})
    edges += [(prev, "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def conv_graph(rng, pool="SumPool2d"):
    pooling = getattr(nir, pool)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    nodes = {
        "in": nir.Input({"input": np.array([2, 12, 12])}),
        "c1": nir.Conv2d(
            input_shape=(12, 12),
            weight=rng.normal(0, 0.6, (4, 2, 3, 3)),
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=np.zeros(4),
        ),
        "n1": nir.LIF(
            tau=_full((4, 12, 12), 1e-2),
            r=_full((4, 12, 12), 10),
            v_leak=_full((4, 12, 12), 0),
            v_threshold=_full((4, 12, 12), 1.0),
        ),
        "p": pooling,
        "c2": nir.Conv2d(
            input_shape=(6, 6),
            weight=rng.normal(0, 0.6, (6, 4, 3, 3)),
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            bias=np.zeros(6),
        ),
        "n2": nir.IF(r=_full((6, 4, 4), 1.0), v_threshold=_full((6, 4, 4), 1.0)),
        "p2": getattr(nir, pool)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "f": nir.Flatten({"input": np.array([6, 2, 2])}, start_dim=0),
        "fc": nir.Affine(rng.normal(0, 0.6, (5, 24)), np.zeros(5)),
        "n3": nir.LI(tau=_full(5, 1e-2), r=_full(5, 1.0), v_leak=_full(5, 0)),
        "out": nir.Output({"output": np.array([5])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


@pytest.mark.parametrize(
    "case",
    [dict(neuron="CubaLIF"), dict(neuron="LIF", linear=True), dict(neuron="IF"), dict(neuron="CubaLIF", delay=True)],
)
def test_dense_nodes_convert_and_run_identically(tmp_path, case):
    rng = np.random.default_rng(1)
    g = dense_graph(rng, **case)
    rep = nir_to_netx(g, tmp_path / "n.net", NirImportConfig(dt=DT))
    net = load_netx(tmp_path / "n.net")
    assert len(net.layers) == 2 and all(m.weight_rel_error < 0.05 for m in rep.layers)
    x = (rng.random((2, 24, 40)) < 0.3).astype(np.int32)
    assert_identical(net, RunSpec(steps=42, inputs=x))
    f = fidelity(g, str(tmp_path / "n.net"), (rng.random((6, 24, 60)) < 0.3).astype(np.int32), DT)
    assert min(f.layer_count_agreement) > 0.8


@pytest.mark.parametrize("pool", ["SumPool2d", "AvgPool2d"])
def test_conv_pool_flatten_li_convert_and_run_identically(tmp_path, pool):
    rng = np.random.default_rng(2)
    g = conv_graph(rng, pool)
    rep = nir_to_netx(g, tmp_path / "c.net", NirImportConfig(dt=DT))
    net = load_netx(tmp_path / "c.net")
    assert [l.kind for l in net.layers] == ["conv", "conv", "dense"]
    assert net.layers[1].stride == (2, 2) and net.layers[1].weight.shape[2:] == (6, 6)  # pool folded
    assert rep.layers[-1].vth_mant == 2**17 - 1  # LI: no spikes
    x = (rng.random((2, 12, 12, 2, 20)) < 0.3).astype(np.int32)
    assert_identical(net, RunSpec(steps=24, inputs=x))


def test_pool_folding_is_exact_in_float():
    """conv(pool(x)) == conv'(x) with the folded kernel: the float NIR reference agrees."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((1, 2, 8, 8)))
    w = torch.from_numpy(rng.normal(0, 1, (3, 2, 3, 3)))
    ref = F.conv2d(F.avg_pool2d(x, 2) * 4, w)
    folded = F.conv2d(x, w.repeat_interleave(2, 2).repeat_interleave(2, 3), stride=2)
    assert torch.allclose(ref, folded)


def test_unsupported_nodes_and_graphs_fail_cleanly(tmp_path):
    rng = np.random.default_rng(0)
    g = dense_graph(rng)
    g.nodes["n1"] = nir.Threshold(np.ones(16))
    with pytest.raises(UnsupportedLayerError) as exc:
        nir_to_netx(g, tmp_path / "x.net")
    assert "n1" in str(exc.value) and "Threshold" in str(exc.value) and "CubaLIF" in str(exc.value)
    g = dense_graph(rng)
    g.edges.append(("n2", "fc1"))  # recurrence
    with pytest.raises(UnsupportedLayerError, match="feed-forward|cycle|not feed"):
        nir_to_netx(g, tmp_path / "x.net")
    g = dense_graph(rng, neuron="LIF")
    g.nodes["n1"] = nir.LIF(
        tau=_full(16, 1e-2), r=_full(16, 1), v_leak=_full(16, 0), v_threshold=_full(16, 1), v_reset=_full(16, 0.5)
    )
    with pytest.raises(UnsupportedLayerError, match="v_reset"):
        nir_to_netx(g, tmp_path / "x.net")
    with pytest.raises(BadInputError, match="not found"):
        nir_to_netx(tmp_path / "missing.nir", tmp_path / "x.net")
    assert not (tmp_path / "x.net").exists()


def test_slayer_nir_netx_round_trip_is_exact(tiny_dense, tiny_conv, tmp_path):
    from neuro_deploy.api import export as export_model

    for model in (tiny_dense, tiny_conv):
        export_model(model["ckpt"], tmp_path / "m.nir", target="nir")
        g = nir.read(str(tmp_path / "m.nir"), type_check=False)
        assert any(isinstance(n, nir.CubaLIF) for n in g.nodes.values())
        export_model(tmp_path / "m.nir", tmp_path / "back.net", verify_inputs=model["x"][:4])
        a, b = load_netx(model["net"]), load_netx(tmp_path / "back.net")
        assert [l.kind for l in a.layers] == [l.kind for l in b.layers]
        for la, lb in zip(a.layers, b.layers):
            assert (la.weight == lb.weight).all() and la.neuron == lb.neuron
            assert la.stride == lb.stride and la.padding == lb.padding


def test_norse_trained_model_deploys(digits, tmp_path):
    """norse -> NIR (norse's exporter, 0-d parameters, its tau units fixed) -> netx -> fast,
    deployed accuracy within 5 points of the float norse accuracy."""
    from neuro_deploy.models.norse_model import NorseConfig, evaluate_norse, norse_to_nir, train_norse
    from neuro_deploy.api import export as export_model
    from neuro_deploy.nir.io import write_nir
    from neuro_deploy.sim.evaluate import evaluate_deployed

    tr, va = digits.split(0.2, 0)
    tr = tr.subset(np.arange(600))
    x_tr, x_va = tr.to_tensors(10_000, 30), va.to_tensors(10_000, 30)
    cfg = NorseConfig(hidden=(64,), epochs=3, progress=False)
    res = train_norse(cfg, x_tr, tr.labels)
    acc, out = evaluate_norse(res.model, x_va, va.labels)
    assert acc > 0.3
    g = norse_to_nir(res.model, cfg)
    write_nir(g, tmp_path / "n.nir")  # nir.write alone fails on 0-d params
    rep = export_model(tmp_path / "n.nir", tmp_path / "n.net", dt=cfg.dt, verify_inputs=np.zeros((0,)))
    assert [m["v_decay"] for m in rep.nir["conversion"]["layers"]] == [410, 410]  # tau 10 ms at dt 1 ms
    dep = evaluate_deployed(load_netx(tmp_path / "n.net"), x_va, va.labels)
    assert abs(dep.accuracy - acc) <= 0.05
    f = fidelity(
        g, str(tmp_path / "n.net"), x_va[:40].reshape(40, -1, 30).astype(np.int32), cfg.dt, source_output=out[:, :40]
    )
    assert f.class_agreement >= 0.9
