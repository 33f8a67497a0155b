"""The pure fixed-point functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from neuro_deploy.sim import fixed_point as fx


def test_decay_rounds_toward_zero():
    x = np.array([1000, -1000, 7, -7], dtype=np.int32)
    # (4096 - 1024) / 4096 = 0.75: 750, -750, 5.25 -> 5, -5.25 -> -5
    assert fx.decay_toward_zero(x, 1024).tolist() == [750, -750, 5, -5]


def test_cuba_step_current_wrap_and_voltage_saturation():
    u = np.array([0, 0], dtype=np.int32)
    v = np.array([0, -(2**23) + 100], dtype=np.int32)
    a_in = np.array([2**17 + 5, -10], dtype=np.int32)  # (2^17 + 5) << 6 = 2^23 + 320 -> wraps
    s = fx.cuba_step(u, v, a_in, du=4095, dv=0, bias=0, vth=2**17 - 1)
    assert u[0] == 2**23 + 320 - 2**24
    assert v[1] == -(2**23) + 1  # saturates, no wrap
    assert s.tolist() == [False, False]


def test_cuba_step_strict_threshold_and_reset():
    u = np.zeros(2, dtype=np.int32)
    v = np.zeros(2, dtype=np.int32)
    bias = fx.effective_bias(np.array([10, 11]), 6)  # 640, 704
    s = fx.cuba_step(u, v, np.zeros(2, dtype=np.int32), du=4095, dv=4096, bias=bias, vth=10)
    assert s.tolist() == [False, True]  # v > vth << 6 strictly
    assert v.tolist() == [640, 0]


def test_signed_clamp_wraps():
    assert fx.signed_clamp(np.array([2**23, -(2**23) - 1, 5]), 24).tolist() == [-(2**23), 2**23 - 1, 5]


@pytest.mark.parametrize(
    "w",
    [
        np.array([[2, -4], [6, 254]]),  # mixed
        np.array([[2, 4], [6, 8]]),  # excitatory, all multiples of 2
        np.array([[-2, -4], [-6, -254]]),  # inhibitory
        np.array([[300, -3], [1, 0]]),  # clipped
    ],
)
def test_dense_weight_pipeline_is_lossless_in_range(w):
    """netx's optimisation + Lava's clip/truncate + exponent give back sum(w * s)."""
    dw = fx.dense_weights(w)
    s = np.array([[1, 1], [1, 0], [0, 1]], dtype=bool)
    got = fx.apply_weight_exp((s.astype(np.int64) @ dw.weight.T.astype(np.int64)), dw.weight_exp)
    ref = s.astype(np.int64) @ np.clip(w, -256, 254).T
    assert (got == ref).all()


def test_all_zero_weights_rejected():
    with pytest.raises(ValueError):
        fx.netx_optimize_weight_bits(np.zeros((2, 2)))


def test_inhibitory_minus_256_becomes_minus_254_as_in_lava():
    """Lava clips |w| to 255 in inhibitory mode, then truncates to the even grid netx chose."""
    dw = fx.dense_weights(np.array([[-2, -4], [-6, -256]]))
    eff = fx.apply_weight_exp(dw.weight.astype(np.int64), dw.weight_exp)
    assert eff.tolist() == [[-2, -4], [-6, -254]]


@pytest.mark.parametrize("seed", range(6))
def test_compiled_cuba_kernel_equals_numpy_reference(seed):
    """The numba kernel against fixed_point.cuba_step on random and extreme inputs."""
    from neuro_deploy.netx.spec import LayerSpec, NeuronSpec
    from neuro_deploy.sim.fast import run_neurons, run_neurons_reference

    rng = np.random.default_rng(seed)
    du = int(rng.choice([-1, 0, 1, 1023, 2048, 4095]))
    dv = int(rng.choice([0, 1, 123, 2048, 4095, 4096]))
    vth = int(rng.choice([0, 1, 80, 2**17 - 1]))
    layer = LayerSpec(0, 0, "dense", (40,), (10,), NeuronSpec("cuba", vth, du, dv))
    scale = int(rng.choice([1, 100, 2**16, 2**25, 2**30]))
    a_in = rng.integers(-scale, scale, (30, 3, 40)).astype(np.int32)
    bias = fx.effective_bias(rng.integers(-4096, 4096, 40))
    ri = [None, 7][seed % 2]
    got = run_neurons(layer, a_in, bias, ri, 3 if ri else None)
    ref = run_neurons_reference(layer, a_in, bias, ri, 3 if ri else None)
    assert (got == ref).all()


def test_signed_clamp_fast_path_matches_modulo():
    x = np.random.default_rng(0).integers(-(2**31), 2**31 - 1, 10000).astype(np.int32)
    base = 1 << 24
    ref = (x.astype(np.int64) + base // 2) % base - base // 2
    assert (fx.signed_clamp(x, 24) == ref).all()
