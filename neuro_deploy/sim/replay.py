"""Replay DVS recordings through a netx network and score them.

Each recording is decoded (any supported format), optionally preprocessed (tonic's
``Denoise``/``RefractoryPeriod``, then crop and downsample), binned at ``dt_us`` into
the network's input layout, and run for ``steps + len(net)`` steps on a backend. Per
recording:

* ``predicted`` = output neuron with the most spikes (ties: lowest index);
* ``latency_steps`` = the (1-based) simulation step from which on the running arg-max of
  the cumulative output counts never changes again (the decision is stable), counted
  from the first input step and including the network's one-step-per-layer pipeline
  delay, as it would be on the chip; ``time_to_first_correct_steps`` = first step at
  which the running arg-max equals the label (null without label or never);
* spikes and synaptic operations per layer.

Recordings are split over ``workers`` processes (``fork``, through
:func:`neuro_deploy._process.map_in_processes`: Ctrl-C stops them, they die with the
parent), each simulating its share as one batch.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy._process import map_in_processes
from neuro_deploy._progress import task, tick
from neuro_deploy.errors import BadInputError, NeuroDeployWarning, ShapeError
from neuro_deploy.netx.spec import NetSpec

REPLAY_SCHEMA = "neuro-deploy-replay/1"
RECORDING_SUFFIXES = (".bin", ".bs2", ".raw", ".dat", ".aedat", ".aedat3", ".aedat4", ".es",
                      ".npy", ".npz", ".h5", ".hdf5", ".csv")


@dataclass
class ReplayConfig:
    dt_us: int
    backend: str = "fast"
    steps: int | None = None                  #: input steps per recording (default: its duration)
    sensor_size: tuple[int, int] | None = None
    crop: tuple[int, int, int, int] | None = None      #: x0, y0, width, height
    downsample: float | None = None
    denoise_us: int | None = None
    refractory_us: int | None = None
    workers: int = 1
    batch_size: int = 64
    evt3_timing: str = "spec"


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("counts", None)
        return d


def expand_inputs(paths: list[str | Path]) -> list[Path]:
    """Files as given; folders contribute their recordings (sorted naturally)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = [f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in RECORDING_SUFFIXES
                     and not f.name.endswith(".reference.npy")]
            out += sorted(files, key=lambda f: (str(f.parent), len(f.stem), f.stem))
        elif p.exists():
            out.append(p)
        else:
            raise BadInputError(f"{p}: no such recording or folder")
    if not out:
        raise BadInputError("no recordings found in " + ", ".join(map(str, paths)))
    return out


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


def load_recording(path: Path, net_geom: tuple[int, int, int, bool], cfg: ReplayConfig
                   ) -> tuple[np.ndarray, int]:
    """Decode + preprocess + bin one recording: (C, H, W, T) uint8 and its event count."""
    from neuro_deploy.events.readers import read_events
    from neuro_deploy.events.tensor import bin_events

    rec = read_events(path, evt3_timing=cfg.evt3_timing)
    if cfg.sensor_size:
        from neuro_deploy.events.types import SensorSize

        SensorSize(*cfg.sensor_size, source="--sensor-size").check_contains(rec.events, str(path))
    size = cfg.sensor_size or ((rec.sensor_size.width, rec.sensor_size.height) if rec.sensor_size else None)
    if size is None:
        raise BadInputError(f"{path}: sensor size unknown; pass --sensor-size WxH")
    ev, (w, h) = preprocess(rec.events, size, cfg)
    c, nh, nw, _ = net_geom
    if (w, h) != (nw, nh):
        raise ShapeError(f"{path}: recording geometry (W,H) after crop/downsample; the network "
                         "wants (use --sensor-size, --crop, --downsample)", (nw, nh), (w, h))
    t0 = int(ev["t"].min()) if len(ev) else 0
    steps = cfg.steps or max(1, int(math.ceil(((int(ev["t"].max()) - t0 + 1) if len(ev) else 1) / cfg.dt_us)))
    x = bin_events(ev, (w, h), cfg.dt_us, steps, t0_us=t0)
    if c == 1:
        x = x.max(axis=0, keepdims=True)
    return x, len(ev)


def running_decisions(out_trains: np.ndarray) -> np.ndarray:
    """(T, B, classes) spikes -> (T, B) arg-max of cumulative counts (-1 before any spike)."""
    cum = np.cumsum(out_trains.astype(np.int64), axis=0)
    arg = cum.argmax(-1)
    arg[cum.max(-1) == 0] = -1
    return arg


