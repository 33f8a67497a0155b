"""Energy and latency on Loihi as pure functions of activity counts x hardware profile.

Per layer *l* (counts summed over a run of ``S`` samples, ``k_l`` cores from the fit):

.. math::

    E^{dyn}_l &= N^{syn}_l e_{syn} + U^{act}_l e_{upd,act} + U^{idle}_l e_{upd,idle}
                + M_l (e_{spike} + \\bar h_l e_{hop}) \\\\
    M_l &= \\text{spikes}_l \\cdot \\bar D_l  \\quad (\\text{one message per destination core}) \\\\
    t_{core,l}(t) &= \\frac{n^{max}_l}{N_l}\\left(N^{syn}_l(t) t_{syn} + U^{act}_l(t) t_{upd,act}
                    + U^{idle}_l(t) t_{upd,idle} + \\text{spikes}_l(t) t_{spike}\\right) \\\\
    t_{step}(t) &= \\max_l t_{core,l}(t) + \\bar h_{max} t_{hop} + t_{barrier} \\\\
    E^{static} &= P_{static} \\cdot \\text{chips} \\cdot \\sum_t t_{step}(t)

:math:`\\bar D_l` is the mean number of destination cores one spike of layer *l* reaches
under the mapping (:attr:`~neuro_deploy.hardware.fit.LayerFit.messages_per_spike`): every
core of a dense destination, only the tiles whose receptive fields cover the source
position for a conv destination (a conv spike is not broadcast to the whole next layer),
one message to the host for the output layer. A layer's work is spread over its cores in
proportion to their neurons; the busiest (largest, :math:`n^{max}_l` neurons) core sets the
layer's time; all cores work in parallel and a barrier ends every step. Layers the fit
leaves on the host (``skip_input``) cost nothing on the chip.

Every per-op figure may carry a ``range`` in the profile; :func:`estimate_cost` evaluates
the model at all-low and all-high figures as well and reports the band
(``*_band`` fields) with what it rests on. Per inference:
``energy_per_inference = (sum_l E^dyn_l + E^static) / S``; ``latency = sum_t t_step(t) / S``
over the steps of one sample; ``EDP = energy x latency``. Every assumption is listed in
:func:`assumptions` and in each report.

The dense-ANN comparison counts the multiply-accumulates of the same layers evaluated
as a conventional network (dense: ``in x out``; conv: ``C_out H_out W_out C_in/g kH kW``),
once per time step (a frame-by-frame ANN at the same temporal resolution) and once per
inference, at the energy per MAC of :data:`ANN_REFERENCES`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from neuro_deploy.energy.counts import LayerCounts
from neuro_deploy.hardware.fit import FitResult
from neuro_deploy.hardware.profile import Costs, HardwareProfile
from neuro_deploy.netx.spec import NetSpec

PJ_PER_UJ = 1e6
NS_PER_US = 1e3

#: Energy per MAC of conventional hardware, with sources (arithmetic only unless stated).
ANN_REFERENCES = {
    "fp32-45nm": {
        "pj_per_mac": 4.6,
        "source": "Horowitz, ISSCC 2014: 45 nm FP32 multiply 3.7 pJ + "
        "add 0.9 pJ; arithmetic only, no memory access (a lower bound for a CPU/GPU)",
    },
    "int8-45nm": {
        "pj_per_mac": 0.23,
        "source": "Horowitz, ISSCC 2014: 45 nm INT8 multiply 0.2 pJ + "
        "add 0.03 pJ; arithmetic only (lower bound for an int8 accelerator)",
    },
}


@dataclass
class LayerCost:
    """One layer, per inference (counts averaged over the samples of the run)."""

    name: str
    kind: str
    cores: int
    synops: float
    neuron_updates: float
    active_neuron_updates: float
    spikes: float
    messages: float
    mean_hops: float
    synop_energy_uj: float
    neuron_energy_uj: float
    spike_energy_uj: float
    dynamic_energy_uj: float
    busy_time_us: float  #: summed per-core work time of this layer over the run
    activation_sparsity: float  #: 1 - spikes / (neurons x steps x samples)


@dataclass
class CostReport:
    """Totals per inference (one sample of ``steps_per_inference`` steps)."""

    profile: str
    samples: int
    steps_per_inference: int
    cores: int
    chips: int
    synops: float
    neuron_updates: float
    active_neuron_updates: float
    spikes: float
    dynamic_energy_uj: float  #: per inference
    static_energy_uj: float  #: per inference
    energy_per_inference_uj: float
    time_per_step_us: float
    latency_us: float
    edp_uj_us: float
    layers: list[LayerCost]
    fits_summary: str = ""
    dynamic_energy_uj_band: list[float] = field(default_factory=list)  #: [low, high]
    energy_per_inference_uj_band: list[float] = field(default_factory=list)
    time_per_step_us_band: list[float] = field(default_factory=list)
    band_basis: str = ""
    ann_comparison: dict[str, Any] = field(default_factory=dict)
    neurobench: dict[str, Any] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assumptions(profile: HardwareProfile) -> list[str]:
    """The modelling assumptions behind every number (plus the profile's own)."""
    return [
        "Dynamic energy = synops x e_synop + active/idle neuron updates x e_update + messages x "
        "(e_spike + mean hops x e_hop); one message per (spike, destination core) under the fit's "
        "mapping: every core of a dense destination, the covering tiles of a conv destination.",
        "Every neuron is updated every step; an update is active when the neuron receives synaptic "
        "input, has a bias or spikes, idle otherwise.",
        "A layer's work is spread over its cores in proportion to their neurons; all cores run in "
        "parallel and each step ends with a barrier: t_step = max over layers of the largest core's "
        "work + max hops x t_hop + t_barrier.",
        "Static energy = static power per chip x chips x run time (sum of step times).",
        "Layers occupy disjoint cores laid out in order on the mesh (see fit); hops are mean "
        "Manhattan distances between consecutive layers' cores.",
        "Spikes (binary or graded) are one message each; the input from the host and layers left "
        "on the host cost nothing on the chip.",
        "Uncertainty band: the model evaluated with every per-op figure at the low and at the high "
        "end of its profile range (Loihi 1 figures on Intel 4, speed-ups from Intel's brief, the "
        "spread of board static power); board runs of one network also vary by tens of percent.",
    ] + profile.assumptions()


def ann_macs(net: NetSpec) -> int:
    """Multiply-accumulates of one evaluation of the network's synaptic layers as an ANN."""
    total = 0
    for layer in net.layers:
        if layer.kind == "dense":
            total += int(layer.synaptic_weight.shape[0] * layer.synaptic_weight.shape[1])
        elif layer.kind == "conv":
            co, ho, wo = layer.shape_chw
            _, ci, kh, kw = layer.synaptic_weight.shape
            total += int(co * ho * wo * ci * kh * kw)
    return total


def estimate_cost(net: NetSpec, counts: list[LayerCounts], fit: FitResult, profile: HardwareProfile) -> CostReport:
    """Energy and latency for the run the ``counts`` describe (see module docstring), with the
    uncertainty band from the profile's cost ranges."""
    rep = _evaluate(net, counts, fit, profile, profile.costs)
    lo = _evaluate(net, counts, fit, profile, _scaled_costs(profile, 0))
    hi = _evaluate(net, counts, fit, profile, _scaled_costs(profile, 1))
    rep.dynamic_energy_uj_band = [lo.dynamic_energy_uj, hi.dynamic_energy_uj]
    rep.energy_per_inference_uj_band = [lo.energy_per_inference_uj, hi.energy_per_inference_uj]
    rep.time_per_step_us_band = [lo.time_per_step_us, hi.time_per_step_us]
    ranged = [
        f"{k} x[{a:g}, {b:g}]"
        for k in (f.name for f in fields(Costs))
        for a, b in [profile.cost_range(k)]
        if (a, b) != (1.0, 1.0)
    ]
    rep.band_basis = (
        "every per-op figure at the low / high end of its range in the profile: " + ", ".join(ranged)
        if ranged
        else "the profile gives no ranges: no band"
    )
    return rep


def fit_and_cost(
    net: NetSpec, counts: list[LayerCounts], profile: HardwareProfile | str = "loihi2", skip_input: bool = False
) -> tuple[FitResult, CostReport]:
    """Fit ``net`` to a hardware profile (an object, a name or a YAML path) and cost the run
    ``counts`` describe (:func:`estimate_cost`): the one step from a simulated run to fit,
    energy and latency that ``deploy``, ``report``, the demo and the benchmarks share.
    ``skip_input`` leaves the input layer on the host (netx ``skip_layers=1``)."""
    from neuro_deploy.hardware.fit import fit_network
    from neuro_deploy.hardware.profile import load_profile

    prof = profile if isinstance(profile, HardwareProfile) else load_profile(profile)
    fit = fit_network(net, prof, skip_input=skip_input)
    return fit, estimate_cost(net, counts, fit, prof)


def _scaled_costs(profile: HardwareProfile, end: int) -> Costs:
    vals = {}
    for f in fields(Costs):
        v = getattr(profile.costs, f.name)
        vals[f.name] = v if f.name == "mesh_cols" else v * profile.cost_range(f.name)[end]
    return replace(profile.costs, **vals)


def _evaluate(
    net: NetSpec, counts: list[LayerCounts], fit: FitResult, profile: HardwareProfile, c: Costs
) -> CostReport:
    fitted = [(lc, lf) for lc in counts if (lf := fit.layer(lc.name)) is not None]  # host layers cost nothing
    counts = [lc for lc, _ in fitted]
    samples = max(1, counts[0].samples) if counts else 1
    steps = counts[0].steps if counts else 0
    layers: list[LayerCost] = []
    step_work_ns = np.zeros((len(counts), steps))
    for i, (lc, lf) in enumerate(fitted):
        last = i + 1 == len(counts)
        spikes = int(lc.output_spikes.sum())
        messages = spikes * lf.messages_per_spike
        hops = 0.0 if last else lf.mean_hops_to_next
        idle = lc.neuron_updates - lc.active_updates
        e_syn = float(lc.synops.sum()) * c.e_synop_pj
        e_neu = lc.active_updates * c.e_neuron_update_active_pj + idle * c.e_neuron_update_idle_pj
        e_spk = messages * (c.e_spike_in_core_pj + hops * c.e_hop_pj)
        # per-step work: synops and spikes per step; updates split active/idle in proportion
        act_frac = lc.active_updates / max(1, lc.neuron_updates)
        upd_per_step = lc.neurons * (lc.samples_per_step if lc.samples_per_step is not None else samples)
        work = (
            lc.synops * c.t_synop_ns
            + upd_per_step * (act_frac * c.t_neuron_update_active_ns + (1 - act_frac) * c.t_neuron_update_idle_ns)
            + lc.output_spikes * c.t_spike_out_ns
        )
        share = lf.neurons_per_core / max(1, lc.neurons)  # the largest core's share of the layer
        step_work_ns[i] = work * min(1.0, share) / samples
        layers.append(
            LayerCost(
                name=lc.name,
                kind=lc.kind,
                cores=lf.cores,
                synops=float(lc.synops.sum()) / samples,
                neuron_updates=lc.neuron_updates / samples,
                active_neuron_updates=lc.active_updates / samples,
                spikes=spikes / samples,
                messages=messages / samples,
                mean_hops=hops,
                synop_energy_uj=e_syn / PJ_PER_UJ / samples,
                neuron_energy_uj=e_neu / PJ_PER_UJ / samples,
                spike_energy_uj=e_spk / PJ_PER_UJ / samples,
                dynamic_energy_uj=(e_syn + e_neu + e_spk) / PJ_PER_UJ / samples,
                busy_time_us=float(work.sum()) / NS_PER_US / samples,
                activation_sparsity=1.0 - spikes / max(1, lc.neuron_updates),
            )
        )
    max_hops = max([l.mean_hops for l in layers] + [0.0])
    # a sample's steps end with its own length: routing and barrier are paid while it runs
    running = (
        np.asarray(counts[0].samples_per_step, dtype=float)
        if counts and counts[0].samples_per_step is not None
        else np.full(steps, float(samples))
    )
    frac = running / samples
    t_step_ns = (step_work_ns.max(axis=0) if len(counts) else np.zeros(steps)) + frac * (
        max_hops * c.t_hop_ns + c.t_barrier_ns
    )
    latency_us = float(t_step_ns.sum()) / NS_PER_US
    mean_steps = float(frac.sum()) or 1.0
    static_uj = c.static_power_w_per_chip * fit.chips * latency_us  # W x us = uJ
    dynamic_uj = sum(l.dynamic_energy_uj for l in layers)
    energy = dynamic_uj + static_uj
    macs = ann_macs(net)
    references: dict[str, dict[str, Any]] = {}
    for key, ref in ANN_REFERENCES.items():
        pj = float(ref["pj_per_mac"])  # type: ignore[arg-type]
        e_frame = macs * steps * pj / PJ_PER_UJ
        references[key] = {
            **ref,
            "energy_per_inference_uj": e_frame,
            "energy_single_pass_uj": macs * pj / PJ_PER_UJ,
            "loihi_vs_ann_ratio": e_frame / energy if energy else None,
        }
    ann: dict[str, Any] = {
        "macs_per_step": macs,
        "macs_per_inference_framewise": macs * steps,
        "references": references,
    }
    weights = [l.weight for l in net.layers if l.weight is not None]
    n_w = sum(int(w.size) for w in weights)
    syn_total = sum(l.synops for l in layers)
    neurobench = {
        "synaptic_operations_per_inference": syn_total,
        "effective_macs_per_inference": 0.0,
        "effective_acs_per_inference": syn_total,
        "activation_sparsity": 1.0
        - sum(l.spikes for l in layers) / max(1, sum(lc.neuron_updates for lc in counts) / samples),
        "connection_sparsity": 1.0 - sum(int(np.count_nonzero(w)) for w in weights) / max(1, n_w),
        "footprint_bytes": int(sum(lf.memory_bytes for lf in fit.layers)),
        "parameter_count": n_w,
    }
    return CostReport(
        profile=profile.name,
        samples=samples,
        steps_per_inference=steps,
        cores=fit.cores,
        chips=fit.chips,
        synops=syn_total,
        neuron_updates=sum(l.neuron_updates for l in layers),
        active_neuron_updates=sum(l.active_neuron_updates for l in layers),
        spikes=sum(l.spikes for l in layers),
        dynamic_energy_uj=dynamic_uj,
        static_energy_uj=static_uj,
        energy_per_inference_uj=energy,
        time_per_step_us=latency_us / mean_steps,
        latency_us=latency_us,
        edp_uj_us=energy * latency_us,
        layers=layers,
        fits_summary=fit.summary(),
        ann_comparison=ann,
        neurobench=neurobench,
        assumptions=assumptions(profile),
    )
