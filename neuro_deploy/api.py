"""The Python API: what each ``neuro-deploy`` command does, as one call.

::

    import neuro_deploy as nd

    data = nd.load_dataset("digits")                       # events -> labelled recordings
    model = nd.train(data, "out/api/model.pt", epochs=3)   # SLAYER, split recorded in the checkpoint
    result = nd.deploy(model, data)                        # export -> fit -> evaluate -> cost
    result                                                 # a table in a notebook; print(result) elsewhere

:func:`deploy` is the one place the chain *export -> fit -> evaluate -> energy and latency*
is built; the demo, the efficient-training benchmark, HSD training and the CLI call it.
Everything returned is a plain dataclass (``to_dict()`` for JSON); :class:`Deployment`
renders itself as a table (``_repr_html_``, ``_repr_markdown_``, ``str``).

Data splits: :func:`train` records the split in the checkpoint (and every export of it),
:func:`evaluate`, :func:`report` and :func:`deploy` score on that split's validation part,
or warn (:class:`SplitWarning`) when they cannot (:func:`neuro_deploy.data.splits.recorded_split`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import numpy as np

from neuro_deploy.errors import BadInputError, UnknownNameError

if TYPE_CHECKING:
    from neuro_deploy.data.datasets import EventDataset
    from neuro_deploy.data.splits import Split
    from neuro_deploy.energy.cost import CostReport
    from neuro_deploy.events.readers import Recording
    from neuro_deploy.hardware.fit import FitResult
    from neuro_deploy.hardware.profile import HardwareProfile
    from neuro_deploy.models.slayer_model import ModelConfig
    from neuro_deploy.netx.export import ExportReport
    from neuro_deploy.netx.spec import NetSpec
    from neuro_deploy.report.build import Workload
    from neuro_deploy.report.compare import Report
    from neuro_deploy.sim.base import RunResult
    from neuro_deploy.sim.evaluate import DeployedEval
    from neuro_deploy.sim.replay import ReplayResult

__all__ = [
    "Deployment",
    "Evaluation",
    "Report",
    "SplitWarning",
    "TrainedModel",
    "deploy",
    "evaluate",
    "export",
    "fit",
    "load_dataset",
    "read_events",
    "replay",
    "report",
    "run",
    "train",
]


def __getattr__(name: str) -> Any:
    if name == "Report":  # the report layer's result type, re-exported
        from neuro_deploy.report.compare import Report

        return Report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PathLike = Union[str, "os.PathLike[str]"]
ProfileLike = Union[str, "os.PathLike[str]", "HardwareProfile"]
#: What deploy/evaluate take as data: a data set, its name, or (tensors (N,C,H,W,T), labels)
DataLike = Union["EventDataset", str, tuple]


class SplitWarning(UserWarning):
    """A model is scored on a split it may have seen training samples of."""


def _warn(notes: Sequence[str], category: type[Warning] = SplitWarning) -> None:
    for n in notes:
        warnings.warn(n, category, stacklevel=3)


def _profile(profile: ProfileLike | None) -> HardwareProfile | None:
    from neuro_deploy.hardware.profile import HardwareProfile, load_profile

    if profile is None or isinstance(profile, HardwareProfile):
        return profile
    return load_profile(profile)


def _net(net: NetSpec | PathLike) -> NetSpec:
    """A netx network (a :class:`NetSpec` or its file), or a checkpoint (``.pt``) as the
    ``float`` backend's :class:`~neuro_deploy.sim.float_model.FloatNet`."""
    from neuro_deploy.sim.float_model import load_network

    return net if hasattr(net, "layers") else load_network(net)  # type: ignore[return-value]


# ------------------------------------------------------------------------------- data
def load_dataset(name: str = "digits", root: PathLike | None = None, **options: Any) -> EventDataset:
    """A labelled event data set by name: ``digits`` (embedded: scikit-learn digits through
    the DVS saccade emulator), ``nmnist`` (a folder, ``root``) or ``mnist-dvs`` (an ``.npz``)."""
    from neuro_deploy.data.datasets import load_dataset as _load

    return _load(name, root=root, **options)


