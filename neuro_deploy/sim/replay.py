"""Replay DVS recordings through a netx network and score them.

Each recording is decoded (any supported format, identified by content; bad files
handled by ``on_error``, see :mod:`neuro_deploy.events.collection`: skipped ones are listed
in ``skipped``, truncated ones kept in part in ``partial``), optionally preprocessed (tonic's
``Denoise``/``RefractoryPeriod``, then crop and downsample), binned into the network's
input layout with the network's own :class:`~neuro_deploy.events.tensor.Binning` (the
one ``evaluate`` and training use: time origin and window from the export metadata,
unless ``time_origin``/``steps`` override them; a network without a window gets each
recording for its own length), and run for ``steps + len(net)`` steps on a backend. Per
recording:

* ``predicted`` = output neuron with the most spikes (ties: lowest index);
* ``latency_steps`` = the (1-based) simulation step from which on the running arg-max of
  the cumulative output counts never changes again (the decision is stable), counted
  from the first input step and including the network's one-step-per-layer pipeline
  delay, as it would be on the chip; ``time_to_first_correct_steps`` = first step at
  which the running arg-max equals the label (null without label or never);
* spikes and synaptic operations per layer.

Recordings are split into tasks of contiguous recordings (:mod:`neuro_deploy.cluster`:
one per process with ``--workers N``, ``shard_size`` recordings per task on Ray), each
task decoding its share (sent along, so Ray nodes need no shared file system) and
simulating it in batches of ``batch_size``. Every recording is simulated and counted for
its own length plus the ``len(net)`` drain steps, whatever else is in its batch
(:func:`neuro_deploy.sim.evaluate.run_tensors`), and batches are combined in recording
order with :func:`neuro_deploy.energy.counts.merge_counts`: no figure depends on the
executor, the worker count, the task size or the batch size.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuro_deploy.cluster import Execution, open_session, progress_bar
from neuro_deploy.energy.counts import merge_counts
from neuro_deploy.errors import BadInputError, ShapeError
from neuro_deploy.events.collection import RECORDING_SUFFIXES, expand_inputs  # noqa: F401 - public here too
from neuro_deploy.events.readers import Recording
from neuro_deploy.netx.spec import NetSpec

if TYPE_CHECKING:
    from neuro_deploy.events.tensor import Binning

REPLAY_SCHEMA = "neuro-deploy-replay/1"


@dataclass
class ReplayConfig:
    dt_us: int
    backend: str = "fast"
    steps: int | None = None                  #: input steps per recording (default: the network's
    #: window from its metadata, else each recording's own length)
    sensor_size: tuple[int, int] | None = None
    crop: tuple[int, int, int, int] | None = None      #: x0, y0, width, height
    downsample: float | None = None
    denoise_us: int | None = None
    refractory_us: int | None = None
    workers: int = 1                          #: local processes (``execution`` overrides)
    batch_size: int = 64
    evt3_timing: str = "spec"
    fmt: str | None = None                    #: force a reader (``--format``); default: by content
    on_error: str = "fail"                    #: fail | skip | keep-partial (events.collection)
    time_origin: str | None = None            #: default: the network's (metadata), else "zero"
    execution: Execution | None = None        #: where tasks run; default: ``workers`` local processes
    shard_size: int | None = None             #: recordings per task (default: see cluster.Session.shards)

    def executor(self) -> Execution:
        """Where this replay's tasks run."""
        return self.execution or Execution("local", self.workers)

    def binning(self) -> "Binning":
        """The binning these settings give (``None`` fields at the toolkit defaults); use
        :func:`resolve_config` first to fill them from the network."""
        from neuro_deploy.events.tensor import DEFAULT_TIME_ORIGIN, Binning

        return Binning(self.dt_us, self.time_origin or DEFAULT_TIME_ORIGIN, self.steps)