def _simulate_batch(net_path: str, xs: list[np.ndarray], cfg: ReplayConfig
                    ) -> tuple[list, list[dict[str, Any]]]:
    """One batch on the backend: (LayerCounts of the batch, per-recording results)."""
    from neuro_deploy.energy.counts import count_activity, lava_to_trains
    from neuro_deploy.netx import load_netx
    from neuro_deploy.netx.export import encode_for_net
    from neuro_deploy.sim import RunSpec, get_backend
    from neuro_deploy.sim.fast import _source_spikes

    net = load_netx(net_path)
    t_max = max(x.shape[-1] for x in xs)
    batch = np.zeros((len(xs),) + xs[0].shape[:-1] + (t_max + len(net),), dtype=np.uint8)
    for i, x in enumerate(xs):
        batch[i, ..., : x.shape[-1]] = x
    inp = encode_for_net(net, batch)
    spec = RunSpec(steps=t_max + len(net), inputs=inp, probe="all")
    res = get_backend(cfg.backend).run(net, spec)
    trains = res.extra.get("trains") or lava_to_trains(net, res.spikes)
    counts = count_activity(net, trains, _source_spikes(spec, net, spec.steps)
                            if net.layers[0].kind != "input" else None)
    decisions = running_decisions(trains[-1])
    out = []
    for i, x in enumerate(xs):
        out.append({"decisions": decisions[:, i], "counts": trains[-1][:, i].sum(0),
                    "spikes": {c.name: int(c.spikes_per_sample[i]) for c in counts},
                    "synops": {c.name: int(c.synops_per_sample[i]) for c in counts},
                    "steps": int(x.shape[-1])})
    return counts, out


def _worker(args: tuple) -> tuple[list, list[dict[str, Any]]]:
    """Decode, bin and simulate a share of the recordings: (counts per batch, results)."""
    net_path, files, geom, cfg = args
    xs, n_events = [], []
    for f in files:
        x, n = load_recording(Path(f), geom, cfg)
        xs.append(x)
        n_events.append(n)
    results: list[dict[str, Any]] = []
    layer_counts: list = []
    for start in range(0, len(xs), cfg.batch_size):
        counts, batch = _simulate_batch(net_path, xs[start:start + cfg.batch_size], cfg)
        layer_counts.append(counts)
        results += batch
        tick(len(batch), "recordings")
    for r, n in zip(results, n_events):
        r["events"] = n
    return layer_counts, results


def replay(net: NetSpec, recordings: list[str | Path], cfg: ReplayConfig,
           labels: dict[str, int] | None = None, progress: bool = False) -> ReplayResult:
    """Replay recordings (files or folders) through ``net``; see module docstring."""
    from neuro_deploy.data.datasets import label_for

    t0 = time.perf_counter()
    files = expand_inputs(recordings)
    geom = input_geometry(net)
    notes: list[str] = []
    if labels is not None:
        from neuro_deploy.data.datasets import check_labels

        notes = check_labels(labels, files, net.layers[-1].num_neurons)
        for note in notes:
            warnings.warn(note, NeuroDeployWarning, stacklevel=2)
    workers = max(1, min(cfg.workers, len(files)))
    shares = [files[i::workers] for i in range(workers)]
    jobs = [(net.path, [str(f) for f in share], geom, cfg) for share in shares if share]
    with task(len(files), f"replay on {cfg.backend}", "recordings", enabled=progress):
        if workers == 1:
            outs = [_worker(jobs[0])]
        else:
            outs = map_in_processes(_worker, jobs)
    by_file: dict[str, dict[str, Any]] = {}
    batches: list = []
    for job, (counts, results) in zip(jobs, outs):
        batches += counts
        for f, r in zip(job[1], results):
            by_file[f] = r
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
    return ReplayResult(REPLAY_SCHEMA, net.path, cfg.backend, cfg.dt_us, acc, samples, [c, h, w],
                        time.perf_counter() - t0, float(np.mean(lat)) if lat else None, curve, layers,
                        notes=notes, counts=merge_counts(batches))


def merge_counts(batches: list[list]) -> list:
    """Sum LayerCounts of several batches (time axes padded to the longest)."""
    if not batches:
        return []
    from dataclasses import replace

    steps = max(b[0].steps for b in batches)

    def pad(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.zeros(steps - len(a), a.dtype)])

    merged = []
    for per_layer in zip(*batches):
        first = per_layer[0]
        merged.append(replace(
            first, steps=steps, samples=sum(c.samples for c in per_layer),
            input_spikes=sum(pad(c.input_spikes) for c in per_layer),
            synops=sum(pad(c.synops) for c in per_layer),
            output_spikes=sum(pad(c.output_spikes) for c in per_layer),
            neuron_updates=sum(c.neuron_updates for c in per_layer),
            active_updates=sum(c.active_updates for c in per_layer),
            synops_per_sample=np.concatenate([c.synops_per_sample for c in per_layer]),
            spikes_per_sample=np.concatenate([c.spikes_per_sample for c in per_layer]),
            input_spikes_per_sample=np.concatenate([c.input_spikes_per_sample for c in per_layer])))
    return merged
