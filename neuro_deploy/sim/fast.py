"""The ``fast`` backend: Lava's fixed-point netx semantics, vectorized and batched.

Lava runs every block as an OS process synchronised each time step. Here a layer is
computed for *all* time steps at once, because layer k at step t only depends on
layer k-1 at step t (through a synapse buffer that delays by one step):

1. synaptic input for all steps: one (sparse or dense) matrix product (dense) or one
   batched ``conv2d`` (conv) over ``(batch x steps)`` samples;
2. shift it by the synapse's one-step buffer (plus per-synapse delays);
3. run the integer CUBA recurrence (:func:`~neuro_deploy.sim.fixed_point.cuba_step`)
   over time, vectorized over batch and neurons.

Sums are exact: float32 products are used only when ``max|w| * fan_in < 2^24`` with
binary inputs (every partial sum is then an exactly representable integer), float64
or int64 otherwise. Spiking inputs are sparse: below 5 % density the dense product
becomes a CSR product.

Dense CUBA layers fed by binary spikes take the fused path (:func:`dense_layer`): per
(sample, step) row the synaptic sum is event-driven (one weight row added per spike),
a complement sum for a layer output more than half active (every weight minus the
inactive inputs', :func:`complement_rows`), or a dense GEMM for a recording's rows at
least :data:`DENSE_GEMM_DENSITY` active (:func:`gemm_rows`); the neurons run in cache
with it, and the kernel checks the input values as it reads them
(:func:`kernel_checks_input`).
"""

from __future__ import annotations

import time

import numpy as np

from neuro_deploy.events.tensor import from_lava_layout, to_lava_layout
from neuro_deploy.netx.spec import LayerSpec, NetSpec
from neuro_deploy.sim import fixed_point as fx
from neuro_deploy.errors import BadInputError
from neuro_deploy.sim.base import (
    RunResult,
    RunSpec,
    check_input_values,
    mask_after_lengths,
    register_backend,
    validate_run,
)

SPARSE_DENSITY = 0.05
CONV_CHUNK_BYTES = 128 * 2**20
#: input rows (one sample, one step) with at least this fraction of active inputs go to a
#: dense float GEMM instead of event-driven accumulation: below it, adding one weight row
#: per spike does less work than multiplying the whole row (benchmarks/fast_vs_lava.py
#: measures both kernels on this machine and prints where they cross: on the 2-core machine,
#: 2312-128, event-driven was faster at every density measured, 0.043 vs 0.244 s at 2 %,
#: 0.165 vs 0.384 s at 50 %; extrapolated, they cross near 80-100 %)
DENSE_GEMM_DENSITY = 0.75
#: the source input's activity is first estimated on one sample in this many
ACTIVITY_SAMPLE_EVERY = 16


def to_time_major(x: np.ndarray) -> np.ndarray:
    """(B, N, T) -> contiguous (T, B, N), one sample at a time (cache-friendly; a single
    strided transpose of a large array is several times slower)."""
    b, n, t = x.shape
    out = np.empty((t, b, n), dtype=x.dtype)
    for i in range(b):
        out[:, i, :] = x[i].T
    return out


def lava_to_internal(x: np.ndarray, ndim_shape: int) -> np.ndarray:
    """(B, W,H,C, T) -> (B, C*H*W, T); 1-D shapes pass through."""
    if ndim_shape == 3:
        x = from_lava_layout(x)
    return x.reshape(x.shape[0], -1, x.shape[-1])


def internal_to_lava(x: np.ndarray, shape_chw: tuple[int, ...]) -> np.ndarray:
    """(B, N, T) -> (B,) + lava shape + (T,)."""
    b, _, t = x.shape
    if len(shape_chw) == 3:
        return to_lava_layout(x.reshape((b,) + tuple(shape_chw) + (t,)))
    return x.reshape(b, -1, t)


