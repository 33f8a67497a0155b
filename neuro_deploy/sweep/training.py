"""Training methods as sweep cells: train one model with one method and seed, deploy it.

A cell (:func:`train_cell`) takes the data set (its first ``limit`` samples, if given),
splits it with its seed (validation fraction
``val_fraction``), trains a SLAYER CUBA 2312-128-10 network (30 steps of 10 ms) with the
method, saves, exports it to netx and evaluates it on the bit-exact fast backend over
the whole validation split, costed with the loihi2 profile. Its row:

* ``float`` / ``deployed`` - accuracy of the float model and of the exported netx model;
* ``train_s`` - wall time of training the evaluated model (for HSD and pretraining
  including their teacher / ANN stage); ``prep_s`` - one-off cost of building a distilled
  set; ``bytes`` - the training data as bits;
* ``energy_uj`` / ``latency_us`` - loihi2 cost per inference of the deployed run.

Methods (:data:`METHODS`, matched by name pattern): ``full``; ``prune-SEL-KEEP`` (a
:mod:`neuro_deploy.models.pruning` selector keeping ``KEEP`` per epoch); ``pretrain-ann+1ep``
(``train --pretrain ann``'s recipe: ANN pretraining on event rates, calibrated transfer, one
epoch of fine-tuning with the ANN's optimizer state, lr 1e-4, rate cross-entropy);
``hsd-Nsteps`` (10 teacher frames, a student on N steps); ``distill-M-ipcK``
(:mod:`neuro_deploy.data.distill` method M, K images per class, then a fresh SNN trained
:func:`~neuro_deploy.models.recipes.distilled_epochs` epochs on the stored frames, with the
distillation's augmentation). PACE's teachers are the per-epoch snapshots
of the same seed's full-data run, which the cell trains itself (cells are independent; the
time of that run is not in ``prep_s``, as it would be shared with the ``full`` cell).

Every cell sets torch to ``threads`` threads, so a cell gives the same figures in this
process, a local worker or a Ray worker.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy.errors import UnknownNameError

ROW_KEYS = ("float", "deployed", "train_s", "prep_s", "bytes", "energy_uj", "latency_us")


@dataclass
class Context:
    """What every method of a cell shares."""

    params: dict[str, Any]
    ds: Any
    tr: Any
    va: Any
    cfg: Any  #: ModelConfig of the full-data model
    x_tr: np.ndarray
    x_va: np.ndarray
    full_bytes: int
    workdir: Path
    split: Any = None  #: the data split (neuro_deploy.data.splits.Split), recorded in checkpoints


def deployed(model_path: Path, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Deploy (export, fit, fast backend, cost on loihi2: :func:`neuro_deploy.api.deploy`):
    deployed accuracy, µJ and µs per inference."""
    from neuro_deploy.api import deploy

    dep = deploy(model_path, (x, y), verify_samples=0)
    return {
        "deployed": float(dep.deployed_accuracy),
        "energy_uj": float(dep.energy_per_inference_uj),
        "latency_us": float(dep.latency_us),
    }


def _record(
    ctx: Context, name: str, model: Any, mcfg: Any, train_s: float, x_eval: np.ndarray, nbytes: int, prep_s: float = 0.0
) -> dict[str, float]:
    from neuro_deploy.models import save_checkpoint
    from neuro_deploy.models.slayer_model import evaluate

    p = ctx.workdir / f"{name}-{ctx.params['seed']}.pt"
    save_checkpoint(model, mcfg, p, meta={"split": ctx.split.to_meta()})
    return {
        "float": evaluate(model, x_eval, ctx.va.labels)[0],
        **deployed(p, x_eval, ctx.va.labels),
        "train_s": train_s,
        "prep_s": prep_s,
        "bytes": nbytes,
    }


def _tcfg(ctx: Context, **kw: Any):
    from neuro_deploy.models import TrainConfig

    return TrainConfig(
        **{
            "epochs": ctx.params["epochs"],
            "seed": ctx.params["seed"],
            "progress": False,
            "threads": ctx.params["threads"],
            **kw,
        }
    )


def _full(ctx: Context, m: re.Match) -> dict[str, float]:
    from neuro_deploy.models import train_model

    t = time.perf_counter()
    r = train_model(ctx.cfg, _tcfg(ctx), ctx.x_tr, ctx.tr.labels)
    return _record(ctx, m.group(0), r.model, ctx.cfg, time.perf_counter() - t, ctx.x_va, ctx.full_bytes)


def _prune(ctx: Context, m: re.Match) -> dict[str, float]:
    from neuro_deploy.models import train_model
    from neuro_deploy.models.pruning import make_selector

    sel, keep = m.group(1), float(m.group(2))
    t = time.perf_counter()
    r = train_model(
        ctx.cfg,
        _tcfg(ctx),
        ctx.x_tr,
        ctx.tr.labels,
        selector=make_selector(sel, len(ctx.x_tr), keep, ctx.params["epochs"], ctx.params["seed"]),
    )
    return _record(ctx, m.group(0), r.model, ctx.cfg, time.perf_counter() - t, ctx.x_va, ctx.full_bytes)


