"""Fit and mapping: how many Loihi cores and chips a netx network needs, per core and why.

Intel's Loihi 2 compiler is closed; this partitioner is open and explains the per-core
table the compiler printed for lava-dl's PilotNet SDNN
(``shared/research/loihi2-compiler-tables.md``) from the netx file alone, with rules that
are stated here and whose constants live in the hardware profile.

**Weight mantissa.** A layer's weights are stored with the fewest bits that hold them: the
common trailing zero bits of all weights are dropped (netx keeps even integers, so at least
one) and a sign bit is added, ``m = bitlen(max|w| >> tz) + 1`` (the rule of
``netx.utils.optimize_weight_bits``, counted sign-magnitude).

**Synaptic memory** (``syn_mem``, in ``syn_word_bits``-bit words against the per-core
``syn_mem_words_per_core`` budget, the compiler's ``SynMem`` register):

* one header word per input axon (``axon_in``);
* dense (all-to-all) layers store, per input axon, every weight of the core's neurons with
  ``m + dense_synapse_overhead_bits`` bits each, zeros included:
  ``synapses = axon_in * ceil(n_core * (m + o_dense) / word)``;
* conv layers store the kernel once per core (shared weights): for each of the
  ``kH * kW * C_in/groups`` kernel taps, the weights of the core's output channels:
  ``synapses = taps * ceil(C_core * (m + o_conv) / word)``;
* delays add ``delay_bits`` per synapse.

On PilotNet SDNN this gives exactly the compiler's log for the dense 2560->100 layer
(``2560 * (1 + ceil(100 * 16 / 64)) = 66,560`` words on one core) and the ``Synapses``
column of the conv rows (81, 864, 1,620, 2,592, 2,880).

**Splitting.** Dense layers (and input layers) split their neurons evenly over ``k`` cores.
As the compiler's log shows, ``k`` starts at 1 and is multiplied by the worst ratio
``ceil(used / budget)`` over the core's resources (evaluated on the typical core of
``floor(N/k)`` neurons) until every core - the largest, ``ceil(N/k)`` neurons, included -
fits (dense 2560->100: 1 -> 6 -> 12 cores). Conv layers are tiled over their output:
the tile ``(x, y, c)`` (the compiler's ``Conv(x, y, c)`` note) keeps all rows and
channels and takes a power-of-two number of columns, halved from the layer width rounded
up to a power of two until the tile fits (a tile is budgeted at its full width); only
one-column tiles that still do not fit split rows, then channels. The per-core neuron
budget is ``neurons_per_core_compiler`` (the compiler split 4,096-neuron tiles of
PilotNet's conv layers 4 and 5, kept 3,072).

**Axons.** Conv connectivity uses shared axons: a conv core receives one input axon per
phase of its x stride (``axon_in = stride_x``), not one per input neuron. A dense core
receives one axon per input. Output side (``axon_map``): one entry per neuron when the
destination is dense (its spike goes to every destination core); for a conv destination,
one entry per (column, row, destination core) that the output position's receptive
fields reach, ``axon_mem`` the words those lists take (``axon_map_entry_bits`` each). The
mean number of destination cores per spike (``messages_per_spike``) feeds the energy model.

**Limits** of the profile are checked per core. A limit whose source is published or read
from Intel's compiler is a hard violation; one that rests on a Loihi 1 reference, a
simulator's bit width or an assumption only warns (``warnings``), saying why: Intel's own
tutorial networks (a dense readout threshold of 2^17, say) run on Loihi 2.

Cores are laid out in layer order on a mesh of ``mesh_cols`` columns per chip for the
mean hop distance between consecutive layers (used by the energy model).
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
HARD_KINDS = ("published", "compiler-log")


@dataclass
class CoreResources:
    """Resources of one core, under the compiler's column names (its largest core)."""

    axon_in: int = 0
    neuron_groups: int = 1
    neurons: int = 0
    synapses: int = 0  #: synapse words (``syn_word_bits`` each), headers excluded
    axon_map: int = 0
    axon_mem: int = 0
    syn_mem: int = 0  #: synapses + one header word per input axon, vs the SynMem budget