def neuron_bias(layer: LayerSpec, override: np.ndarray | None = None) -> np.ndarray | int:
    """What each neuron adds per step from its bias, (N,) int32 in C,H,W order (0: no bias):
    the mantissas broadcast as netx does (:meth:`~neuro_deploy.netx.spec.LayerSpec.bias_chw`,
    ``override`` = ``--input-bias``), scaled as the neuron model scales them - CUBA
    ``bias_mant << bias_exp`` (:func:`~neuro_deploy.sim.fixed_point.effective_bias`), SDNN
    ``bias << (spike_exp + state_exp)`` (netx's per-neuron/channel broadcast, then Lava's
    ``PySigmaDeltaModelFixed`` scaling)."""
    b = layer.bias_chw(override)
    if b is None:
        return 0
    nr = layer.neuron
    if nr.kind == "cuba":
        return fx.effective_bias(b, nr.bias_exp)
    return (b.astype(np.int64) << (nr.spike_exp + nr.state_exp)).astype(np.int32)


def _matmul_exact(x: np.ndarray, w: np.ndarray, binary: bool) -> np.ndarray:
    """``x @ w.T`` for integer-valued ``x`` (rows = samples) and int ``w``, exactly, as int64.

    Binary inputs go through the event-driven integer kernel (each spike adds its
    weight column); graded inputs through a float GEMM that is exact for the bound on
    the sums, or an int64 product beyond it."""
    if binary:
        from neuro_deploy.sim.kernels import event_matmul

        return event_matmul(x.astype(bool, copy=False), w)
    fan_in = w.shape[1]
    wmax = int(np.abs(w).max()) if w.size else 0
    xmax = int(np.abs(x).max()) if x.size else 0
    bound = wmax * xmax * fan_in
    if bound < 2**24:
        dtype = np.float32
    elif bound < 2**53:
        dtype = np.float64
    else:
        return x.astype(np.int64) @ w.T.astype(np.int64)
    nnz = np.count_nonzero(x)
    density = nnz / max(x.size, 1)
    wt = w.T.astype(dtype)
    if density < SPARSE_DENSITY:
        import scipy.sparse as sp

        rows, cols = np.nonzero(x)
        indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=x.shape[0]), out=indptr[1:])
        data = x[rows, cols].astype(dtype)
        out = sp.csr_matrix((data, cols, indptr), shape=x.shape) @ wt
    else:
        out = x.astype(dtype) @ wt
    return np.rint(out).astype(np.int64)


def _dense_input_current(layer: LayerSpec, s_in: np.ndarray, steps: int) -> np.ndarray:
    """Current arriving at the neurons, (T, B, out) int32, for upstream output (T, B, in)."""
    dw = fx.dense_weights(layer.weight)
    binary = layer.input_message_bits == 0
    x = s_in.astype(bool) if binary else s_in
    t, b, n_in = x.shape
    flat = x.reshape(t * b, n_in)
    a_in = np.zeros((steps, b, dw.weight.shape[0]), dtype=np.int64)
    if layer.delay is None:
        acc = _matmul_exact(flat, dw.weight, binary)
        if not binary:  # Lava: weights.dot(s_in) of two int32 arrays wraps
            acc = fx.to_int32_channel(acc)
        acc = fx.apply_weight_exp(acc, dw.weight_exp)
        a_in[1:] = acc.reshape(t, b, -1)[: steps - 1]
    else:
        for d in np.unique(layer.delay):
            wk = np.where(layer.delay == d, dw.weight, 0).astype(np.int32)
            if not wk.any():
                continue
            acc = fx.apply_weight_exp(_matmul_exact(flat, wk, binary), dw.weight_exp)
            lag = int(d) + 1
            if lag < steps:
                a_in[lag:] += acc.reshape(t, b, -1)[: steps - lag]
    return fx.to_int32_channel(a_in)