def _pretrain(ctx: Context, m: re.Match) -> dict[str, float]:
    from neuro_deploy.models import train_model
    from neuro_deploy.recipes import ann_pretraining

    t = time.perf_counter()  # train --pretrain ann's recipe (pipeD), one fine-tuning epoch
    hooks, _ = ann_pretraining(
        ctx.cfg, ctx.tr, ctx.x_tr, ctx.params["dataset"], "events", None, 15, ctx.params["seed"], warmup_epochs=0
    )
    r = train_model(
        ctx.cfg,
        _tcfg(ctx, epochs=1, lr=1e-4, loss="rate_ce"),
        ctx.x_tr,
        ctx.tr.labels,
        init=hooks.init,
        init_optimizer=hooks.init_optimizer,
        on_epoch=hooks.on_epoch,
    )
    return _record(ctx, m.group(0), r.model, ctx.cfg, time.perf_counter() - t, ctx.x_va, ctx.full_bytes)


def _hsd(ctx: Context, m: re.Match) -> dict[str, float]:
    from neuro_deploy.models.hsd import HSDConfig, train_hsd

    steps = int(m.group(1))
    t = time.perf_counter()
    h = train_hsd(
        ctx.cfg, HSDConfig(teacher_frames=10, student_steps=steps, student_epochs=2, seed=ctx.params["seed"]), ctx.tr
    )
    cfgs = h.config
    return _record(
        ctx, m.group(0), h.model, cfgs, time.perf_counter() - t, ctx.va.to_tensors(cfgs.dt_us, steps), ctx.full_bytes
    )


def _distill(ctx: Context, m: re.Match) -> dict[str, float]:
    from neuro_deploy.data.distill import DistillConfig, distill
    from neuro_deploy.models import train_model
    from neuro_deploy.models.recipes import distilled_epochs
    from neuro_deploy.models.slayer_model import Snapshots

    method, ipc = m.group(1), int(m.group(2))
    teachers = None
    if method == "pace":  # the full run's per-epoch snapshots (see module docstring)
        snaps = Snapshots()
        train_model(ctx.cfg, _tcfg(ctx), ctx.x_tr, ctx.tr.labels, on_epoch=snaps)
        teachers = snaps.models(ctx.cfg)
    t = time.perf_counter()
    dc = DistillConfig(ipc=ipc, iterations=ctx.params["distill_iterations"], seed=ctx.params["seed"], progress=False)
    dd = distill(method, ctx.x_tr, ctx.tr.labels, dc, teacher=teachers, model_cfg=ctx.cfg)
    prep = time.perf_counter() - t
    t = time.perf_counter()  # as `train --data` trains on a distilled file
    r = train_model(
        ctx.cfg, _tcfg(ctx, epochs=distilled_epochs(len(dd.frames))[0], augment=dc.augment), dd.frames, dd.labels
    )
    return _record(
        ctx, m.group(0), r.model, ctx.cfg, time.perf_counter() - t, ctx.x_va, int(np.packbits(dd.frames).nbytes), prep
    )


#: name pattern -> method (the match gives its parameters)
METHODS: dict[str, Callable[[Context, re.Match], dict[str, float]]] = {
    r"full": _full,
    r"prune-([a-z0-9]+)-([0-9.]+)": _prune,
    r"pretrain-ann\+1ep": _pretrain,
    r"hsd-([0-9]+)steps": _hsd,
    r"distill-([a-z]+)-ipc([0-9]+)": _distill,
}
FORMS = ["full", "prune-SEL-KEEP", "pretrain-ann+1ep", "hsd-Nsteps", "distill-METHOD-ipcK"]


def match_method(name: str) -> tuple[Callable[[Context, re.Match], dict[str, float]], re.Match]:
    for pattern, fn in METHODS.items():
        m = re.fullmatch(pattern, name)
        if m:
            return fn, m
    raise UnknownNameError("training method", name, FORMS)


def check_method(name: str) -> None:
    """Raise a named error now for a method a cell could not run."""
    from neuro_deploy.data.distill import METHODS as DISTILL
    from neuro_deploy.models.pruning import SELECTORS

    _, m = match_method(name)
    if name.startswith("prune-") and m.group(1) not in SELECTORS:
        raise UnknownNameError(f"pruning selector (in {name})", m.group(1), SELECTORS)
    if name.startswith("distill-") and m.group(1) not in DISTILL:
        raise UnknownNameError(f"distillation method (in {name})", m.group(1), DISTILL)


def train_cell(params: dict[str, Any]) -> dict[str, float]:
    """One training cell (module docstring); ``params`` as built by the sweep config."""
    import torch

    from neuro_deploy.data import load_dataset
    from neuro_deploy.data.splits import Split
    from neuro_deploy.models import ModelConfig

    torch.set_num_threads(params["threads"])
    fn, m = match_method(params["method"])
    ds = load_dataset(params["dataset"], root=params.get("root"), progress=False)
    if params.get("limit"):
        ds = ds.subset(np.arange(min(params["limit"], len(ds))))
    split = Split.of(ds, params["val_fraction"], params["seed"])
    tr, va = split.apply(ds)
    cfg = ModelConfig(input_shape=(2, ds.sensor[1], ds.sensor[0]), hidden=(128,), dt_us=10_000, num_steps=30)
    x_tr, x_va = tr.to_tensors(cfg.dt_us, cfg.num_steps), va.to_tensors(cfg.dt_us, cfg.num_steps)
    with tempfile.TemporaryDirectory(prefix="neuro-deploy-cell-") as d:
        ctx = Context(params, ds, tr, va, cfg, x_tr, x_va, int(np.packbits(x_tr).nbytes), Path(d), split)
        row = fn(ctx, m)
    return {k: float(row[k]) for k in ROW_KEYS}