def read_events(path: PathLike, fmt: str | None = None, **options: Any) -> Recording:
    """One recording in any supported format (identified by content; ``fmt`` forces a reader)."""
    from neuro_deploy.events.readers import read_events as _read

    return _read(path, fmt, **options)


# ------------------------------------------------------------------------------ train
@dataclass
class TrainedModel:
    """A trained SLAYER model: its checkpoint (``os.fspath(model)`` is the path) and scores."""

    checkpoint: str
    config: ModelConfig
    float_accuracy: float  #: on the validation part of ``split``
    train_samples: int
    val_samples: int
    train_seconds: float
    split: Split
    history: list[dict[str, float]] = field(default_factory=list)

    def __fspath__(self) -> str:
        return self.checkpoint

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train(
    data: EventDataset | str,
    out: PathLike,
    *,
    hidden: Sequence[int] = (128,),
    conv: Sequence[tuple[int, int, int]] = (),
    epochs: int = 10,
    dt_us: int = 5000,
    num_steps: int = 60,
    val_fraction: float = 0.2,
    seed: int = 0,
    lr: float = 1e-3,
    prune: str | None = None,
    keep: float = 0.5,
    progress: bool = False,
    **train_options: Any,
) -> TrainedModel:
    """Train a SLAYER CUBA network on ``data``'s training split and save the checkpoint.

    The split (``val_fraction``, ``seed``, and which data set) is stored in the checkpoint
    and carried into its exports, so scoring later uses the held-out part. ``prune`` selects
    data per epoch (``sadp``, ``random``, ``el2n``, ``infobatch``, ``full``; ``keep`` the
    fraction kept); ``train_options`` go to :class:`~neuro_deploy.models.TrainConfig`."""
    from neuro_deploy.data.splits import Split
    from neuro_deploy.models import ModelConfig, TrainConfig, save_checkpoint, train_model
    from neuro_deploy.models.slayer_model import evaluate as float_eval

    ds = load_dataset(data) if isinstance(data, str) else data
    split = Split.of(ds, val_fraction, seed)
    tr, va = split.apply(ds)
    cfg = ModelConfig(
        input_shape=(2, ds.sensor[1], ds.sensor[0]),
        num_classes=ds.num_classes,
        hidden=tuple(int(h) for h in hidden),
        conv=tuple(tuple(c) for c in conv),  # type: ignore[misc]
        dt_us=int(dt_us),
        num_steps=int(num_steps),
        time_origin=ds.time_origin,
    )
    selector = None
    if prune is not None:
        from neuro_deploy.models.pruning import make_selector

        selector = make_selector(prune, len(tr), keep, epochs, seed)
    x_tr, x_va = tr.to_tensors(dt_us, num_steps), va.to_tensors(dt_us, num_steps)
    res = train_model(
        cfg,
        TrainConfig(epochs=epochs, seed=seed, lr=lr, progress=progress, **train_options),
        x_tr,
        tr.labels,
        selector=selector,
    )
    acc, _ = float_eval(res.model, x_va, va.labels)
    save_checkpoint(
        res,
        cfg,
        out,
        meta={
            "dataset": split.dataset,
            "val_accuracy": acc,
            "history": res.history,
            "prune": prune,
            "keep": keep,
            "split": split.to_meta(),
        },
    )
    return TrainedModel(os.fspath(out), cfg, float(acc), len(tr), len(va), res.train_seconds, split, res.history)


# ----------------------------------------------------------------------------- export
def export_routes() -> dict[str, dict[str, Callable[..., ExportReport]]]:
    """Export routes by target and source kind (``nir`` for ``.nir`` graphs, else ``checkpoint``).

    The registry lives here, above the implementations (netx writes checkpoints, nir
    converts graphs), so neither lower layer imports the other."""
    from neuro_deploy.netx.export import export_loihi2_sim
    from neuro_deploy.nir.export import export_checkpoint_to_nir, export_nir_to_loihi2_sim

    return {
        "loihi2-sim": {"checkpoint": export_loihi2_sim, "nir": export_nir_to_loihi2_sim},
        "nir": {"checkpoint": export_checkpoint_to_nir},
    }


TARGETS = ("loihi2-sim", "nir")