def resolve_config(net: NetSpec, cfg: ReplayConfig) -> ReplayConfig:
    """``cfg`` with the network's binning filled in (:func:`neuro_deploy.netx.meta.binning_for`)."""
    from dataclasses import replace

    from neuro_deploy.netx.meta import binning_for, read_meta

    b = binning_for(read_meta(net.path), cfg.dt_us, cfg.steps, cfg.time_origin, what=str(net.path))
    return replace(cfg, dt_us=b.dt_us, steps=b.num_steps, time_origin=b.time_origin)


@dataclass
class SampleResult:
    file: str
    predicted: int | None
    label: int | None
    correct: bool | None
    latency_steps: int | None
    latency_us: float | None
    time_to_first_correct_steps: int | None
    steps: int
    events: int
    output_counts: list[int]
    spikes: dict[str, int]
    synops: dict[str, int]


@dataclass
class ReplayResult:
    schema: str
    network: str
    backend: str
    dt_us: int
    accuracy: float | None
    samples: list[SampleResult]
    input_shape: list[int]
    wall_s: float
    mean_latency_steps: float | None = None
    accuracy_vs_step: list[float] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: list = field(default_factory=list, repr=False)   #: LayerCounts over all recordings
    skipped: list[dict[str, str]] = field(default_factory=list)  #: file, reason, error (--on-error)
    partial: list[dict[str, Any]] = field(default_factory=list)  #: file, offset, reason, events kept
    time_origin: str = "zero"                 #: where step 0 of each recording started
    window_steps: int | None = None           #: fixed input steps per recording, or None (own length)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("counts", None)
        return d


def input_geometry(net: NetSpec) -> tuple[int, int, int, bool]:
    """(channels, height, width, flat) the network wants; for a flat dense input the
    geometry comes from the export metadata or, failing that, a square 2-channel frame."""
    first = net.layers[0]
    shape = first.in_shape_chw if first.kind != "input" else first.shape_chw
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2]), False
    from neuro_deploy.netx.meta import read_meta

    meta = read_meta(net.path)
    if "input_shape_chw" in meta:
        c, h, w = (int(v) for v in meta["input_shape_chw"])
        if c * h * w == shape[0]:
            return c, h, w, True
    n = int(shape[0])
    for c in (2, 1):
        side = int(round(math.sqrt(n / c)))
        if c * side * side == n:
            return c, side, side, True
    raise ShapeError("network input (cannot infer a C,H,W frame for a flat input)", (n,), ())


def preprocess(events: np.ndarray, sensor: tuple[int, int], cfg: ReplayConfig) -> tuple[np.ndarray, tuple[int, int]]:
    """tonic transforms (denoise, refractory), then crop and downsample; returns new sensor."""
    import tonic.transforms as T

    w, h = sensor
    ev = events
    if cfg.denoise_us and len(ev):
        ev = T.Denoise(filter_time=cfg.denoise_us)(ev)
    if cfg.refractory_us and len(ev):
        ev = T.RefractoryPeriod(delta=cfg.refractory_us)(ev)
    if cfg.crop:
        x0, y0, cw, ch = cfg.crop
        keep = (ev["x"] >= x0) & (ev["x"] < x0 + cw) & (ev["y"] >= y0) & (ev["y"] < y0 + ch)
        ev = ev[keep].copy()
        ev["x"] -= x0
        ev["y"] -= y0
        w, h = cw, ch
    if cfg.downsample and cfg.downsample != 1:
        ev = ev.copy()
        ev["x"] = np.floor(ev["x"] * cfg.downsample).astype(ev["x"].dtype)
        ev["y"] = np.floor(ev["y"] * cfg.downsample).astype(ev["y"].dtype)
        w, h = int(math.ceil(w * cfg.downsample)), int(math.ceil(h * cfg.downsample))
    return ev, (w, h)


