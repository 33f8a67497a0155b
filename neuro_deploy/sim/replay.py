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
one per process with ``--workers N``, ``shard_size`` recordings per task on Ray; on Ray
the files travel with the task, so nodes need no shared file system). Each task decodes,
bins and simulates its share in a bounded pipeline (:func:`run_pipeline`) in batches of
``batch_size``. Every recording is simulated and counted for its own length plus the
``len(net)`` drain steps, whatever else is in its batch
(:func:`neuro_deploy.sim.evaluate.run_tensors`), and batches are combined in recording
order with :func:`neuro_deploy.energy.counts.merge_counts`: no figure depends on the
executor, the worker count, the task size or the batch size.

``net`` may also be a checkpoint's float model (:class:`~neuro_deploy.sim.float_model.FloatNet`,
backend ``float``): it gets exactly the binned input and steps the deployed network gets,
so :func:`float_vs_deployed` compares the two recording by recording.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuro_deploy._progress import forward_ticks, task, tick
from neuro_deploy.cluster import Execution, ShippedFile, open_session
from neuro_deploy.energy.counts import merge_counts
from neuro_deploy.errors import BadInputError, NeuroDeployWarning, ShapeError
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
    steps: int | None = None  #: input steps per recording (default: the network's
    #: window from its metadata, else each recording's own length)
    sensor_size: tuple[int, int] | None = None
    crop: tuple[int, int, int, int] | None = None  #: x0, y0, width, height
    downsample: float | None = None
    denoise_us: int | None = None
    refractory_us: int | None = None
    workers: int = 1  #: local processes (``execution`` overrides)
    batch_size: int = 64
    evt3_timing: str = "spec"
    fmt: str | None = None  #: force a reader (``--format``); default: by content
    on_error: str = "fail"  #: fail | skip | keep-partial (events.collection)
    time_origin: str | None = None  #: default: the network's (metadata), else "zero"
    execution: Execution | None = None  #: where tasks run; default: ``workers`` local processes
    shard_size: int | None = None  #: recordings per task (default: see cluster.Session.shards)

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

    from neuro_deploy.netx.meta import binning_for
    from neuro_deploy.sim.float_model import network_meta

    b = binning_for(network_meta(net), cfg.dt_us, cfg.steps, cfg.time_origin, what=str(net.path))
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
    counts: list = field(default_factory=list, repr=False)  #: LayerCounts over all recordings
    skipped: list[dict[str, str]] = field(default_factory=list)  #: file, reason, error (--on-error)
    partial: list[dict[str, Any]] = field(default_factory=list)  #: file, offset, reason, events kept
    time_origin: str = "zero"  #: where step 0 of each recording started
    window_steps: int | None = None  #: fixed input steps per recording, or None (own length)
    #: seconds each pipeline stage worked (decode, bin, simulate, count), summed over workers;
    #: the stages overlap, so ``wall_s`` is about the largest of them per worker
    stages_s: dict[str, float] = field(default_factory=dict)

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
    full = tuple(int(v) for v in net.input_shape_chw)
    if len(full) == 3 and int(np.prod(full)) == shape[0]:  # e.g. a checkpoint's float model
        return full[0], full[1], full[2], True
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


def load_recording(
    path: Path | Recording, net_geom: tuple[int, int, int, bool], cfg: ReplayConfig
) -> tuple[np.ndarray, int]:
    """Decode (unless given decoded) + preprocess + bin one recording with ``cfg.binning()``:
    (C, H, W, T) uint8 and its event count."""
    from neuro_deploy.events.readers import read_events

    if isinstance(path, Recording):
        rec, path = path, Path(path.path)
    else:
        rec = read_events(path, cfg.fmt, keep_partial=cfg.on_error == "keep-partial", evt3_timing=cfg.evt3_timing)
    if cfg.sensor_size:
        from neuro_deploy.events.types import SensorSize

        SensorSize(*cfg.sensor_size, source="--sensor-size").check_contains(rec.events, str(path))
    size = cfg.sensor_size or ((rec.sensor_size.width, rec.sensor_size.height) if rec.sensor_size else None)
    if size is None:
        raise BadInputError(f"{path}: sensor size unknown; pass --sensor-size WxH")
    ev, (w, h) = preprocess(rec.events, size, cfg)
    c, nh, nw, _ = net_geom
    if (w, h) != (nw, nh):
        raise ShapeError(
            f"{path}: recording geometry (W,H) after crop/downsample; the network "
            "wants (use --sensor-size, --crop, --downsample)",
            (nw, nh),
            (w, h),
        )
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