def export(
    model: PathLike,
    out: PathLike,
    target: str = "loihi2-sim",
    profile: ProfileLike | None = None,
    verify_inputs: np.ndarray | None = None,
    verify_samples: int = 8,
    seed: int = 0,
    check_recordings: Sequence[PathLike] | None = None,
    check_labels: dict[str, int] | None = None,
    check_backend: str = "fast",
    **options: Any,
) -> ExportReport:
    """Export a checkpoint (``.pt``) or NIR graph (``.nir``) for ``target``.

    ``loihi2-sim`` writes netx HDF5 and verifies it before it is moved into place: a
    checkpoint's float model and the fixed-point network run ``verify_inputs`` (default:
    ``verify_samples`` random spike trains; an empty array skips the check) and their
    agreement is reported; a NIR graph gets the fidelity check of
    :mod:`neuro_deploy.nir.fidelity`. With ``profile`` the network must fit that hardware
    (:class:`~neuro_deploy.errors.ResourceLimitError` otherwise). With ``check_recordings``
    the checkpoint and the written network also replay those recordings (float vs
    ``check_backend``; ``rep.check``). ``nir`` writes a NIR graph. ``options`` go to the
    route (``dt``, ``scaling``). Nothing is left at ``out`` when any step fails."""
    from neuro_deploy._io import atomic_path
    from neuro_deploy.netx.export import source_kind

    routes = export_routes()
    if target not in routes:
        raise UnknownNameError("target", target, routes)
    kind = source_kind(model)
    if kind not in routes[target]:
        raise UnknownNameError(f"source for target {target}", kind, routes[target])
    prof = _profile(profile)
    verify_model = None
    if target == "loihi2-sim" and kind == "checkpoint":
        from neuro_deploy.models import load_checkpoint
        from neuro_deploy.netx.export import default_verify_inputs

        verify_model, cfg, _ = load_checkpoint(model)
        if verify_inputs is None:
            verify_inputs = default_verify_inputs(cfg, verify_samples, seed)
    with atomic_path(out, Path(out).suffix or (".net" if target == "loihi2-sim" else ".nir")) as tmp:
        rep = routes[target][kind](
            model, tmp, profile=prof, verify_inputs=verify_inputs, verify_samples=verify_samples, seed=seed, **options
        )
        if verify_model is not None and verify_inputs is not None and len(verify_inputs):
            from neuro_deploy.sim.evaluate import verify_agreement

            rep.agreement = verify_agreement(verify_model, tmp, verify_inputs)
        if prof is not None and target == "loihi2-sim":
            from neuro_deploy.hardware.fit import fit_network

            rep.fit = fit_network(_net(tmp), prof, strict=True).to_dict()
        if check_recordings is not None:  # the file appears only once the check has run too
            from neuro_deploy.netx.meta import read_meta
            from neuro_deploy.sim.replay import ReplayConfig, float_vs_deployed

            rep.check = float_vs_deployed(
                model,
                _net(tmp),
                list(check_recordings),
                check_labels,
                ReplayConfig(dt_us=int(read_meta(tmp)["dt_us"]), backend=check_backend),
            )
    rep.path = os.fspath(out)
    if isinstance(getattr(rep, "nir", None), dict):
        rep.nir["conversion"]["path"] = rep.path  # type: ignore[attr-defined]
    return rep


# -------------------------------------------------------------------------- fit / run
def fit(net: NetSpec | PathLike, profile: ProfileLike = "loihi2", skip_input: bool = False) -> FitResult:
    """Map a netx network onto the cores and chips of a hardware profile (never raises for a
    network that does not fit: see ``.fits`` and ``.violations``)."""
    from neuro_deploy.hardware.fit import fit_network
    from neuro_deploy.netx.spec import load_netx

    spec = net if hasattr(net, "layers") else load_netx(net)
    return fit_network(spec, _profile(profile), skip_input=skip_input)  # type: ignore[arg-type]