@dataclass
class LayerFit:
    name: str
    kind: str
    neurons: int
    synapses: int  #: layer total: stored connections (nonzero dense weights; conv pairs)
    cores: int
    per_core: CoreResources
    tile: list[int] | None  #: conv: per-core output tile (x, y, c) as the compiler prints it
    weight_bits: int  #: mantissa bits m incl. sign
    encoding: str
    limited_by: str
    split_log: list[str] = field(default_factory=list)
    neurons_per_core: int = 0  #: largest core
    fanin_axons: int = 0  #: input axons of the largest core (= per_core.axon_in)
    memory_bytes: int = 0  #: synaptic memory of all cores, bytes
    messages_per_spike: float = 1.0  #: mean destination cores reached by one output spike
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
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped_layers: list[str] = field(default_factory=list)
    budgets: dict[str, float] = field(default_factory=dict)  #: per-core budgets (resource -> limit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def layer(self, name: str) -> LayerFit | None:
        return next((lf for lf in self.layers if lf.name == name), None)

    def summary(self) -> str:
        """``fits on N cores of K chip(s)`` or ``does not fit ...``."""
        if self.fits:
            return f"fits on {self.cores} cores of {self.chips} chip(s)"
        return f"does not fit: {self.cores} cores, {self.chips} chip(s), {len(self.violations)} violation(s)"


# ------------------------------------------------------------------ pure helpers
def weight_mantissa_bits(weight: np.ndarray | None) -> int:
    """``m = bitlen(max|w| >> tz) + 1``: signed mantissa bits after dropping common trailing zeros."""
    if weight is None or weight.size == 0:
        return 1
    w = np.abs(np.asarray(weight, dtype=np.int64))
    wmax = int(w.max())
    if wmax == 0:
        return 1
    nz = w[w != 0]
    tz = 0
    while tz < 16 and np.all((nz >> tz) & 1 == 0):
        tz += 1
    return int(wmax >> tz).bit_length() + 1