def _simulate_batch(
    net: NetSpec, xs: list[np.ndarray], cfg: ReplayConfig, busy: dict[str, float] | None = None
) -> tuple[list, list[dict[str, Any]]]:
    """One batch on the backend: (LayerCounts of the batch, per-recording results); each
    recording runs for its own length + ``len(net)`` steps (see module docstring).
    ``busy``: simulate and count seconds are added to it."""
    from neuro_deploy.sim.evaluate import run_tensors

    t_max = max(x.shape[-1] for x in xs)
    batch = np.zeros((len(xs),) + xs[0].shape[:-1] + (t_max,), dtype=np.uint8)
    for i, x in enumerate(xs):
        batch[i, ..., : x.shape[-1]] = x
    run = run_tensors(net, batch, np.array([x.shape[-1] for x in xs]), cfg.backend)
    if busy is not None:
        busy["simulate"] += run.simulate_s
        busy["count"] += run.count_s
    decisions = running_decisions(run.trains[-1])
    out = []
    for i, x in enumerate(xs):
        own = int(run.run_steps[i])
        out.append(
            {
                "decisions": decisions[:own, i],
                "counts": run.trains[-1][:own, i].sum(0),
                "spikes": {c.name: int(c.spikes_per_sample[i]) for c in run.counts},
                "synops": {c.name: int(c.synops_per_sample[i]) for c in run.counts},
                "steps": int(x.shape[-1]),
            }
        )
    return run.counts, out


#: recordings each pipeline stage may hold ahead of the next (bounded memory)
PIPELINE_DEPTH = 64
_DONE = object()


def _decode_stage(
    files: list[Path], cfg: ReplayConfig, size: Any, out: queue.Queue, stop: threading.Event, busy: dict[str, float]
) -> None:
    """Stage 1: decode each file under ``cfg.on_error``; puts (index, Recording or None,
    Skipped or None, error or None), then ``_DONE``."""
    from neuro_deploy.errors import CorruptRecordingError, UnknownFormatError
    from neuro_deploy.events.collection import Skipped
    from neuro_deploy.events.readers import read_events

    i = 0
    try:
        for i, f in enumerate(files):
            if stop.is_set():
                break
            t0 = time.perf_counter()
            try:
                item = (
                    i,
                    read_events(
                        f,
                        cfg.fmt,
                        sensor_size=size,
                        keep_partial=cfg.on_error == "keep-partial",
                        evt3_timing=cfg.evt3_timing,
                    ),
                    None,
                    None,
                )
            except (CorruptRecordingError, UnknownFormatError) as exc:
                item = (i, None, Skipped(str(f), str(exc), type(exc).__name__), exc if cfg.on_error == "fail" else None)
            busy["decode"] += time.perf_counter() - t0
            out.put(item)
            if item[3] is not None:
                break
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer
        out.put((i, None, None, exc))  # not about one file (e.g. a missing decoder)
    out.put(_DONE)


def _bin_stage(
    src: queue.Queue, geom: tuple, cfg: ReplayConfig, out: queue.Queue, stop: threading.Event, busy: dict[str, float]
) -> None:
    """Stage 2: preprocess and bin (:func:`load_recording`); puts (index, Recording, tensor,
    events) or the decode stage's skip / error items unchanged, then ``_DONE``."""
    try:
        while True:
            item = src.get()
            if item is _DONE or stop.is_set():
                break
            i, rec, skipped, error = item
            if rec is not None:
                t0 = time.perf_counter()
                try:
                    x, n = load_recording(rec, geom, cfg)
                    item = (i, rec, (x, n), None)
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                    item = (i, rec, None, exc)
                busy["bin"] += time.perf_counter() - t0
            out.put(item)
            if item[3] is not None:
                break
    finally:
        out.put(_DONE)