def run(
    net: NetSpec | PathLike,
    inputs: np.ndarray | None = None,
    steps: int | None = None,
    backend: str = "fast",
    input_bias: np.ndarray | None = None,
    reset_interval: int | None = None,
    probe: str = "all",
) -> RunResult:
    """Simulate a netx network. ``inputs``: one sample shaped ``net.inp.shape + (T,)`` (Lava's
    layout, as a ``RingBuffer`` sends it) or a batch with a leading axis; ``steps`` defaults
    to ``T``. Spikes per layer come back batched, ``(B,) + layer.out.shape + (steps,)``."""
    from neuro_deploy.sim import RunSpec, get_backend

    spec = _net(net)
    x = None
    if inputs is not None:
        x = np.asarray(inputs)
        if x.ndim == len(spec.input_lava_shape) + 1:
            x = x[None]
    if steps is None:
        if x is None:
            raise BadInputError("run: give steps (or inputs, whose last axis sets them)")
        steps = int(x.shape[-1])
    return get_backend(backend).run(
        spec, RunSpec(steps=int(steps), inputs=x, input_bias=input_bias, reset_interval=reset_interval, probe=probe)
    )


def replay(
    net: NetSpec | PathLike,
    recordings: PathLike | Sequence[PathLike],
    dt_us: int | None = None,
    labels: PathLike | dict[str, int] | None = None,
    backend: str = "fast",
    progress: bool = False,
    **options: Any,
) -> ReplayResult:
    """Stream recordings (files or folders, any format) through a network: predictions,
    accuracy, latency and counts per recording. ``dt_us`` and the binning default to the
    network's own (export metadata); ``options`` are :class:`~neuro_deploy.sim.replay.ReplayConfig`
    fields (``workers``, ``execution``, ``shard_size``, ``downsample``, ``crop``, ``on_error`` ...)."""
    from neuro_deploy.data.datasets import read_labels
    from neuro_deploy.sim.replay import ReplayConfig
    from neuro_deploy.sim.replay import replay as _replay

    recs = [recordings] if isinstance(recordings, (str, os.PathLike)) else list(recordings)
    lab = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else labels
    return _replay(
        _net(net),
        [os.fspath(r) for r in recs],
        ReplayConfig(
            dt_us=dt_us,
            backend=backend,  # type: ignore[arg-type]
            **options,
        ),
        lab,
        progress=progress,
    )


# --------------------------------------------------------------------------- evaluate
@dataclass
class Evaluation:
    """Deployed accuracy of a network on a labelled data set (the ``evaluate`` command)."""

    network: str
    backend: str
    accuracy: float | None
    samples: int
    dt_us: int
    steps: int
    time_origin: str
    wall_s: float
    split: dict[str, Any]  #: the split scored on (Split.to_meta), or {} for tensors
    part: str  #: val | train | all
    warnings: list[str] = field(default_factory=list)
    deployed: DeployedEval | None = field(default=None, repr=False)
    tensors: np.ndarray | None = field(default=None, repr=False)  #: (N, C, H, W, T) what ran
    labels: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("deployed", "tensors", "labels")}
        d["layers"] = [c.totals() for c in self.deployed.counts] if self.deployed else []
        return d


def _scoring_data(
    meta: dict[str, Any],
    what: str,
    data: DataLike,
    part: str,
    limit: int | None,
    dt_us: int | None = None,
    steps: int | None = None,
    time_origin: str | None = None,
):
    """(tensors, lengths, labels, binning, split dict, warnings) for scoring a network whose
    metadata (binning and split) is ``meta`` on ``data``."""
    from neuro_deploy.netx.meta import binning_for

    binning = binning_for(meta, dt_us, steps, time_origin, what=what)
    if isinstance(data, tuple):
        x, y = np.asarray(data[0]), np.asarray(data[1])
        if limit:
            x, y = x[:limit], y[:limit]
        return x, np.full(len(x), x.shape[-1], np.int64), y, binning, {}, []
    from neuro_deploy.data.splits import recorded_split

    if part not in ("val", "train", "all"):
        raise UnknownNameError("split", part, ("val", "train", "all"))
    ds = load_dataset(data) if isinstance(data, str) else data
    notes: list[str] = []
    split_meta: dict[str, Any] = {}
    if part != "all":
        tr, va, used, notes = recorded_split(ds, meta, what=Path(what).name)
        ds = va if part == "val" else tr
        split_meta = used.to_meta()
    if limit:
        ds = ds.subset(np.arange(min(limit, len(ds))))
    x, lengths = ds.bin(binning)
    return x, lengths, ds.labels, binning, split_meta, notes