def load_recording(path: Path | Recording, net_geom: tuple[int, int, int, bool], cfg: ReplayConfig
                   ) -> tuple[np.ndarray, int]:
    """Decode (unless given decoded) + preprocess + bin one recording with ``cfg.binning()``:
    (C, H, W, T) uint8 and its event count."""
    from neuro_deploy.events.readers import read_events

    if isinstance(path, Recording):
        rec, path = path, Path(path.path)
    else:
        rec = read_events(path, cfg.fmt, keep_partial=cfg.on_error == "keep-partial",
                          evt3_timing=cfg.evt3_timing)
    size = cfg.sensor_size or ((rec.sensor_size.width, rec.sensor_size.height) if rec.sensor_size else None)
    if size is None:
        raise BadInputError(f"{path}: sensor size unknown; pass --sensor-size WxH")
    ev, (w, h) = preprocess(rec.events, size, cfg)
    c, nh, nw, _ = net_geom
    if (w, h) != (nw, nh):
        raise ShapeError(f"{path}: recording geometry (W,H) after crop/downsample; the network "
                         "wants (use --sensor-size, --crop, --downsample)", (nw, nh), (w, h))
    x = cfg.binning().bin(ev, (w, h), str(path))
    if c == 1:
        x = x.max(axis=0, keepdims=True)
    return x, len(ev)


def running_decisions(out_trains: np.ndarray) -> np.ndarray:
    """(T, B, classes) spikes -> (T, B) arg-max of cumulative counts (-1 before any spike)."""
    cum = np.cumsum(out_trains.astype(np.int64), axis=0)
    arg = cum.argmax(-1)
    arg[cum.max(-1) == 0] = -1
    return arg


def _simulate_batch(net: NetSpec, xs: list[np.ndarray], cfg: ReplayConfig
                    ) -> tuple[list, list[dict[str, Any]]]:
    """One batch on the backend: (LayerCounts of the batch, per-recording results); each
    recording runs for its own length + ``len(net)`` steps (see module docstring)."""
    from neuro_deploy.sim.evaluate import run_tensors

    t_max = max(x.shape[-1] for x in xs)
    batch = np.zeros((len(xs),) + xs[0].shape[:-1] + (t_max,), dtype=np.uint8)
    for i, x in enumerate(xs):
        batch[i, ..., : x.shape[-1]] = x
    run = run_tensors(net, batch, np.array([x.shape[-1] for x in xs]), cfg.backend)
    decisions = running_decisions(run.trains[-1])
    out = []
    for i, x in enumerate(xs):
        own = int(run.run_steps[i])
        out.append({"decisions": decisions[:own, i], "counts": run.trains[-1][:own, i].sum(0),
                    "spikes": {c.name: int(c.spikes_per_sample[i]) for c in run.counts},
                    "synops": {c.name: int(c.synops_per_sample[i]) for c in run.counts},
                    "steps": int(x.shape[-1])})
    return run.counts, out


def replay_shard(args: tuple) -> tuple[list, list[dict[str, Any]]]:
    """One task: decode, bin and simulate a share of the recordings, in batches of
    ``cfg.batch_size``: (LayerCounts per batch, per-recording results in share order)."""
    net_ref, recs, geom, cfg = args
    xs, n_events = [], []
    for rec in recs:
        x, n = load_recording(rec, geom, cfg)
        xs.append(x)
        n_events.append(n)
    net = net_ref.local()
    results: list[dict[str, Any]] = []
    layer_counts: list = []
    for start in range(0, len(xs), cfg.batch_size):
        counts, batch = _simulate_batch(net, xs[start:start + cfg.batch_size], cfg)
        layer_counts.append(counts)
        results += batch
    for r, n in zip(results, n_events):
        r["events"] = n
    return layer_counts, results


def shard_key(recs: list, index: int, total: int) -> str:
    """How a task is named in errors: its recordings."""
    names = [Path(r.path).name for r in recs]
    span = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
    return f"task {index + 1}/{total} ({len(names)} recording{'s' * (len(names) != 1)}: {span})"