def run_pipeline(net: NetSpec, files: list[Path], geom: tuple, cfg: ReplayConfig, size: Any = None) -> dict[str, Any]:
    """Decode, bin and simulate ``files`` in a bounded pipeline: a decode thread and a bin
    thread run ahead of the simulation (at most :data:`PIPELINE_DEPTH` recordings each;
    the compiled decoders, binning and simulation kernels release the GIL), so a replay
    takes about as long as its slowest stage. Recordings are simulated in file order in
    batches of ``cfg.batch_size``, exactly as without the pipeline.

    Returns ``counts`` (per batch), ``results`` and ``kept`` (per simulated recording,
    file order), ``skipped``, ``error`` (the first failure under ``fail``, or an error
    that stops everything: (file index, exception)) and ``busy`` (seconds each stage
    worked: decode, bin, simulate, count)."""
    busy = {"decode": 0.0, "bin": 0.0, "simulate": 0.0, "count": 0.0}
    decoded: queue.Queue = queue.Queue(PIPELINE_DEPTH)
    binned: queue.Queue = queue.Queue(PIPELINE_DEPTH)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_decode_stage, args=(files, cfg, size, decoded, stop, busy), daemon=True),
        threading.Thread(target=_bin_stage, args=(decoded, geom, cfg, binned, stop, busy), daemon=True),
    ]
    for t in threads:
        t.start()
    out: dict[str, Any] = {"counts": [], "results": [], "kept": [], "skipped": [], "error": None, "busy": busy}
    pending: list[tuple[int, Recording, np.ndarray, int]] = []

    def flush() -> None:
        if not pending:
            return
        counts, results = _simulate_batch(net, [x for _, _, x, _ in pending], cfg, busy)
        for (i, rec, _, n), r in zip(pending, results):
            r["events"] = n
            out["kept"].append((i, rec))
        out["counts"].append(counts)
        out["results"] += results
        tick(len(results), "recordings")
        pending.clear()

    try:
        while True:
            item = binned.get()
            if item is _DONE:
                break
            i, rec, payload, error = item
            if error is not None:
                out["error"] = (i, error)
                break
            if rec is None:
                out["skipped"].append((i, payload))
                tick(1, "recordings")
                continue
            pending.append((i, rec, payload[0], payload[1]))
            if len(pending) == cfg.batch_size:
                flush()
        if out["error"] is None:
            flush()
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):  # unblock stages waiting to put, until they end
            for q in (decoded, binned):
                while True:
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        break
            for t in threads:
                t.join(timeout=0.01)
    return out


def _load_kernels(net: NetSpec, first: Path, geom: tuple, cfg: ReplayConfig, size: Any) -> None:
    """Before forking workers: decode, bin and simulate one recording here, so that the
    compiled kernels are loaded once (from numba's disk cache) and every worker inherits
    them instead of loading them again. Errors are left to the workers to report."""
    from neuro_deploy.errors import NeuroDeployError
    from neuro_deploy.events.readers import read_events

    try:
        rec = read_events(
            first, cfg.fmt, sensor_size=size, evt3_timing=cfg.evt3_timing, keep_partial=cfg.on_error == "keep-partial"
        )
        x, _ = load_recording(rec, geom, cfg)
        _simulate_batch(net, [x[..., :1]], cfg)
    except NeuroDeployError:
        pass


def replay_shard(args: tuple) -> dict[str, Any]:
    """One task: :func:`run_pipeline` on a share of the recordings (paths, or
    :class:`~neuro_deploy.cluster.ShippedFile` copies on Ray). Recordings come back as
    their original path, warnings and partial-read record; errors as (index in the share,
    text) - the caller raises them again itself, typed. In a process other than the
    caller's, progress goes back with the result (``pid``), not to an inherited bar."""
    net_ref, files, geom, cfg, size, caller_pid = args
    names = [str(f.path) if isinstance(f, ShippedFile) else str(f) for f in files]
    paths = [f.local_path() if isinstance(f, ShippedFile) else Path(f) for f in files]
    with contextlib.ExitStack() as stack:
        if os.getpid() != caller_pid:
            stack.enter_context(forward_ticks(lambda n, unit: None))
        out = run_pipeline(net_ref.local(), paths, geom, cfg, size)
    out["kept"] = [
        (i, {"path": names[i], "warnings": rec.warnings, "partial": rec.meta.get("partial")}) for i, rec in out["kept"]
    ]
    out["skipped"] = [(i, replace(sk, file=names[i])) for i, sk in out["skipped"]]
    if out["error"] is not None:
        i, exc = out["error"]
        out["error"] = (i, exc if os.getpid() == caller_pid else f"{type(exc).__name__}: {exc}")
    out["pid"] = os.getpid()
    return out