def evaluate(
    net: NetSpec | PathLike,
    data: DataLike = "digits",
    backend: str = "fast",
    split: str = "val",
    limit: int | None = None,
    dt_us: int | None = None,
    steps: int | None = None,
    time_origin: str | None = None,
    batch_size: int = 128,
    progress: bool = False,
    execution: Any = None,
) -> Evaluation:
    """Deployed (fixed-point) accuracy of a netx network on a labelled data set; for a
    checkpoint (``.pt``) the float model's accuracy on the same inputs and steps (backend ``float``).

    ``split``: ``val`` (default) or ``train`` - the part of the split the network records
    (its training run's), or the default split with a :class:`SplitWarning` - or ``all``.
    The binning (``dt_us``, window, time origin) is the network's own unless given.
    ``execution`` (:class:`neuro_deploy.cluster.Execution`) says where the batches run:
    local processes or Ray (default: this process); the figures do not depend on it."""
    from neuro_deploy.sim.evaluate import evaluate_deployed
    from neuro_deploy.sim.float_model import FloatNet, network_meta

    spec = _net(net)
    if isinstance(spec, FloatNet):  # a checkpoint runs its float model
        backend = "float"
    x, lengths, y, binning, split_meta, notes = _scoring_data(
        network_meta(spec), str(spec.path), data, split, limit, dt_us, steps, time_origin
    )
    _warn(notes)
    ev = evaluate_deployed(
        spec, x, y, backend=backend, batch_size=batch_size, progress=progress, lengths=lengths, execution=execution
    )
    return Evaluation(
        str(spec.path),
        backend,
        ev.accuracy,
        ev.samples,
        binning.dt_us,
        binning.num_steps or int(lengths.max(initial=1)),
        binning.time_origin,
        ev.wall_s,
        split_meta,
        split,
        notes,
        ev,
        x,
        y,
    )


# ----------------------------------------------------------------------------- report
def report(nets: Any, workload: Workload | None = None, **options: Any) -> Report:
    """Accuracy, latency and energy per inference of one network or several side by side:
    :func:`neuro_deploy.report.compare.report` (``neuro_deploy.report`` is also that call)."""
    from neuro_deploy.report.compare import report as _report

    return _report(nets, workload, **options)


