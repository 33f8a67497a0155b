"""Fit and mapping: how many Loihi cores and chips a netx network needs, and why.

Intel's mapper is closed; this is an open, explainable one. Each layer gets its own
cores (as Lava's and NxSDK's compilers do per population) and is split evenly over
``k`` cores; ``k`` is the smallest number for which **every** per-core limit of the
profile holds:

* neurons: ``ceil(N / k) <= neurons_per_core``;
* neuron state: ``ceil(N / k) * neuron_state_bytes <= core_memory - synapse_memory``;
* synaptic memory: per-core synapse bytes ``<= synapse_memory_bytes_per_core``, using
  the cheaper of two encodings for dense layers
  (dense rows: ``A * ceil(N/k) * w_bits``; sparse entries: ``S/k * (w_bits + index_bits)``,
  plus ``delay_bits`` per synapse when the layer has delays) and, for conv layers on a
  profile with weight sharing, one copy of the kernels of the channels on the core
  (``kH * kW * C_in/groups * C_core * w_bits``); otherwise conv synapses are expanded;
  each input axon also costs one synapse-list header (``axon_entry_bytes``);
* fan-in: input axons reaching a core ``<= fanin_axons_per_core`` - for dense layers
  every input reaches every core, so splitting cannot help and too many inputs is a
  hard limit; conv layers are tiled by output rows (then channels), so a core only
  sees the input rows of its receptive field;
* fan-out (second pass): a core of layer *l* sends one axon per (neuron, destination
  core of layer *l+1*), ``ceil(N_l / k_l) * k_{l+1} <= fanout_axons_per_core``.

The resource that forced ``k`` above the neuron-count minimum is reported as
``limited_by``. Cores are then laid out in order on a mesh of ``mesh_cols`` columns per
chip (128 cores per chip on Loihi 2) to estimate the mean hop distance between
consecutive layers (used by the energy model). Hard limits that no split can satisfy
(delays > ``max_delay``, weights outside the 8-bit range netx keeps, fan-in, chips over
``chips_available``) are reported as violations, or raised as
:class:`~neuro_deploy.errors.ResourceLimitError` with ``strict=True``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from neuro_deploy.errors import ResourceLimitError
from neuro_deploy.hardware.profile import HardwareProfile
from neuro_deploy.netx.spec import LayerSpec, NetSpec

MAX_SPLIT = 1 << 20


@dataclass
class LayerFit:
    name: str
    kind: str
    neurons: int
    synapses: int
    fanin_axons: int
    memory_bytes: int               #: synapse + axon-header + neuron-state bytes, all cores
    synapse_bytes: int
    cores: int
    neurons_per_core: int
    limited_by: str
    encoding: str
    fanin_axons_per_core: int = 0
    fanout_axons_per_core: int = 0
    mean_hops_to_next: float = 0.0
    first_core: int = 0


@dataclass
class Violation:
    layer: str
    resource: str
    used: float
    limit: float


@dataclass
class FitResult:
    profile: str
    fits: bool
    cores: int
    chips: int
    layers: list[LayerFit]
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Need:
    neurons: int
    synapse_bytes: float
    fanin: int
    encoding: str


def _dense_need(layer: LayerSpec, k: int, prof: HardwareProfile) -> _Need:
    lim = prof.limits
    w = layer.weight
    n = layer.num_neurons
    n_core = math.ceil(n / k)
    a = int(np.count_nonzero(np.any(w != 0, axis=0)))
    s = int(np.count_nonzero(w))
    extra = lim.delay_bits if layer.delay is not None else 0
    dense_bits = a * n_core * (lim.weight_bits + extra)
    sparse_bits = math.ceil(s / k) * (lim.weight_bits + lim.synapse_index_bits + extra)
    enc, bits = ("dense", dense_bits) if dense_bits <= sparse_bits else ("sparse", sparse_bits)
    return _Need(n_core, bits / 8 + a * lim.axon_entry_bytes, a, enc)


def _conv_need(layer: LayerSpec, k: int, prof: HardwareProfile, synapses: int) -> _Need:
    lim = prof.limits
    c_out, ho, wo = layer.shape_chw
    c_in, h, w = layer.in_shape_chw
    kh, kw = layer.weight.shape[2:4]
    row_tiles = min(k, ho)
    ch_split = math.ceil(k / row_tiles)
    rows = math.ceil(ho / row_tiles)
    ch = math.ceil(c_out / ch_split)
    n_core = rows * wo * ch
    in_rows = min(h + 2 * layer.padding[0], (rows - 1) * layer.stride[0] + layer.dilation[0] * (kh - 1) + 1)
    in_rows = min(in_rows, h)
    cin_core = c_in if ch_split == 1 or layer.groups == 1 else min(c_in, math.ceil(c_in * ch / c_out))
    fanin = in_rows * w * cin_core
    if lim.conv_weight_sharing:
        bits = kh * kw * (c_in // layer.groups) * ch * lim.weight_bits
        enc = "shared-kernel"
    else:
        bits = math.ceil(synapses / k) * (lim.weight_bits + lim.synapse_index_bits)
        enc = "sparse"
    return _Need(n_core, bits / 8 + fanin * lim.axon_entry_bytes, fanin, enc)


def _input_need(layer: LayerSpec, k: int, prof: HardwareProfile) -> _Need:
    return _Need(math.ceil(layer.num_neurons / k), 0.0, 0, "none")


def count_synapses(layer: LayerSpec) -> int:
    """Stored synapses: nonzero dense weights; conv: every (input, output) connection of a
    nonzero kernel tap, counted with :func:`~neuro_deploy.energy.counts.fanout`."""
    if layer.kind == "input":
        return 0
    if layer.kind == "dense":
        return int(np.count_nonzero(layer.weight))
    from neuro_deploy.energy.counts import fanout

    return int(fanout(layer).sum())


def _fit_layer(layer: LayerSpec, prof: HardwareProfile, synapses: int) -> tuple[int, _Need, str, list[Violation]]:
    lim = prof.limits
    viol: list[Violation] = []
    need_fn = {"dense": _dense_need, "input": _input_need}.get(layer.kind)
    k_min = max(1, math.ceil(layer.num_neurons / lim.neurons_per_core))
    state_mem = lim.core_memory_bytes - lim.synapse_memory_bytes_per_core

    def need(k: int) -> _Need:
        if layer.kind == "conv":
            return _conv_need(layer, k, prof, synapses)
        return need_fn(layer, k, prof)

    def failing(nd: _Need) -> str | None:
        if nd.neurons > lim.neurons_per_core:
            return "neurons per core"
        if nd.neurons * lim.neuron_state_bytes > state_mem:
            return "neuron state memory"
        if nd.synapse_bytes > lim.synapse_memory_bytes_per_core:
            return "synaptic memory"
        if nd.fanin > lim.fanin_axons_per_core:
            return "fan-in axons"
        return None

    k, limited = k_min, "neurons per core"
    reason = failing(need(k))
    first_reason = reason
    while reason is not None and k < min(MAX_SPLIT, layer.num_neurons):
        k += 1
        reason = failing(need(k))
    nd = need(k)
    if reason is not None:
        used = {"fan-in axons": nd.fanin, "synaptic memory": nd.synapse_bytes,
                "neuron state memory": nd.neurons * lim.neuron_state_bytes}.get(reason, nd.neurons)
        limit = {"fan-in axons": lim.fanin_axons_per_core,
                 "synaptic memory": lim.synapse_memory_bytes_per_core,
                 "neuron state memory": state_mem}.get(reason, lim.neurons_per_core)
        viol.append(Violation(layer.name, f"{reason} per core (no split fits)", float(used), float(limit)))
    if k > k_min and first_reason:
        limited = first_reason
    elif k == 1:
        limited = "none (fits one core)"
    return k, nd, limited, viol


def _hard_limits(layer: LayerSpec, prof: HardwareProfile) -> list[Violation]:
    lim = prof.limits
    out: list[Violation] = []
    if layer.weight is not None and layer.weight.size:
        wmax = 2 ** lim.weight_bits  # 8-bit mantissa: [-256, 254] as netx keeps it
        lo, hi = int(layer.weight.min()), int(layer.weight.max())
        if hi > wmax - 2 or lo < -wmax:
            bad = hi if hi > wmax - 2 else lo
            out.append(Violation(layer.name, "weight (8-bit mantissa, [-256, 254])", bad,
                                 wmax - 2 if bad > 0 else -wmax))
    if layer.delay is not None and layer.attrs.get("raw_delay_max", 0) > lim.max_delay:
        out.append(Violation(layer.name, "synaptic delay (steps)", layer.attrs["raw_delay_max"], lim.max_delay))
    nr = layer.neuron
    if nr.vth > 2 ** lim.threshold_mant_bits - 1:
        out.append(Violation(layer.name, "threshold mantissa", nr.vth, 2 ** lim.threshold_mant_bits - 1))
    for nm, val in (("current decay", nr.du + 1), ("voltage decay", nr.dv)):
        if not 0 <= val <= 2 ** lim.decay_bits:
            out.append(Violation(layer.name, nm, val, 2 ** lim.decay_bits))
    return out


def _mesh_xy(core: int, prof: HardwareProfile) -> tuple[int, int, int]:
    per_chip = prof.limits.cores_per_chip
    chip, local = divmod(core, per_chip)
    return chip, local % prof.costs.mesh_cols, local // prof.costs.mesh_cols


def _mean_hops(a0: int, ka: int, b0: int, kb: int, prof: HardwareProfile) -> float:
    """Mean Manhattan distance between the cores of two layers (chip crossings count as
    one mesh width each - a coarse stand-in for the chip-to-chip link)."""
    src = np.array([_mesh_xy(c, prof) for c in range(a0, a0 + ka)], dtype=float)
    dst = np.array([_mesh_xy(c, prof) for c in range(b0, b0 + kb)], dtype=float)
    if len(src) * len(dst) > 250_000:
        src, dst = src[:: max(1, len(src) // 500)], dst[:: max(1, len(dst) // 500)]
    d = (np.abs(src[:, None, 1] - dst[None, :, 1]) + np.abs(src[:, None, 2] - dst[None, :, 2])
         + np.abs(src[:, None, 0] - dst[None, :, 0]) * prof.costs.mesh_cols)
    return float(d.mean())


def fit_network(net: NetSpec, profile: HardwareProfile, strict: bool = False) -> FitResult:
    """Partition every layer onto cores under ``profile`` (see module docstring)."""
    lim = profile.limits
    layers: list[LayerFit] = []
    violations: list[Violation] = []
    ks: list[int] = []
    for layer in net.layers:
        syn = count_synapses(layer)
        violations += _hard_limits(layer, profile)
        k, nd, limited, viol = _fit_layer(layer, profile, syn)
        violations += viol
        ks.append(k)
        layers.append(LayerFit(
            name=layer.name, kind=layer.kind, neurons=layer.num_neurons, synapses=syn,
            fanin_axons=nd.fanin, synapse_bytes=int(math.ceil(nd.synapse_bytes * k)),
            memory_bytes=int(math.ceil(nd.synapse_bytes * k + layer.num_neurons * lim.neuron_state_bytes)),
            cores=k, neurons_per_core=nd.neurons, limited_by=limited, encoding=nd.encoding,
            fanin_axons_per_core=nd.fanin))
    # fan-out pass: a core of layer l has one output axon per (neuron, destination core)
    for i in range(len(layers) - 1):
        lf, nxt = layers[i], layers[i + 1]
        while math.ceil(lf.neurons / lf.cores) * nxt.cores > lim.fanout_axons_per_core \
                and lf.cores < lf.neurons:
            lf.cores += 1
            lf.limited_by = "fan-out axons"
        lf.neurons_per_core = math.ceil(lf.neurons / lf.cores)
        lf.fanout_axons_per_core = lf.neurons_per_core * nxt.cores
        if lf.fanout_axons_per_core > lim.fanout_axons_per_core:
            violations.append(Violation(lf.name, "fan-out axons per core", lf.fanout_axons_per_core,
                                        lim.fanout_axons_per_core))
    start = 0
    for lf in layers:
        lf.first_core = start
        start += lf.cores
    for a, b in zip(layers, layers[1:]):
        a.mean_hops_to_next = _mean_hops(a.first_core, a.cores, b.first_core, b.cores, profile)
    cores = sum(l.cores for l in layers)
    chips = max(1, math.ceil(cores / lim.cores_per_chip))
    if lim.chips_available is not None and chips > lim.chips_available:
        violations.append(Violation("network", "chips", chips, lim.chips_available))
    if strict and violations:
        v = violations[0]
        raise ResourceLimitError(v.layer, v.resource, v.used, v.limit)
    notes = [f"profile {profile.name}: {len(profile.assumptions())} figures are assumptions or "
             "Loihi 1 references (see the profile file)"]
    return FitResult(profile.name, not violations, cores, chips, layers, violations, notes)