def shard_key(files: list, index: int, total: int) -> str:
    """How a task is named in errors: its recordings."""
    names = [Path(f).name for f in files]
    span = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"
    return f"task {index + 1}/{total} ({len(names)} recording{'s' * (len(names) != 1)}: {span})"


def replay(
    net: NetSpec,
    recordings: list[str | Path],
    cfg: ReplayConfig,
    labels: dict[str, int] | None = None,
    progress: bool = False,
) -> ReplayResult:
    """Replay recordings (files or folders) through ``net``; see module docstring."""
    from neuro_deploy.data.datasets import label_for
    from neuro_deploy.events.collection import ON_ERROR
    from neuro_deploy.events.types import SensorSize

    t0 = time.perf_counter()
    if cfg.on_error not in ON_ERROR:
        from neuro_deploy.errors import UnknownNameError

        raise UnknownNameError("--on-error policy", cfg.on_error, ON_ERROR)
    size = SensorSize(*cfg.sensor_size, "user") if cfg.sensor_size else None
    all_files = expand_inputs(recordings)
    geom = input_geometry(net)
    cfg = resolve_config(net, cfg)
    label_notes: list[str] = []
    if labels is not None:
        from neuro_deploy.data.datasets import check_labels

        label_notes = check_labels(labels, all_files, net.layers[-1].num_neurons)
        for note in label_notes:
            warnings.warn(note, NeuroDeployWarning, stacklevel=2)
    from neuro_deploy.sim.evaluate import TaskNet

    net_ref = TaskNet.of(net)
    execution = cfg.executor()
    ship = execution.executor != "local"  # other machines: the files travel with the task

    def finished(k: int, out: dict[str, Any]) -> None:
        if out["pid"] != os.getpid():  # ran elsewhere: its recordings are done now
            tick(len(out["kept"]) + len(out["skipped"]), "recordings")

    with (
        task(len(all_files), f"replay on {cfg.backend}", "recordings", enabled=progress),
        open_session(execution) as session,
    ):
        parts = session.shards(len(all_files), cfg.shard_size)
        shares = [list(p) for p in parts]
        if execution.executor == "local" and len(parts) > 1:
            _load_kernels(net, all_files[0], geom, cfg, size)
        jobs = [
            (
                net_ref,
                [ShippedFile.read(all_files[i]) if ship else all_files[i] for i in share],
                geom,
                cfg,
                size,
                os.getpid(),
            )
            for share in shares
        ]
        outs = session.run(
            replay_shard,
            jobs,
            [shard_key([all_files[i] for i in share], k, len(jobs)) for k, share in enumerate(shares)],
            finished,
        )
    # errors: the first failing file in input order raises its own typed error, as reading
    # the files one by one would (re-raised here, where the error is typed)
    failures = [(share[o["error"][0]], o["error"][1]) for share, o in zip(shares, outs) if o["error"] is not None]
    if failures:
        k, exc = min(failures, key=lambda f: f[0])
        if isinstance(exc, BaseException):
            raise exc
        from neuro_deploy.events.readers import read_events  # a worker's error: raise it again here

        rec = read_events(
            all_files[k],
            cfg.fmt,
            sensor_size=size,
            evt3_timing=cfg.evt3_timing,
            keep_partial=cfg.on_error == "keep-partial",
        )
        load_recording(rec, geom, cfg)
        raise RuntimeError(f"replay worker failed on {all_files[k]}: {exc}")
    kept: list[tuple[int, dict]] = []
    skipped = []
    for share, o in zip(shares, outs):
        kept += [(share[i], r) for i, r in o["kept"]]
        skipped += [(share[i], sk) for i, sk in o["skipped"]]
    skipped = [sk for _, sk in sorted(skipped, key=lambda s: s[0])]
    if not kept:
        from neuro_deploy.errors import BadInputError

        raise BadInputError(
            f"all {len(skipped)} recordings were skipped (--on-error {cfg.on_error}); first: {skipped[0].reason}"
        )
    recs = [r for _, r in sorted(kept, key=lambda k: k[0])]
    files = [Path(r["path"]) for r in recs]
    stages = {k: round(sum(o["busy"][k] for o in outs), 6) for k in ("decode", "bin", "simulate", "count")}
    by_file: dict[str, dict[str, Any]] = {}
    batches: list = []
    run_order: list[str] = []  # file of each merged sample, in run order
    for o in outs:
        batches += o["counts"]
        run_order += [str(r["path"]) for _, r in o["kept"]]
        for (_, rec), r in zip(o["kept"], o["results"]):
            by_file[str(rec["path"])] = r
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
        samples.append(
            SampleResult(
                file=str(f),
                predicted=pred,
                label=lab,
                correct=(pred == lab) if lab is not None else None,
                latency_steps=stable,
                latency_us=stable * cfg.dt_us if stable is not None else None,
                time_to_first_correct_steps=first_ok,
                steps=r["steps"],
                events=r["events"],
                output_counts=[int(v) for v in r["counts"]],
                spikes=r["spikes"],
                synops=r["synops"],
            )
        )
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
    layers = [
        {"name": k, "spikes": int(sum(s.spikes[k] for s in samples)), "synops": int(sum(s.synops[k] for s in samples))}
        for k in layer_names
    ]
    c, h, w, flat = geom
    notes = label_notes + [f"{r['path']}: {m}" for r in recs for m in r["warnings"]]
    partial = [{"file": r["path"], **r["partial"]} for r in recs if r["partial"] is not None]
    return ReplayResult(
        REPLAY_SCHEMA,
        net.path,
        cfg.backend,
        cfg.dt_us,
        acc,
        samples,
        [c, h, w],
        time.perf_counter() - t0,
        float(np.mean(lat)) if lat else None,
        curve,
        layers,
        notes,
        counts=merge_counts(batches, [position[str(f)] for f in files]),
        skipped=[{"file": k.file, "reason": k.reason, "error": k.error} for k in skipped],
        partial=partial,
        time_origin=str(cfg.time_origin),
        window_steps=cfg.steps,
        stages_s=stages,
    )