# ----------------------------------------------------------------------------- deploy
@dataclass
class Deployment:
    """A model on the hardware: its netx file, fit, float vs deployed accuracy, energy and
    latency per inference with the cost model's uncertainty band."""

    model: str  #: what was deployed (checkpoint, NIR or netx)
    netx: str  #: the exported network
    target: str
    profile: str
    backend: str
    samples: int
    float_accuracy: float | None  #: the float model on the same inputs (checkpoints)
    deployed_accuracy: float | None
    fits: bool
    fit_summary: str
    cores: int
    chips: int
    energy_per_inference_uj: float
    energy_per_inference_uj_band: list[float]
    dynamic_energy_uj: float
    static_energy_uj: float
    time_per_step_us: float
    time_per_step_us_band: list[float]
    latency_us: float
    steps_per_inference: int
    band_basis: str
    binning: dict[str, Any]
    split: dict[str, Any]
    float_deployed_agreement: float | None = None  #: share of samples with the same predicted class
    warnings: list[str] = field(default_factory=list)
    network: NetSpec | None = field(default=None, repr=False)
    fit: FitResult | None = field(default=None, repr=False)
    cost: CostReport | None = field(default=None, repr=False)
    evaluation: DeployedEval | None = field(default=None, repr=False)
    export: ExportReport | None = field(default=None, repr=False)

    @property
    def latency_us_band(self) -> list[float]:
        """Latency at the low / high end of the band (time per step x steps)."""
        k = self.latency_us / self.time_per_step_us if self.time_per_step_us else 0.0
        return [b * k for b in self.time_per_step_us_band]

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the fit, cost and export in full)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("fit", "cost", "evaluation", "export", "network")}
        d["latency_us_band"] = self.latency_us_band
        d["fit"] = self.fit.to_dict() if self.fit is not None else None
        d["layers"] = [asdict(lc) for lc in self.cost.layers] if self.cost is not None else []
        from neuro_deploy.report.compare import plain

        return plain(d)

    def loihi2_summary(self) -> dict[str, Any]:
        """Fit, energy and latency in the demo's ``loihi2`` keys (``summary.json``)."""
        cost = self.cost
        return {
            "profile": self.profile,
            "fits": self.fits,
            "fit_summary": self.fit_summary,
            "cores": self.cores,
            "chips": self.chips,
            "cores_per_layer": {lf.name: lf.cores for lf in self.fit.layers} if self.fit else {},
            "energy_per_inference_uj": self.energy_per_inference_uj,
            "energy_per_inference_uj_band": self.energy_per_inference_uj_band,
            "dynamic_energy_uj": self.dynamic_energy_uj,
            "static_energy_uj": self.static_energy_uj,
            "time_per_step_us": self.time_per_step_us,
            "time_per_step_us_band": self.time_per_step_us_band,
            "latency_us": self.latency_us,
            "steps_per_inference": self.steps_per_inference,
            "band_basis": cost.band_basis if cost else self.band_basis,
        }

    def rows(self) -> list[tuple[str, str]]:
        """(quantity, value) rows of the summary table."""

        def acc(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.4f}"

        e_lo, e_hi = self.energy_per_inference_uj_band or [self.energy_per_inference_uj] * 2
        t_lo, t_hi = self.time_per_step_us_band or [self.time_per_step_us] * 2
        l_lo, l_hi = self.latency_us_band or [self.latency_us] * 2
        return [
            ("model", self.model),
            ("netx", self.netx),
            (f"fit on {self.profile}", self.fit_summary),
            ("float accuracy", acc(self.float_accuracy) + f" ({self.samples} samples)"),
            (
                f"deployed accuracy ({self.backend})",
                acc(self.deployed_accuracy)
                + f" ({self.samples} samples"
                + (
                    f"; same class as float {self.float_deployed_agreement:.3f})"
                    if self.float_deployed_agreement is not None
                    else ")"
                ),
            ),
            (
                "energy per inference",
                f"{self.energy_per_inference_uj:.4g} uJ (band {e_lo:.3g} - {e_hi:.3g}; "
                f"dynamic {self.dynamic_energy_uj:.3g}, static {self.static_energy_uj:.3g})",
            ),
            (
                "latency per inference",
                f"{self.latency_us:.4g} us (band {l_lo:.3g} - {l_hi:.3g}) over {self.steps_per_inference} steps",
            ),
            ("time per step", f"{self.time_per_step_us:.4g} us (band {t_lo:.3g} - {t_hi:.3g})"),
        ]

    def __str__(self) -> str:
        rows = self.rows()
        w = max(len(k) for k, _ in rows)
        lines = [f"{k:{w}s}  {v}" for k, v in rows]
        return "\n".join(lines + [f"warning: {m}" for m in self.warnings])

    def _repr_markdown_(self) -> str:
        def esc(s: str) -> str:
            return s.replace("|", "\\|")

        body = "\n".join(f"| {esc(k)} | {esc(v)} |" for k, v in self.rows())
        warn = "".join(f"\n\n> warning: {esc(m)}" for m in self.warnings)
        return "| deployment | |\n|---|---|\n" + body + warn

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>{escape(v)}</td></tr>"
            for k, v in self.rows()
        )
        warn = "".join(f"<p><b>warning:</b> {escape(m)}</p>" for m in self.warnings)
        return f"<table><caption>neuro-deploy deployment</caption>{rows}</table>{warn}"