def replay(net: NetSpec, recordings: list[str | Path], cfg: ReplayConfig,
           labels: dict[str, int] | None = None, progress: bool = False) -> ReplayResult:
    """Replay recordings (files or folders) through ``net``; see module docstring."""
    from neuro_deploy.data.datasets import label_for
    from neuro_deploy.events.collection import read_recordings
    from neuro_deploy.events.types import SensorSize

    t0 = time.perf_counter()
    size = SensorSize(*cfg.sensor_size, "user") if cfg.sensor_size else None
    recs, skipped = read_recordings(recordings, cfg.on_error, cfg.fmt, size, evt3_timing=cfg.evt3_timing)
    files = [Path(r.path) for r in recs]
    geom = input_geometry(net)
    cfg = resolve_config(net, cfg)
    from neuro_deploy.sim.evaluate import TaskNet

    net_ref = TaskNet.of(net)
    with open_session(cfg.executor()) as session:
        parts = session.shards(len(recs), cfg.shard_size)
        jobs = [(net_ref, recs[p.start:p.stop], geom, cfg) for p in parts]
        outs = session.run(replay_shard, jobs, [shard_key(j[1], k, len(jobs)) for k, j in enumerate(jobs)],
                           progress_bar(len(jobs), "replaying") if progress else None)
    by_file: dict[str, dict[str, Any]] = {}
    batches: list = []
    run_order: list[str] = []                     # file of each merged sample, in run order
    for job, (counts, results) in zip(jobs, outs):
        batches += counts
        run_order += [str(rec.path) for rec in job[1]]
        for rec, r in zip(job[1], results):
            by_file[str(rec.path)] = r
    position = {f: k for k, f in enumerate(run_order)}
    samples: list[SampleResult] = []
    for f in files:
        r = by_file[str(f)]
        dec = r["decisions"]
        pred = int(np.asarray(r["counts"]).argmax()) if np.asarray(r["counts"]).sum() else None
        lab = label_for(labels, f) if labels is not None else None
        stable = None
        if pred is not None:
            wrong = np.flatnonzero(dec != pred)
            stable = int(wrong[-1]) + 2 if len(wrong) else 1
        first_ok = None
        if lab is not None:
            hit = np.flatnonzero(dec == lab)
            first_ok = int(hit[0]) + 1 if len(hit) else None
        samples.append(SampleResult(
            file=str(f), predicted=pred, label=lab, correct=(pred == lab) if lab is not None else None,
            latency_steps=stable, latency_us=stable * cfg.dt_us if stable is not None else None,
            time_to_first_correct_steps=first_ok, steps=r["steps"], events=r["events"],
            output_counts=[int(v) for v in r["counts"]], spikes=r["spikes"], synops=r["synops"]))
    labelled = [s for s in samples if s.label is not None]
    acc = float(np.mean([s.correct for s in labelled])) if labelled else None
    lat = [s.latency_steps for s in samples if s.latency_steps is not None]
    curve: list[float] = []
    if labelled:
        decs = [by_file[s.file]["decisions"] for s in labelled]
        t_max = max(len(d) for d in decs)
        padded = np.stack([np.concatenate([d, np.full(t_max - len(d), d[-1])]) for d in decs])
        curve = (padded == np.array([s.label for s in labelled])[:, None]).mean(0).round(6).tolist()
    layer_names = list(samples[0].spikes) if samples else []
    layers = [{"name": k, "spikes": int(sum(s.spikes[k] for s in samples)),
               "synops": int(sum(s.synops[k] for s in samples))} for k in layer_names]
    c, h, w, flat = geom
    notes = [f"{r.path}: {m}" for r in recs for m in r.warnings]
    partial = [{"file": r.path, **r.meta["partial"]} for r in recs if "partial" in r.meta]
    return ReplayResult(REPLAY_SCHEMA, net.path, cfg.backend, cfg.dt_us, acc, samples, [c, h, w],
                        time.perf_counter() - t0, float(np.mean(lat)) if lat else None, curve, layers,
                        notes, counts=merge_counts(batches, [position[str(f)] for f in files]),
                        skipped=[{"file": k.file, "reason": k.reason, "error": k.error} for k in skipped],
                        partial=partial, time_origin=str(cfg.time_origin), window_steps=cfg.steps)