@dataclass
class FloatVsDeployed:
    """One set of recordings replayed through a checkpoint's float model and its export."""

    samples: int
    labelled: int
    dt_us: int
    deployed_backend: str
    float_accuracy: float | None
    deployed_accuracy: float | None
    prediction_agreement: float  #: share of recordings with the same predicted class
    output_count_exact: float  #: share with identical output spike counts
    accuracy_drop_points: float | None  #: 100 * (float - deployed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_replays(fl: ReplayResult, dep: ReplayResult) -> FloatVsDeployed:
    """Sample-by-sample comparison of two replays of the same recordings."""
    if [s.file for s in fl.samples] != [s.file for s in dep.samples]:
        raise BadInputError("the two replays cover different recordings")
    n = len(fl.samples)
    same = [a.predicted == b.predicted for a, b in zip(fl.samples, dep.samples)]
    exact = [a.output_counts == b.output_counts for a, b in zip(fl.samples, dep.samples)]
    drop = (100.0 * (fl.accuracy - dep.accuracy)) if fl.accuracy is not None and dep.accuracy is not None else None
    return FloatVsDeployed(
        n,
        sum(s.label is not None for s in fl.samples),
        fl.dt_us,
        dep.backend,
        fl.accuracy,
        dep.accuracy,
        float(np.mean(same)) if n else float("nan"),
        float(np.mean(exact)) if n else float("nan"),
        drop,
    )


def float_vs_deployed(
    checkpoint: str | Path, net: NetSpec, recordings: list[str | Path], labels: dict[str, int] | None, cfg: ReplayConfig
) -> FloatVsDeployed:
    """Replay ``recordings`` through the checkpoint (backend ``float``) and through ``net``
    (``cfg.backend``) with identical binning and steps, and compare them."""
    from dataclasses import replace

    from neuro_deploy.sim.float_model import load_network

    fl = replay(load_network(checkpoint), recordings, replace(cfg, backend="float"), labels)
    dep = replay(net, recordings, cfg, labels)
    return compare_replays(fl, dep)