def _pow2_ceil(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def _conv_window(tile0: int, tile: int, stride: int, pad: int, dil: int, k: int, size: int) -> tuple[int, int]:
    """Input index range [lo, hi] that outputs [tile0, tile0 + tile) read, clipped to the input."""
    lo = tile0 * stride - pad
    hi = (tile0 + tile - 1) * stride - pad + (k - 1) * dil
    return max(0, lo), min(size - 1, hi)


def dest_cores_per_input(layer: LayerSpec, tile: list[int], out_w: int, out_h: int) -> np.ndarray:
    """(H_in, W_in) number of cores of conv ``layer`` (tiled ``tile`` = (x, y, c)) that need each
    input position; multiplied by the channel splits (every channel tile reads every input)."""
    c_in, h, w = layer.in_shape_chw
    kh, kw = layer.synaptic_weight.shape[2:4]
    tx, ty, tc = tile
    dx = np.zeros(w, dtype=np.int64)
    for x0 in range(0, out_w, tx):
        lo, hi = _conv_window(x0, min(tx, out_w - x0), layer.stride[1], layer.padding[1], layer.dilation[1], kw, w)
        dx[lo : hi + 1] += 1
    dy = np.zeros(h, dtype=np.int64)
    for y0 in range(0, out_h, ty):
        lo, hi = _conv_window(y0, min(ty, out_h - y0), layer.stride[0], layer.padding[0], layer.dilation[0], kh, h)
        dy[lo : hi + 1] += 1
    c_splits = math.ceil(layer.shape_chw[0] / tc)
    return dy[:, None] * dx[None, :] * c_splits


def count_synapses(layer: LayerSpec) -> int:
    """Stored connections: nonzero dense weights; conv: every (input, output) pair of a
    nonzero kernel tap, counted with :func:`~neuro_deploy.netx.spec.fanout`."""
    if layer.kind == "input":
        return 0
    if layer.kind == "dense":
        return int(np.count_nonzero(layer.synaptic_weight))
    from neuro_deploy.netx.spec import fanout

    return int(fanout(layer).sum())


# ------------------------------------------------------------------ per-core needs
@dataclass
class _Plan:
    cores: int
    res: CoreResources
    tile: list[int] | None
    limited_by: str
    log: list[str]


def _budgets(prof: HardwareProfile) -> dict[str, float]:
    lim = prof.limits
    out: dict[str, float] = {"neurons": lim.neurons_per_core_compiler, "syn_mem": lim.syn_mem_words_per_core}
    if (
        lim.fanin_axons_per_core is not None
        and prof.provenance.get("fanin_axons_per_core", {}).get("kind") in HARD_KINDS
    ):
        out["axon_in"] = lim.fanin_axons_per_core  # splitting cannot lower a dense core's fan-in
    return out


def _worst(res: CoreResources, budgets: dict[str, float]) -> tuple[float, str]:
    worst, name = 0.0, ""
    for key, cap in budgets.items():
        r = getattr(res, key) / cap
        if r > worst:
            worst, name = r, key
    return worst, name


def _syn_bits(layer: LayerSpec, prof: HardwareProfile, overhead: int) -> int:
    extra = prof.limits.delay_bits if layer.delay is not None else 0
    return weight_mantissa_bits(layer.weight) + overhead + extra


def _dense_core(layer: LayerSpec, n_core: int, prof: HardwareProfile) -> CoreResources:
    lim = prof.limits
    a = layer.num_inputs if layer.kind == "dense" else 0
    if layer.kind == "dense":
        bits = _syn_bits(layer, prof, lim.dense_synapse_overhead_bits)
        syn = a * math.ceil(n_core * bits / lim.syn_word_bits)
    else:
        syn = 0
    return CoreResources(axon_in=a, neurons=n_core, synapses=syn, syn_mem=syn + a)


def _plan_dense(layer: LayerSpec, prof: HardwareProfile) -> _Plan:
    """Even neuron split; ``k *= ceil(worst ratio)`` of the typical core until the largest fits."""
    n = layer.num_neurons
    budgets = _budgets(prof)
    k, log, first = 1, [], ""
    while k < min(n, MAX_SPLIT):
        typical = _dense_core(layer, max(1, n // k), prof)
        ratio, what = _worst(typical, budgets)
        if ratio > 1.0:
            k_new, used = min(n, k * math.ceil(ratio)), getattr(typical, what)
        else:
            largest = _dense_core(layer, math.ceil(n / k), prof)
            ratio, what = _worst(largest, budgets)
            if ratio <= 1.0:
                break
            k_new, used = k + 1, getattr(largest, what)  # only the remainder core is over
        log.append(f"{k} core(s): {what} {used} > {budgets[what]:g} per core (ratio {ratio:.2f}) -> {k_new} cores")
        first = first or what
        k = k_new
    res = _dense_core(layer, math.ceil(n / k), prof)
    return _Plan(k, res, None, _label(first) if first else "none (fits one core)", log)


def _conv_core(layer: LayerSpec, tile: list[int], prof: HardwareProfile) -> CoreResources:
    lim = prof.limits
    tx, ty, tc = tile
    kh, kw = layer.synaptic_weight.shape[2:4]
    taps = kh * kw * (layer.in_shape_chw[0] // layer.groups)
    bits = _syn_bits(layer, prof, lim.conv_synapse_overhead_bits)
    syn = taps * math.ceil(tc * bits / lim.syn_word_bits)
    a = layer.stride[1]
    return CoreResources(axon_in=a, neurons=tx * ty * tc, synapses=syn, syn_mem=syn + a)


def _plan_conv(layer: LayerSpec, prof: HardwareProfile) -> _Plan:
    c, h, w = layer.shape_chw
    budgets = _budgets(prof)
    tile = [_pow2_ceil(w), h, c]
    log: list[str] = []
    first = ""
    while True:
        res = _conv_core(layer, tile, prof)
        ratio, what = _worst(res, budgets)
        if ratio <= 1.0:
            break
        first = first or what
        new = list(tile)
        if new[0] > 1:
            new[0] //= 2
        elif new[1] > 1:
            new[1] = math.ceil(new[1] / 2)
        elif new[2] > 1:
            new[2] = math.ceil(new[2] / 2)
        else:
            break
        log.append(f"tile Conv{tuple(tile)}: {what} {getattr(res, what)} > {budgets[what]:g} -> Conv{tuple(new)}")
        tile = new
    cores = math.ceil(w / tile[0]) * math.ceil(h / tile[1]) * math.ceil(c / tile[2])
    res = _conv_core(layer, tile, prof)
    res.neurons = min(tile[0], w) * min(tile[1], h) * min(tile[2], c)
    return _Plan(cores, res, tile, _label(first) if first else "none (fits one core)", log)


_LABELS = {"neurons": "neurons per core", "syn_mem": "synaptic memory (SynMem)", "axon_in": "input axons per core"}


def _label(what: str) -> str:
    return _LABELS.get(what, what)


#: layer kind -> planner (a registry: new layer kinds add an entry)
PLANNERS = {"dense": _plan_dense, "input": _plan_dense, "conv": _plan_conv}


# ------------------------------------------------------------------ limits
def _limit_check(layer: LayerSpec, prof: HardwareProfile) -> list[tuple[str, str, float, float]]:
    """(field, resource, used, limit) for every per-layer limit the layer exceeds."""
    lim = prof.limits
    out: list[tuple[str, str, float, float]] = []
    if layer.weight is not None and layer.weight.size:
        wmax = 2**lim.weight_bits
        lo, hi = int(layer.weight.min()), int(layer.weight.max())
        if hi > wmax - 2 or lo < -wmax:
            bad = hi if hi > wmax - 2 else lo
            out.append(
                (
                    "weight_bits",
                    f"weight ({lim.weight_bits}-bit mantissa, [{-wmax}, {wmax - 2}])",
                    bad,
                    wmax - 2 if bad > 0 else -wmax,
                )
            )
    if layer.delay is not None and layer.attrs.get("raw_delay_max", 0) > lim.max_delay:
        out.append(("max_delay", "synaptic delay (steps)", layer.attrs["raw_delay_max"], lim.max_delay))
    nr = layer.neuron
    if nr.vth > 2**lim.threshold_mant_bits - 1:
        out.append(("threshold_mant_bits", "threshold mantissa", nr.vth, 2**lim.threshold_mant_bits - 1))
    for nm, val in (("current decay", nr.du + 1), ("voltage decay", nr.dv)):
        if not 0 <= val <= 2**lim.decay_bits:
            out.append(("decay_bits", nm, val, 2**lim.decay_bits))
    return out


def _classify(
    prof: HardwareProfile,
    fld: str,
    layer: str,
    resource: str,
    used: float,
    limit: float,
    violations: list[Violation],
    warnings: list[str],
) -> None:
    kind = prof.provenance.get(fld, {}).get("kind", "published")
    if kind in HARD_KINDS:
        violations.append(Violation(layer, resource, used, limit))
    else:
        src = prof.provenance.get(fld, {}).get("source", "")
        warnings.append(
            f"{layer}: {resource} {used:g} exceeds {limit:g}, a limit that rests on a "
            f"{kind} figure ({src}); warned, not refused: no published Loihi 2 figure or "
            f"compiler output says a chip refuses it"
        )


# ------------------------------------------------------------------ mesh
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
    d = (
        np.abs(src[:, None, 1] - dst[None, :, 1])
        + np.abs(src[:, None, 2] - dst[None, :, 2])
        + np.abs(src[:, None, 0] - dst[None, :, 0]) * prof.costs.mesh_cols
    )
    return float(d.mean())


def _output_side(
    src: LayerSpec, plan: _Plan, dst: LayerSpec | None, dst_plan: _Plan | None, prof: HardwareProfile
) -> float:
    """Fill ``axon_map``/``axon_mem`` of ``src``'s largest core; return messages per spike."""
    lim = prof.limits
    n_core = plan.res.neurons
    if dst is None or dst_plan is None:
        plan.res.axon_map = n_core
        return 1.0
    if dst.kind != "conv" or dst_plan.tile is None:
        plan.res.axon_map = n_core
        return float(dst_plan.cores)
    c_out, out_h, out_w = dst.shape_chw
    d = dest_cores_per_input(dst, dst_plan.tile, out_w, out_h)  # (H_in, W_in)
    mean_msgs = float(d.mean())
    # the source core's positions: its own tile when conv, else an even share of positions
    if plan.tile is not None:
        tx, ty = plan.tile[0], plan.tile[1]
        per_x = [int(d[:ty, x0 : x0 + tx].sum()) for x0 in range(0, d.shape[1], tx)]
        entries = max(per_x) if per_x else 0
    else:
        entries = math.ceil(int(d.sum()) / max(1, plan.cores))
    plan.res.axon_map = entries
    plan.res.axon_mem = math.ceil(entries * lim.axon_map_entry_bits / lim.syn_word_bits)
    return mean_msgs


def _fanout_check(prof: HardwareProfile, lf: LayerFit) -> Violation | None:
    lim = prof.limits
    if lim.fanout_axons_per_core is None:
        return None
    used = math.ceil(lf.neurons_per_core * lf.messages_per_spike)
    if used > lim.fanout_axons_per_core:
        return Violation(lf.name, "fan-out axons per core", used, lim.fanout_axons_per_core)
    return None


# ------------------------------------------------------------------ main entry
def fit_network(net: NetSpec, profile: HardwareProfile, strict: bool = False, skip_input: bool = False) -> FitResult:
    """Partition every layer onto cores under ``profile`` (see module docstring).

    ``skip_input`` leaves the first layer on the host, as netx's ``skip_layers=1`` does
    (the host encodes the input and streams it to the second layer).
    """
    lim = profile.limits
    layers_in = list(net.layers)
    skipped: list[str] = []
    if skip_input and layers_in:
        skipped = [layers_in[0].name]
        layers_in = layers_in[1:]
    violations: list[Violation] = []
    warnings: list[str] = []
    plans: list[_Plan] = []
    for layer in layers_in:
        for fld, res, used, limit in _limit_check(layer, profile):
            _classify(profile, fld, layer.name, res, used, limit, violations, warnings)
        plan = PLANNERS[layer.kind](layer, profile)
        if (
            lim.fanin_axons_per_core is not None
            and plan.res.axon_in > lim.fanin_axons_per_core
            and "axon_in" not in _budgets(profile)
        ):
            _classify(
                profile,
                "fanin_axons_per_core",
                layer.name,
                "input axons per core",
                plan.res.axon_in,
                lim.fanin_axons_per_core,
                violations,
                warnings,
            )
        ratio, what = _worst(plan.res, _budgets(profile))
        if ratio > 1.0:
            violations.append(
                Violation(
                    layer.name,
                    f"{_label(what)} per core (no split fits)",
                    float(getattr(plan.res, what)),
                    float(_budgets(profile)[what]),
                )
            )
        plans.append(plan)
    out: list[LayerFit] = []
    for i, (layer, plan) in enumerate(zip(layers_in, plans)):
        nxt = layers_in[i + 1] if i + 1 < len(layers_in) else None
        nplan = plans[i + 1] if i + 1 < len(plans) else None
        msgs = _output_side(layer, plan, nxt, nplan, profile)
        encoding = {"dense": "dense", "conv": "conv (shared kernel)", "input": "none"}[layer.kind]
        out.append(
            LayerFit(
                name=layer.name,
                kind=layer.kind,
                neurons=layer.num_neurons,
                synapses=count_synapses(layer),
                cores=plan.cores,
                per_core=plan.res,
                tile=plan.tile,
                weight_bits=weight_mantissa_bits(layer.weight),
                encoding=encoding,
                limited_by=plan.limited_by,
                split_log=plan.log,
                neurons_per_core=plan.res.neurons,
                fanin_axons=plan.res.axon_in,
                memory_bytes=int(plan.res.syn_mem * plan.cores * lim.syn_word_bits // 8),
                messages_per_spike=msgs,
            )
        )
    for lf in out:
        v = _fanout_check(profile, lf)
        if v is not None:
            _classify(profile, "fanout_axons_per_core", v.layer, v.resource, v.used, v.limit, violations, warnings)
    start = 0
    for lf in out:
        lf.first_core = start
        start += lf.cores
    for a, b in zip(out, out[1:]):
        a.mean_hops_to_next = _mean_hops(a.first_core, a.cores, b.first_core, b.cores, profile)
    cores = sum(lf.cores for lf in out)
    chips = max(1, math.ceil(cores / lim.cores_per_chip))
    if lim.chips_available is not None and chips > lim.chips_available:
        violations.append(Violation("network", "chips", chips, lim.chips_available))
    if strict and violations:
        v = violations[0]
        raise ResourceLimitError(v.layer, v.resource, v.used, v.limit)
    notes = [
        f"profile {profile.name}: {len(profile.assumptions())} figures are assumptions, "
        "Loihi 1 references or read from a compiler log (see the profile file)"
    ]
    if skipped:
        notes.append(f"{', '.join(skipped)} runs on the host (skip_layers=1): not mapped")
    return FitResult(
        profile.name, not violations, cores, chips, out, violations, warnings, notes, skipped, dict(_budgets(profile))
    )


def compiler_table(res: FitResult) -> list[str]:
    """The per-core table in the layout of Intel's compiler log (output layer first)."""
    cols = ("axon_in", "neuron_groups", "neurons", "synapses", "axon_map", "axon_mem", "syn_mem")
    heads = ("AxonIn", "NeuronGr", "Neurons", "Synapses", "AxonMap", "AxonMem", "SynMem")
    lines = ["| layer    |" + "|".join(f"{h:>8s}" for h in heads) + "|  Cores | tile / limited by"]
    for lf in reversed(res.layers):
        vals = "|".join(f"{getattr(lf.per_core, c):8d}" for c in cols)
        tile = f"Conv{tuple(lf.tile)}" if lf.tile else ""
        lines.append(f"| {lf.name:8s} |{vals}|{lf.cores:8d}| {tile} {lf.limited_by}".rstrip())
    lines.append(f"| Total{'':67s}|{res.cores:8d}|")
    return lines
