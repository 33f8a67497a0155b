"""fast vs lava, spike for spike on every layer: zero mismatches is the only pass."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from neuro_deploy.netx import load_netx
from neuro_deploy.netx.writer import cuba_neuron, write_netx
from neuro_deploy.sim import RunSpec, run_network

pytestmark = pytest.mark.lava  # these compare with (or run) Lava's simulator


def assert_identical(net, spec):
    fast = run_network(net, spec, "fast")
    lava = run_network(net, spec, "lava")
    assert sorted(fast.spikes) == sorted(lava.spikes) == [l.name for l in net.layers]
    total = 0
    for k in lava.spikes:
        assert fast.spikes[k].shape == lava.spikes[k].shape, k
        mismatches = int(np.count_nonzero(fast.spikes[k] != lava.spikes[k]))
        assert mismatches == 0, f"{k}: {mismatches} mismatching entries"
        total += int(np.count_nonzero(lava.spikes[k]))
    assert total > 0, "a comparison of silent networks proves nothing"
    return fast, lava


def test_tinynet_bias_driven_matches_lava_and_lava_dl_reference(fixtures):
    d = need(fixtures / "lava-dl" / "tinynet")
    net = load_netx(d / "tiny.net")
    bias = np.load(d / "input_bias.npy")
    # exactly lava-dl's test_tinynet: 17 steps per sample + len(net), reset every 17 steps
    spec = RunSpec(steps=17 + len(net), input_bias=bias, reset_interval=17)
    fast, _ = assert_identical(net, spec)
    gt = np.load(d / "output.npy")[0].transpose([2, 1, 0, 3])
    out = fast.spikes["layer2"][0]
    assert np.abs(out[..., 2:17] - gt[..., 1:]).sum() == 0
    # and without resets, plain bias drive
    assert_identical(net, RunSpec(steps=19, input_bias=bias))


def oxford_input(d, steps):
    ev = np.load(d / "input.npy")
    x = np.zeros((1, 200, steps), dtype=np.int32)
    idx, t = ev[:, 0].astype(int), ev[:, 2].astype(int)
    keep = t < steps
    x[0, idx[keep], t[keep]] = 1
    return x


def test_oxford_spike_input(fixtures):
    d = need(fixtures / "lava-dl" / "oxford")
    net = load_netx(d / "network.net")
    assert_identical(net, RunSpec(steps=300, inputs=oxford_input(d, 300)))


def _random_dense_net(path, rng, *, delays=False, edge_weights=False, decays=(1024, 123), vth=80, bias=False):
    n_in, n_h, n_out = 60, 40, 12
    w1 = rng.integers(-60, 60, (n_h, n_in)) * 2
    w2 = rng.integers(-80, 80, (n_out, n_h)) * 2
    if edge_weights:
        w1.flat[rng.choice(w1.size, 200, replace=False)] = rng.choice([-256, 254, 255, -300, 400], 200)
    l1 = {"type": "dense", "weight": w1, "neuron": cuba_neuron(decays[0], decays[1], vth)}
    if delays:
        l1["delay"] = rng.integers(0, 70, (n_h, n_in))  # > 62 is clamped by netx
    if bias:
        l1["bias"] = rng.integers(-20, 40, n_h)
    l2 = {"type": "dense", "weight": w2, "neuron": cuba_neuron(4096 - decays[0], 4096 - decays[1], vth)}
    write_netx(path, [l1, l2])
    return load_netx(path)


@pytest.mark.parametrize(
    "case",
    [
        dict(),
        dict(edge_weights=True),
        dict(decays=(0, 0), vth=400),
        dict(decays=(4096, 4096), vth=5),
        dict(decays=(4096, 0), vth=200),  # integrate-and-fire (HSD's student): du = 4095, dv = 0
        dict(vth=131071, edge_weights=True, decays=(0, 0)),
        dict(delays=True),
        dict(bias=True, decays=(2000, 300)),
    ],
)
def test_random_dense_networks(tmp_path, case):
    rng = np.random.default_rng(len(str(case)))
    net = _random_dense_net(tmp_path / "r.net", rng, **case)
    x = (rng.random((2, 60, 40)) < 0.2).astype(np.int32)
    assert_identical(net, RunSpec(steps=45, inputs=x))


def test_random_conv_network_with_input_layer(tmp_path):
    rng = np.random.default_rng(3)
    layers = [
        {"type": "input", "shape": (2, 12, 10), "neuron": cuba_neuron(4096, 0, 20)},
        {
            "type": "conv",
            "weight": rng.integers(-40, 60, (6, 2, 3, 3)) * 2,
            "stride": (2, 1),
            "padding": (1, 0),
            "dilation": (1, 2),
            "neuron": cuba_neuron(2048, 512, 30),
            "bias": rng.integers(0, 5, 6),
        },
        {
            "type": "conv",
            "weight": rng.integers(-80, 80, (4, 3, 3, 3)) * 2,
            "groups": 2,
            "neuron": cuba_neuron(1024, 128, 40),
        },
        {"type": "flatten"},
        {"type": "dense", "weight": None, "neuron": cuba_neuron(4096, 200, 10)},
    ]
    # dense weight sized after the conv stack
    tmp = tmp_path / "shape.net"
    write_netx(tmp, layers[:3])
    n_flat = load_netx(tmp).layers[-1].num_neurons
    layers[4]["weight"] = rng.integers(-100, 100, (5, n_flat)) * 2
    write_netx(tmp_path / "c.net", layers)
    net = load_netx(tmp_path / "c.net")
    x = (rng.random((2, 10, 12, 2, 20)) < 0.3).astype(np.int32) * rng.integers(1, 40, (2, 10, 12, 2, 20))
    assert_identical(net, RunSpec(steps=24, inputs=x))


def test_project_exports_dense_and_conv(tiny_dense, tiny_conv):
    from neuro_deploy.netx.export import encode_for_net

    for model in (tiny_dense, tiny_conv):
        net = load_netx(model["net"])
        x = encode_for_net(net, model["x"][:2])
        assert_identical(net, RunSpec(steps=x.shape[-1] + len(net), inputs=x))


def test_lava_batch_concatenation_equals_per_sample(tiny_dense):
    """The concatenated multi-sample Lava run must equal one run per sample."""
    from neuro_deploy.netx.export import encode_for_net
    from neuro_deploy.sim.lava import LavaBackend, can_concatenate, run_one

    net = load_netx(tiny_dense["net"])
    x = encode_for_net(net, tiny_dense["x"][:3])
    x = np.concatenate([x, np.zeros(x.shape[:-1] + (len(net),), x.dtype)], axis=-1)
    spec = RunSpec(steps=x.shape[-1], inputs=x)
    assert can_concatenate(net, spec)
    batched = LavaBackend().run(net, spec)
    assert batched.extra["mode"] == "concatenated"
    for i in range(3):
        single = run_one(net, spec, i)
        for k in single:
            assert (batched.spikes[k][i] == single[k]).all()


def test_scaled_exports_run_identically_in_lava_fast_and_float(tiny_dense, tiny_conv, tmp_path):
    """Per-layer scaled exports (weights and thresholds x 2**(e-6)): Lava == fast spike for
    spike on every layer, and both equal the QAT-trained float model (backend float)."""
    from neuro_deploy.api import export as export_model
    from neuro_deploy.netx.spec import encode_for_net
    from neuro_deploy.sim.float_model import load_network

    for i, model in enumerate((tiny_dense, tiny_conv)):
        rep = export_model(model["ckpt"], tmp_path / f"s{i}.net", verify_inputs=model["x"][:4])
        assert rep.quantization == "qat" and min(q.weight_exponent for q in rep.layers) > 6
        assert all(q.vth_mant == int(1.25 * 2**q.weight_exponent) for q in rep.layers)
        net = load_netx(tmp_path / f"s{i}.net")
        x = encode_for_net(net, model["x"][:2])
        spec = RunSpec(steps=x.shape[-1] + len(net), inputs=x)
        _, lava = assert_identical(net, spec)
        flt = run_network(load_network(model["ckpt"]), spec, "float")
        for k in lava.spikes:
            assert np.array_equal(flt.spikes[k], lava.spikes[k]), k


def _sdnn(vth, sigma=False):
    n = {"type": "SDNN", "activation": "relu", "vThMant": vth}
    if sigma:
        n["sigma_output"] = True
    return n


def test_sdnn_dense_network_graded(tmp_path):
    """SDNN as netx builds it: Delta input, SigmaDelta (ReLU) hidden, Sigma output, graded messages."""
    rng = np.random.default_rng(5)
    write_netx(
        tmp_path / "s.net",
        [
            {"type": "input", "shape": (30,), "neuron": _sdnn(2)},
            {
                "type": "dense",
                "weight": rng.integers(-60, 60, (20, 30)) * 2,
                "neuron": _sdnn(3),
                "bias": rng.integers(-5, 10, 20),
            },
            {"type": "dense", "weight": rng.integers(-60, 60, (6, 20)) * 2, "neuron": _sdnn(0, sigma=True)},
        ],
    )
    net = load_netx(tmp_path / "s.net")
    assert [l.neuron.kind for l in net.layers] == ["delta", "sigma_delta", "sigma"]
    # a slowly varying graded signal (what SDNN is for)
    base = rng.integers(0, 40, (2, 30, 1))
    x = (base + np.cumsum(rng.integers(-3, 4, (2, 30, 40)), axis=-1)).clip(0, None).astype(np.int32)
    fast, _ = assert_identical(net, RunSpec(steps=42, inputs=x))
    assert fast.spikes["layer2"].dtype != bool and np.abs(fast.spikes["layer2"]).max() > 1


def test_sdnn_conv_network(tmp_path):
    rng = np.random.default_rng(6)
    write_netx(
        tmp_path / "sc.net",
        [
            {"type": "input", "shape": (2, 10, 10), "neuron": _sdnn(1)},
            {
                "type": "conv",
                "weight": rng.integers(-30, 40, (4, 2, 3, 3)) * 2,
                "padding": (1, 1),
                "neuron": _sdnn(2),
                "bias": rng.integers(0, 4, 4),
            },
            {"type": "flatten"},
            {"type": "dense", "weight": rng.integers(-20, 20, (5, 400)) * 2, "neuron": _sdnn(0, sigma=True)},
        ],
    )
    net = load_netx(tmp_path / "sc.net")
    x = rng.integers(0, 20, (1, 10, 10, 2, 15)).astype(np.int32)
    assert_identical(net, RunSpec(steps=18, inputs=x))


def test_lava_stops_cleanly_on_ctrl_c(fixtures):
    """A KeyboardInterrupt in the middle of a Lava run leaves no worker process behind."""
    import os
    import signal
    import time

    from neuro_deploy.sim.lava import run_one

    def children():
        kids = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    st = open(f"/proc/{p}/stat").read().split()
                    cmd = open(f"/proc/{p}/cmdline").read()
                except OSError:
                    continue
                # multiprocessing's resource_tracker is Python's per-interpreter helper, not Lava's
                if int(st[3]) == os.getpid() and st[2] != "Z" and "resource_tracker" not in cmd:
                    kids.append(int(p))
        return kids

    net = load_netx(need(fixtures / "lava-dl" / "oxford" / "network.net"))
    x = (np.random.default_rng(0).random((1, 200, 200_000)) < 0.1).astype(np.int32)

    def interrupt(*_):
        raise KeyboardInterrupt()

    before = set(children())  # processes other tests may have left running
    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 8.0)  # well after build, compile and start
    try:
        with pytest.raises(KeyboardInterrupt):
            run_one(net, RunSpec(steps=200_000, inputs=x))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    deadline = time.time() + 10
    while set(children()) - before and time.time() < deadline:
        time.sleep(0.2)
    assert set(children()) - before == set()
