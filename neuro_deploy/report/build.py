"""Run a workload on a network, then combine counts, fit and cost model into one report.

A workload is one of: an explicit input (``--input`` / ``--input-bias`` / ``--steps``,
as ``run`` takes them), a labelled data set (``--dataset``), or recordings replayed
(``--recordings`` with ``--labels`` and ``--dt-us``). The report's top level is per
inference; ``layers`` hold per-layer counts and energy.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy.cluster import Execution
from neuro_deploy.errors import BadInputError
from neuro_deploy.netx.spec import NetSpec

REPORT_SCHEMA = "neuro-deploy-report/1"


@dataclass
class Workload:
    """What to run. Exactly one of: inputs/input_bias/steps; dataset; recordings."""

    steps: int | None = None
    inputs: np.ndarray | None = None  #: one sample, net.inp.shape + (T,)
    input_bias: np.ndarray | None = None
    input_fit: str = "exact"  #: inputs vs steps: exact | pad | tile (sim.base.fit_input_length)
    reset_interval: int | None = None
    dataset: str | None = None
    root: str | None = None
    limit: int = 200
    recordings: list[str] = field(default_factory=list)
    labels: str | None = None
    dt_us: int | None = None
    backend: str = "fast"
    replay_options: dict[str, Any] = field(default_factory=dict)
    time_origin: str | None = None  #: default: the network's (its metadata)
    progress: bool = False  #: progress reports (neuro_deploy._progress)
    execution: Execution | None = None  #: where batches / shards run (default: this process)


@dataclass
class WorkloadResult:
    kind: str
    counts: list  #: LayerCounts summed over samples
    samples: int
    steps: int
    accuracy: float | None
    accuracy_vs_step: list[float]
    raster: dict[str, np.ndarray]  #: layer name -> (T, N) spikes of the first sample
    wall_s: float
    description: str
    skipped: list[dict[str, str]] = field(default_factory=list)  #: recordings left out (--on-error)
    partial: list[dict[str, Any]] = field(default_factory=list)  #: recordings kept in part
    notes: list[str] = field(default_factory=list)  #: warnings about the inputs


def run_workload(net: NetSpec, w: Workload) -> WorkloadResult:
    from neuro_deploy._progress import task
    from neuro_deploy.energy.counts import count_activity, lava_to_trains
    from neuro_deploy.sim import RunSpec, get_backend
    from neuro_deploy.sim.fast import source_spikes

    t0 = time.perf_counter()
    chosen = sum(
        [
            w.dataset is not None,
            bool(w.recordings),
            # --steps alone is the input workload; with recordings it is their window
            w.inputs is not None or w.input_bias is not None or (w.steps is not None and not w.recordings),
        ]
    )
    if chosen != 1:
        raise BadInputError("give exactly one workload: --input/--input-bias/--steps, --dataset, or --recordings")
    if w.recordings:
        return _replay_workload(net, w, t0)
    if w.dataset is not None:
        return _dataset_workload(net, w, t0)
    if w.steps is None:
        raise BadInputError("--steps is required with --input/--input-bias")
    x = None
    if w.inputs is not None:
        from neuro_deploy.sim.base import fit_input_length

        x = fit_input_length(np.asarray(w.inputs), w.steps, w.input_fit, "--input")[None]
    spec = RunSpec(steps=w.steps, inputs=x, input_bias=w.input_bias, reset_interval=w.reset_interval)
    with task(w.steps, f"report on {w.backend}", "steps", enabled=w.progress) as bar:
        res = get_backend(w.backend).run(net, spec)
        bar.update(max(0, w.steps - bar.n))
    trains = res.extra.get("trains") or lava_to_trains(net, res.spikes)
    counts = count_activity(
        net, trains, source_spikes(spec, net, spec.steps) if net.layers[0].kind != "input" else None, w.input_bias
    )
    raster = {l.name: t[:, 0] for l, t in zip(net.layers, trains)}
    desc = f"one input, {w.steps} steps" + (" (bias-driven)" if w.input_bias is not None else "")
    return WorkloadResult("input", counts, 1, w.steps, None, [], raster, time.perf_counter() - t0, desc)


def _dataset_workload(net: NetSpec, w: Workload, t0: float) -> WorkloadResult:
    from neuro_deploy.data import load_dataset
    from neuro_deploy.data.splits import recorded_split
    from neuro_deploy.netx.meta import binning_for, read_meta
    from neuro_deploy.sim.evaluate import evaluate_deployed
    from neuro_deploy.sim.replay import running_decisions

    meta = read_meta(net.path)
    binning = binning_for(meta, w.dt_us, w.steps, w.time_origin, what=str(net.path))
    dt = binning.dt_us
    ds = load_dataset(w.dataset, root=w.root, progress=False)
    _, val, split, split_notes = recorded_split(ds, meta, what=Path(net.path).name)  # the model's held-out part
    val = val.subset(np.arange(min(w.limit, len(val))))
    x, lengths = val.bin(binning)
    steps = binning.num_steps or int(lengths.max(initial=1))
    ev = evaluate_deployed(
        net, x, val.labels, backend=w.backend, lengths=lengths, progress=w.progress, execution=w.execution
    )
    curve = []
    if ev.trains_last is not None:
        dec = running_decisions(ev.trains_last)
        curve = (dec == val.labels[None, :]).mean(1).round(6).tolist()
    raster = _first_sample_raster(net, x[:1, ..., : int(lengths[0]) if len(lengths) else None])
    return WorkloadResult(
        "dataset",
        ev.counts,
        ev.samples,
        ev.steps,
        ev.accuracy,
        curve,
        raster,
        time.perf_counter() - t0,
        f"{w.dataset} validation split ({split.val_fraction:g}, seed {split.seed}), {ev.samples} "
        f"samples, dt {dt} us, {steps} steps from t0 = {binning.time_origin}",
        notes=split_notes,
    )


def _replay_workload(net: NetSpec, w: Workload, t0: float) -> WorkloadResult:
    from neuro_deploy.data.datasets import read_labels
    from neuro_deploy.sim.replay import ReplayConfig, replay

    if not w.dt_us:
        raise BadInputError("--dt-us is required with --recordings")
    cfg = ReplayConfig(
        dt_us=w.dt_us,
        backend=w.backend,
        steps=w.steps,
        time_origin=w.time_origin,
        execution=w.execution,
        **w.replay_options,
    )
    res = replay(net, w.recordings, cfg, read_labels(w.labels) if w.labels else None, progress=w.progress)
    from neuro_deploy.sim.replay import input_geometry, load_recording, resolve_config

    x, _ = load_recording(Path(res.samples[0].file), input_geometry(net), resolve_config(net, cfg))
    return WorkloadResult(
        "recordings",
        res.counts,
        len(res.samples),
        res.counts[0].steps,
        res.accuracy,
        res.accuracy_vs_step,
        _first_sample_raster(net, x[None]),
        time.perf_counter() - t0,
        f"{len(res.samples)} recordings replayed at dt {w.dt_us} us"
        + (f", {len(res.skipped)} skipped" if res.skipped else ""),
        res.skipped,
        res.partial,
        res.notes,
    )


def _first_sample_raster(net: NetSpec, tensors: np.ndarray) -> dict[str, np.ndarray]:
    """Spike trains (T, N) of every layer for one sample (fast backend), for the raster plot."""
    from neuro_deploy.netx.spec import encode_for_net
    from neuro_deploy.sim import RunSpec, get_backend

    x = encode_for_net(net, tensors)
    x = np.concatenate([x, np.zeros(x.shape[:-1] + (len(net),), x.dtype)], axis=-1)
    res = get_backend("fast").run(net, RunSpec(steps=x.shape[-1], inputs=x))
    return {l.name: t[:, 0] for l, t in zip(net.layers, res.extra["trains"])}


@dataclass
class ModelReport:
    schema: str
    network: str
    profile: str
    workload: str
    backend: str
    accuracy: float | None
    samples: int
    steps_per_inference: int
    synops: float
    neuron_updates: float
    spikes: float
    energy_per_inference_uj: float
    dynamic_energy_uj: float
    static_energy_uj: float
    time_per_step_us: float
    latency_us: float
    edp_uj_us: float
    cores: int
    chips: int
    fits: bool
    layers: list[dict[str, Any]]
    fit: dict[str, Any]
    ann_comparison: dict[str, Any]
    neurobench: dict[str, Any]
    accuracy_vs_step: list[float]
    assumptions: list[str]
    wall_s: float
    fits_summary: str = ""
    skip_input: bool = False
    dynamic_energy_uj_band: list[float] = field(default_factory=list)  #: [low, high]
    energy_per_inference_uj_band: list[float] = field(default_factory=list)
    time_per_step_us_band: list[float] = field(default_factory=list)
    band_basis: str = ""
    skipped: list[dict[str, str]] = field(default_factory=list)  #: file, reason, error (--on-error)
    partial: list[dict[str, Any]] = field(default_factory=list)  #: file, offset, reason, events kept
    input_warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_report(
    net: NetSpec, workload: Workload, profile_name: Any = "loihi2", skip_input: bool = False
) -> tuple[ModelReport, WorkloadResult]:
    """Run the workload, fit the network and cost the run
    (:func:`~neuro_deploy.energy.cost.fit_and_cost`; ``profile_name``: a name, YAML path or
    profile); ``skip_input`` leaves the input layer on the host (netx ``skip_layers=1``):
    simulated, but neither mapped nor costed."""
    from neuro_deploy.energy.cost import fit_and_cost
    from neuro_deploy.hardware.profile import HardwareProfile, load_profile

    profile = profile_name if isinstance(profile_name, HardwareProfile) else load_profile(profile_name)  # before work
    wr = run_workload(net, workload)
    fit, cost = fit_and_cost(net, wr.counts, profile, skip_input=skip_input)
    counts_by_name = {c.name: c for c in wr.counts}
    layers = []
    for lc in cost.layers:
        d = asdict(lc)
        lf = fit.layer(lc.name)
        counts = counts_by_name[lc.name]
        d.update(
            neurons=lf.neurons,
            synapses=lf.synapses,
            memory_bytes=lf.memory_bytes,
            limited_by=lf.limited_by,
            input_spikes=float(counts.input_spikes.sum()) / max(1, counts.samples),
            spike_rate=float(lc.spikes) / max(1, lf.neurons * cost.steps_per_inference),
            per_core=asdict(lf.per_core),
            tile=lf.tile,
            messages_per_spike=lf.messages_per_spike,
        )
        layers.append(d)
    rep = ModelReport(
        schema=REPORT_SCHEMA,
        network=str(net.path),
        profile=cost.profile,
        workload=wr.description,
        backend=workload.backend,
        accuracy=wr.accuracy,
        samples=cost.samples,
        steps_per_inference=cost.steps_per_inference,
        synops=cost.synops,
        neuron_updates=cost.neuron_updates,
        spikes=cost.spikes,
        energy_per_inference_uj=cost.energy_per_inference_uj,
        dynamic_energy_uj=cost.dynamic_energy_uj,
        static_energy_uj=cost.static_energy_uj,
        time_per_step_us=cost.time_per_step_us,
        latency_us=cost.latency_us,
        edp_uj_us=cost.edp_uj_us,
        cores=fit.cores,
        chips=fit.chips,
        fits=fit.fits,
        layers=layers,
        fit=fit.to_dict(),
        ann_comparison=cost.ann_comparison,
        neurobench=cost.neurobench,
        accuracy_vs_step=wr.accuracy_vs_step,
        assumptions=cost.assumptions,
        wall_s=wr.wall_s,
        fits_summary=fit.summary(),
        skip_input=skip_input,
        dynamic_energy_uj_band=cost.dynamic_energy_uj_band,
        energy_per_inference_uj_band=cost.energy_per_inference_uj_band,
        time_per_step_us_band=cost.time_per_step_us_band,
        band_basis=cost.band_basis,
        skipped=wr.skipped,
        partial=wr.partial,
        input_warnings=wr.notes,
    )
    return rep, wr