def _conv_input_current(layer: LayerSpec, s_in: np.ndarray, steps: int) -> np.ndarray:
    """Lava Conv (``conv/models.py``): float32 ``conv2d`` cast to int32, 24-bit wrap, one
    step late. ``s_in`` is (T, B, C*H*W); returns (T, B, Co*Ho*Wo) int32. Chunks of
    (step, sample) frames go through torch and land directly in the shifted output."""
    import torch
    import torch.nn.functional as F

    t, b, _ = s_in.shape
    c, h, w = layer.in_shape_chw
    binary = layer.input_message_bits == 0
    x = s_in.reshape(t * b, c, h, w)
    weight = torch.from_numpy(layer.weight.astype(np.float32))
    n_out = int(np.prod(layer.shape_chw))
    a_in = np.zeros((steps, b, n_out), dtype=np.int32)
    flat = a_in.reshape(steps * b, n_out)
    rows = min(t, steps - 1) * b  # frames whose output arrives in time
    per_sample = c * h * w * 4 + n_out * 4
    chunk = max(1, CONV_CHUNK_BYTES // per_sample)
    with torch.no_grad():
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            xb = x[start:stop]
            xb = torch.from_numpy(np.ascontiguousarray(xb != 0 if binary else xb, dtype=np.float32))
            yb = F.conv2d(
                xb, weight, stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups
            )
            y = yb.numpy().reshape(stop - start, n_out).astype(np.int32)
            np.left_shift(y, 8, out=y)  # 24-bit wrap = sign-extend the low 24 bits
            np.right_shift(y, 8, out=y)  # (fixed_point.signed_clamp, in place)
            flat[start + b : stop + b] = y
    return a_in


def _input_layer_current(spec: RunSpec, net: NetSpec, steps: int) -> np.ndarray:
    first = net.layers[0]
    b = spec.batch_size()
    if spec.inputs is None:
        return np.zeros((steps, b, first.num_neurons), dtype=np.int32)
    data = lava_to_internal(np.asarray(spec.inputs), len(first.lava_shape)).astype(np.int32)
    if data.shape[-1] != steps:
        data = data[..., np.arange(steps) % data.shape[-1]]
    return to_time_major(data)


def _source_spikes(spec: RunSpec, net: NetSpec, steps: int) -> np.ndarray:
    """What the source ring buffer sends to the first synapse, (T, B, N): bool when that
    synapse takes binary spikes (any nonzero is a spike, as Lava's ``astype(bool)``),
    int32 otherwise."""
    first = net.layers[0]
    b = spec.batch_size()
    n = first.num_inputs
    binary = first.input_message_bits == 0
    if spec.inputs is None:
        return np.zeros((steps, b, n), dtype=bool if binary else np.int32)
    data = np.asarray(spec.inputs)
    data = (data != 0) if binary else data.astype(np.int32)
    data = lava_to_internal(data, len(first.lava_in_shape))
    if data.shape[-1] != steps:
        data = data[..., np.arange(steps) % data.shape[-1]]
    return to_time_major(data)


def source_spikes(spec: RunSpec, net: NetSpec, steps: int) -> np.ndarray:
    """What the source sends to the first synapse, (T, B, N): :func:`_source_spikes`, but
    for a dense first layer fed every step a view of ``spec.inputs`` (nonzero = spike),
    not a copy - counting (:func:`neuro_deploy.energy.counts.count_activity`) reads it once."""
    first = net.layers[0]
    if (
        spec.inputs is not None
        and first.kind == "dense"
        and first.input_message_bits == 0
        and spec.inputs.shape[-1] == steps
    ):
        x = np.asarray(spec.inputs)
        return np.transpose(x.reshape(x.shape[0], -1, steps), (2, 0, 1))
    return _source_spikes(spec, net, steps)


def run_neurons(
    layer: LayerSpec, a_in: np.ndarray, bias: np.ndarray | int, reset_interval: int | None, reset_phase: int
) -> np.ndarray:
    """Integrate (T, B, N) int32 input through the layer's neurons (see :data:`NEURON_RUNNERS`).

    CUBA runs the compiled kernel (:func:`~neuro_deploy.sim.kernels.cuba_run`);
    :func:`run_neurons_reference` is the step-by-step numpy reference it is tested against.
    Returns (T, B, N) spikes: bool for CUBA, int32 graded messages for SDNN.
    """
    runner = NEURON_RUNNERS.get(layer.neuron.kind)
    if runner is None:
        from neuro_deploy.errors import UnsupportedLayerError

        raise UnsupportedLayerError(layer.index, f"neuron {layer.neuron.kind}", NEURON_RUNNERS)
    return runner(layer, a_in, bias, reset_interval, reset_phase)


def _run_cuba(
    layer: LayerSpec, a_in: np.ndarray, bias: np.ndarray | int, reset_interval: int | None, reset_phase: int
) -> np.ndarray:
    from neuro_deploy.sim.kernels import cuba_run

    nr = layer.neuron
    return cuba_run(
        a_in,
        np.broadcast_to(np.asarray(bias, dtype=np.int32), (a_in.shape[2],)),
        nr.du,
        nr.dv,
        nr.vth,
        reset_interval,
        reset_phase,
    )


def delta_encode(x: np.ndarray, act: np.ndarray, residue: np.ndarray, vth: int) -> tuple[np.ndarray, np.ndarray]:
    """Lava ``delta_dynamics``: ``d = x - act + residue``; ``s = d if |d| >= vth else 0``;
    ``residue = d - s`` (``lava/proc/sdn/models.py``). Returns (s, residue)."""
    d = x - act + residue
    s = np.where(np.abs(d) >= vth, d, 0).astype(np.int32)
    return s, (d - s).astype(np.int32)


def _run_sigma_delta(
    layer: LayerSpec, a_in: np.ndarray, bias: np.ndarray | int, reset_interval: int | None, reset_phase: int
) -> np.ndarray:
    """Lava ``PySigmaDeltaModelFixed``: ``sigma += a``; ``act = ReLU(sigma + bias)``; delta
    encode against the previous ``act`` with ``vth << 12``; send ``s >> state_exp``."""
    nr = layer.neuron
    vth = np.int32(nr.vth << (nr.spike_exp + nr.state_exp))
    b = bias  # neuron_bias: x 2^(spike_exp + state_exp)
    steps, batch, n = a_in.shape
    sigma = np.zeros((batch, n), np.int32)
    act = np.zeros((batch, n), np.int32)
    residue = np.zeros((batch, n), np.int32)
    out = np.zeros(a_in.shape, np.int32)
    for t in range(steps):
        sigma = (sigma + a_in[t]).astype(np.int32)
        new_act = np.maximum(sigma + b, 0).astype(np.int32)
        s, residue = delta_encode(new_act, act, residue, vth)
        act = new_act
        out[t] = np.right_shift(s, nr.state_exp)
    return out


def _run_delta(
    layer: LayerSpec, a_in: np.ndarray, bias: np.ndarray | int, reset_interval: int | None, reset_phase: int
) -> np.ndarray:
    """Lava ``PyDeltaModelFixed`` (SDNN input layer): ``a = a_in << (spike_exp+state_exp)``,
    delta-encoded against the previous ``a``; send ``s >> state_exp``."""
    nr = layer.neuron
    vth = np.int32(nr.vth << (nr.spike_exp + nr.state_exp))
    steps, batch, n = a_in.shape
    act = np.zeros((batch, n), np.int32)
    residue = np.zeros((batch, n), np.int32)
    out = np.zeros(a_in.shape, np.int32)
    for t in range(steps):
        x = np.left_shift(a_in[t].astype(np.int32), nr.spike_exp + nr.state_exp)
        s, residue = delta_encode(x, act, residue, vth)
        act = x
        out[t] = np.right_shift(s, nr.state_exp)
    return out


def _run_sigma(
    layer: LayerSpec, a_in: np.ndarray, bias: np.ndarray | int, reset_interval: int | None, reset_phase: int
) -> np.ndarray:
    """Lava ``PySigmaModelFixed``: ``sigma += a_in``; send ``sigma`` (int32, wraps)."""
    out = np.empty(a_in.shape, np.int32)
    sigma = np.zeros(a_in.shape[1:], np.int32)
    for t in range(a_in.shape[0]):
        sigma = (sigma + a_in[t]).astype(np.int32)
        out[t] = sigma
    return out


#: Neuron models of the fast backend, by :attr:`NeuronSpec.kind`.
NEURON_RUNNERS = {"cuba": _run_cuba, "sigma_delta": _run_sigma_delta, "delta": _run_delta, "sigma": _run_sigma}


def run_neurons_reference(
    layer: LayerSpec, a_in: np.ndarray, bias: np.ndarray | int, reset_interval: int | None, reset_phase: int
) -> np.ndarray:
    """Numpy reference of :func:`run_neurons`: :func:`fixed_point.cuba_step` per step."""
    steps, b, n = a_in.shape
    u = np.zeros((b, n), dtype=np.int32)
    v = np.zeros((b, n), dtype=np.int32)
    nr = layer.neuron
    out = np.zeros((steps, b, n), dtype=bool)
    for t in range(steps):
        if reset_interval is not None and (t + 1) % reset_interval == reset_phase:
            u[...] = 0
            v[...] = 0
        out[t] = fx.cuba_step(u, v, a_in[t], du=nr.du, dv=nr.dv, bias=bias, vth=nr.vth)
    return out


def fused_dense(layer: LayerSpec) -> bool:
    """Whether :func:`dense_layer` runs this layer: dense, CUBA, binary input spikes, no
    synaptic delays (the rest takes the general path, :func:`_dense_input_current` and
    :func:`run_neurons`)."""
    return (
        layer.kind == "dense"
        and layer.delay is None
        and layer.neuron.kind == "cuba"
        and layer.input_message_bits == 0
        and int(np.abs(layer.weight).max(initial=0)) < 2**15
    )


def kernel_checks_input(net: NetSpec, spec: RunSpec) -> bool:
    """Whether :func:`simulate` checks the input values itself: integer inputs of exactly
    ``spec.steps`` steps into a :func:`fused_dense` first layer, whose kernel flags any value
    but 0 and 1 while reading the input (one pass over it instead of two)."""
    x = spec.inputs
    return (
        x is not None and fused_dense(net.layers[0]) and np.asarray(x).dtype.kind in "iu" and x.shape[-1] == spec.steps
    )


def source_spikes_by_sample(spec: RunSpec, net: NetSpec, steps: int) -> np.ndarray:
    """The source's spikes for a dense first layer without transposing: (B, N, T), any
    integer type (nonzero = spike), inputs replayed cyclically as the ring buffer does."""
    data = np.asarray(spec.inputs)
    data = data.reshape(data.shape[0], -1, data.shape[-1])
    if data.shape[-1] != steps:
        data = data[..., np.arange(steps) % data.shape[-1]]
    if data.dtype == np.bool_ or not np.issubdtype(data.dtype, np.integer):
        data = data != 0
    return data


def gemm_rows(
    x: np.ndarray, n_first: bool, counts: np.ndarray | None, weight_t: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which (sample, step) rows of a dense layer's input go to a dense GEMM, and their
    products: ``(index (B, T) int32, -1 = event-driven; rows (K, M) int32)``.

    A row goes to the GEMM when at least :data:`DENSE_GEMM_DENSITY` of its inputs are
    active (``counts``: measured per row, or estimated on every
    :data:`ACTIVITY_SAMPLE_EVERY`-th sample first when ``None``). The GEMM runs in float32
    when no partial sum can reach 2^24 (``max|w| * fan_in``: every sum is then an exactly
    representable integer), else float64 (exact below 2^53); the event-driven kernel adds
    int16 weights into int32 sums. Both give the same integers."""
    from neuro_deploy.sim.kernels import active_counts, gather_rows

    batch = x.shape[0]
    n_in, m = weight_t.shape
    index = np.full((batch, steps), -1, np.int32)
    threshold = DENSE_GEMM_DENSITY * n_in
    if counts is None:
        every = max(1, min(ACTIVITY_SAMPLE_EVERY, batch))
        sampled = active_counts(x, n_first, every)
        if sampled[sampled >= 0].max(initial=0) < threshold:
            return index, np.zeros((0, m), np.int32)
        counts = active_counts(x, n_first, 1)
    dense = counts[:, : steps - 1] >= threshold  # the last step's input arrives after the run
    if not dense.any():
        return index, np.zeros((0, m), np.int32)
    rows = np.argwhere(dense)
    exact32 = int(np.abs(weight_t).max(initial=0)) * n_in < 2**24
    ftype = np.float32 if exact32 else np.float64
    xs = gather_rows(x, n_first, rows, np.empty((len(rows), n_in), ftype))
    prod = xs @ weight_t.astype(ftype)
    index[rows[:, 0], rows[:, 1]] = np.arange(len(rows), dtype=np.int32)
    return index, np.rint(prod).astype(np.int32)


def complement_rows(
    x: np.ndarray, n_first: bool, counts: np.ndarray | None, weight_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which (sample, step) rows of a layer's output the dense kernel sums from their inactive
    inputs (:func:`neuro_deploy.sim.kernels.dense_cuba`): ``(flags (B, T) uint8, colsum (M,)
    int32)``, rows with more than half the inputs active. Only for a (B, T, N) layer output
    (0/1 by construction, activity measured upstream) with N % 8 == 0 (a step in whole
    words) and ``N * max|w| < 2^31`` (``colsum`` and every partial sum exact in int32);
    otherwise flags of shape (B, 0): none, dense rows go to :func:`gemm_rows`."""
    n_in, m = weight_t.shape
    if n_first or counts is None or n_in % 8 or n_in * int(np.abs(weight_t).max(initial=0)) >= 2**31:
        return np.zeros((x.shape[0], 0), np.uint8), np.zeros(m, np.int32)
    flags = (counts > n_in // 2).astype(np.uint8)
    return flags, weight_t.sum(axis=0, dtype=np.int64).astype(np.int32)


def input_words(x: np.ndarray) -> np.ndarray:
    """Each sample's input bytes 8 at a time, (B, L / 8) int64 - a view of ``x`` (B, ...)
    when it holds one contiguous byte per input and L = its bytes per sample is a multiple
    of 8, else (B, 0) (the kernel then reads byte by byte)."""
    per_sample = int(np.prod(x.shape[1:]))
    if x.itemsize == 1 and x.flags.c_contiguous and per_sample % 8 == 0 and x.ctypes.data % 8 == 0:
        return x.reshape(x.shape[0], per_sample).view(np.int64)
    return np.zeros((x.shape[0], 0), np.int64)


_DENSE_WEIGHTS: dict[int, tuple] = {}


def layer_dense_weights(layer: LayerSpec) -> fx.DenseWeights:
    """:func:`fixed_point.dense_weights` of a layer, computed once per weight array (kept
    while the array lives; recomputed if its values changed)."""
    import weakref

    w = layer.weight
    key = (w.shape, int(np.sum(w, dtype=np.int64)), int(np.sum(np.abs(w), dtype=np.int64)))
    hit = _DENSE_WEIGHTS.get(id(w))
    if hit is None or hit[0]() is not w or hit[1] != key:
        hit = (weakref.ref(w), key, fx.dense_weights(w))
        _DENSE_WEIGHTS[id(w)] = hit
        weakref.finalize(w, _DENSE_WEIGHTS.pop, id(w), None)
    return hit[2]


def dense_layer(
    layer: LayerSpec,
    x: np.ndarray,
    n_first: bool,
    counts: np.ndarray | None,
    steps: int,
    reset_interval: int | None,
    reset_phase: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A :func:`fused_dense` layer for the whole batch: (B, T, M) bool spikes, (B, T) spike
    counts and (B,) flags of samples whose input held a value other than 0 and 1 (read by
    the kernel, see :func:`neuro_deploy.sim.kernels.dense_cuba`). ``x`` are binary input
    spikes, (B, N, T) when ``n_first`` else (B, T, N);
    per (sample, step) the synaptic sum is event-driven or a dense GEMM by measured
    activity (:func:`gemm_rows`), then :func:`neuro_deploy.sim.kernels.dense_cuba`."""
    from neuro_deploy.sim.kernels import dense_cuba

    dw = layer_dense_weights(layer)
    wt = np.ascontiguousarray(dw.weight.T, dtype=np.int16)
    complement, colsum = complement_rows(x, n_first, counts, wt)
    if complement.shape[1]:  # rows over half active are complement sums: no GEMM needed
        index, rows = np.full((x.shape[0], steps), -1, np.int32), np.zeros((0, wt.shape[1]), np.int32)
    else:
        index, rows = gemm_rows(x, n_first, counts, wt, steps)
        complement = np.zeros((x.shape[0], steps), np.uint8)
    bias = np.ascontiguousarray(np.broadcast_to(np.asarray(neuron_bias(layer), dtype=np.int32), (layer.num_neurons,)))
    nr = layer.neuron
    out = np.empty((x.shape[0], steps, layer.num_neurons), dtype=np.bool_)
    spikes = np.empty((x.shape[0], steps), dtype=np.int64)
    bad = np.zeros(x.shape[0], dtype=np.uint8)
    limit = max(1, (2**15 - 1) // max(1, int(np.abs(wt).max(initial=0))))  # int16 sums stay exact
    dense_cuba(
        x,
        n_first,
        wt,
        limit,
        int(dw.weight_exp),
        bias,
        int(nr.du),
        int(nr.dv),
        int(nr.vth),
        int(reset_interval or 0),
        int(reset_phase or 0),
        index,
        rows,
        complement,
        colsum,
        out,
        spikes,
        input_words(x),
        bad,
    )
    return out, spikes, bad


def simulate(net: NetSpec, spec: RunSpec) -> list[np.ndarray]:
    """Spikes of every layer, each (T, B, N) bool, N in C,H,W order (a view: fused dense
    layers keep each sample's spikes together, (B, T, N) in memory)."""
    steps = spec.steps
    layers_out: list[np.ndarray] = []
    upstream: np.ndarray | None = None
    counts: np.ndarray | None = None  # upstream spikes per (sample, step)
    for layer in net.layers:
        phase = None
        if spec.reset_interval is not None:
            phase = (spec.reset_offset + 1 + layer.index) % spec.reset_interval
        if fused_dense(layer) and (upstream is not None or spec.inputs is not None):
            if upstream is None:
                x, n_first = source_spikes_by_sample(spec, net, steps), True
            else:
                x, n_first = np.transpose(upstream, (1, 0, 2)), False
            out, counts, bad = dense_layer(layer, x, n_first, counts, steps, spec.reset_interval, phase)
            if n_first and bad.any():  # the input held a value other than 0 and 1
                check_input_values(net, spec.inputs)  # raises the named error
                raise BadInputError(f"input: the first layer takes binary spikes; sample {int(np.argmax(bad))} is not")
            upstream = np.transpose(out, (1, 0, 2))
            layers_out.append(upstream)
            continue
        counts = None
        if layer.kind == "input":
            a_in = _input_layer_current(spec, net, steps)
        else:
            s_in = upstream if upstream is not None else source_spikes(spec, net, steps)
            a_in = (_dense_input_current if layer.kind == "dense" else _conv_input_current)(layer, s_in, steps)
        bias = neuron_bias(layer, spec.input_bias if layer.kind == "input" else None)
        upstream = run_neurons(layer, a_in, bias, spec.reset_interval, phase)
        layers_out.append(upstream)
    return layers_out


@register_backend("fast")
class FastBackend:
    """Bit-exact, batched re-implementation of netx + Loihi2SimCfg(fixed_pt)."""

    name = "fast"

    def run(self, net: NetSpec, spec: RunSpec) -> RunResult:
        validate_run(net, spec, check_values=not kernel_checks_input(net, spec))
        t0 = time.perf_counter()
        trains = mask_after_lengths(simulate(net, spec), spec.lengths)  # causal: = own-length runs
        return result_from_trains(net, spec, trains, self.name, t0)


def result_from_trains(net: NetSpec, spec: RunSpec, trains: list[np.ndarray], backend: str, t0: float) -> RunResult:
    """A :class:`RunResult` from per-layer (T, B, N) trains, each layer in Lava's layout
    (``out.shape + (T,)``; every layer, or the output only as ``spec.probe`` says)."""
    spikes = {}
    for layer, s in zip(net.layers, trains):
        if spec.probe == "output" and layer is not net.layers[-1]:
            continue
        spikes[layer.name] = internal_to_lava(np.transpose(s, (1, 2, 0)), layer.shape_chw)
    return RunResult(spikes=spikes, backend=backend, wall_s=time.perf_counter() - t0, extra={"trains": trains})