def deploy(
    model_or_checkpoint: TrainedModel | PathLike,
    data: DataLike,
    target: str = "loihi2-sim",
    profile: ProfileLike = "loihi2",
    *,
    out: PathLike | None = None,
    backend: str = "fast",
    split: str = "val",
    limit: int | None = None,
    batch_size: int = 128,
    skip_input: bool = False,
    verify_samples: int = 16,
    progress: bool = False,
) -> Deployment:
    """Deploy a model and measure it: export -> fit -> evaluate -> energy and latency.

    ``model_or_checkpoint``: a checkpoint (``.pt``, or what :func:`train` returns), a NIR
    graph (``.nir``) or an already exported netx file (``.net``). It is exported for
    ``target`` to ``out`` (default: beside the model, ``.net``; verified on the first
    ``verify_samples`` data samples), fitted to ``profile``, run on ``backend`` over ``data``
    (a data set or its name - the validation part of the split the model records - or
    ``(tensors, labels)``), and the run's activity is costed on the profile
    (:func:`~neuro_deploy.energy.cost.fit_and_cost`). A checkpoint's float model runs the
    same inputs for the same steps (backend ``float``): the float accuracy."""
    from neuro_deploy.energy.cost import fit_and_cost
    from neuro_deploy.netx.export import source_kind
    from neuro_deploy.sim.evaluate import evaluate_deployed
    from neuro_deploy.sim.float_model import network_meta

    if target != "loihi2-sim":
        raise UnknownNameError("deploy target", target, ("loihi2-sim",))
    prof = _profile(profile)  # checked before any work
    src = Path(os.fspath(model_or_checkpoint))
    if not src.is_file():
        raise BadInputError(f"{src}: no such model (a checkpoint .pt, NIR graph .nir or netx .net)")
    is_netx = src.suffix.lower() in (".net", ".h5", ".hdf5")
    kind = "netx" if is_netx else source_kind(src)
    net_path = src if is_netx else (Path(os.fspath(out)) if out is not None else src.with_suffix(".net"))
    if net_path.resolve() == src.resolve() and not is_netx:
        raise BadInputError(f"{src}: the export would overwrite the model itself; pass out=")
    float_net_ = None
    rep = None
    if kind == "checkpoint":  # binning and split from the checkpoint: data first, then export
        float_net_ = _net(src)
        x, lengths, y, binning, split_meta, notes = _scoring_data(
            network_meta(float_net_), str(src), data, split, limit
        )
        rep = export(src, net_path, target, verify_inputs=x[:verify_samples])
    else:
        if kind == "nir":
            rep = export(src, net_path, target)
        x, lengths, y, binning, split_meta, notes = _scoring_data(
            network_meta(_net(net_path)), str(net_path), data, split, limit
        )
    _warn(notes)
    net = _net(net_path)
    ev = evaluate_deployed(net, x, y, backend=backend, batch_size=batch_size, progress=progress, lengths=lengths)
    float_acc, agree = None, None
    if float_net_ is not None:
        fl = evaluate_deployed(float_net_, x, y, backend="float", batch_size=batch_size, lengths=lengths)
        float_acc = fl.accuracy
        agree = float(np.mean(fl.predictions == ev.predictions)) if ev.samples else None
    fit_res, cost = fit_and_cost(net, ev.counts, prof, skip_input=skip_input)  # type: ignore[arg-type]
    return Deployment(
        model=str(src),
        netx=str(net_path),
        target=target,
        profile=cost.profile,
        backend=backend,
        samples=ev.samples,
        float_accuracy=None if float_acc is None else float(float_acc),
        deployed_accuracy=ev.accuracy,
        fits=fit_res.fits,
        fit_summary=fit_res.summary(),
        cores=fit_res.cores,
        chips=fit_res.chips,
        energy_per_inference_uj=cost.energy_per_inference_uj,
        energy_per_inference_uj_band=list(cost.energy_per_inference_uj_band),
        dynamic_energy_uj=cost.dynamic_energy_uj,
        static_energy_uj=cost.static_energy_uj,
        time_per_step_us=cost.time_per_step_us,
        time_per_step_us_band=list(cost.time_per_step_us_band),
        latency_us=cost.latency_us,
        steps_per_inference=cost.steps_per_inference,
        band_basis=cost.band_basis,
        binning={"dt_us": binning.dt_us, "num_steps": binning.num_steps, "time_origin": binning.time_origin},
        split=split_meta,
        float_deployed_agreement=agree,
        warnings=notes,
        network=net,
        fit=fit_res,
        cost=cost,
        evaluation=ev,
        export=rep,
    )
