"""The main job end to end: events -> SLAYER -> netx -> Lava (and the fast backend).

:func:`run_demo` builds (or reads) the data set, trains a SLAYER CUBA model with a
progress bar (:func:`neuro_deploy.api.train`, the split recorded), deploys it
(:func:`neuro_deploy.api.deploy`: export ``--target loihi2-sim``, fit, the held-out samples
on the bit-exact fast backend and, for the float accuracy, the float model on the same
inputs and steps, energy and latency on Loihi 2), then runs held-out samples on Lava's
``Loihi2SimCfg(select_tag='fixed_pt')`` and reports float vs deployed accuracy with
per-layer spike and synaptic-op counts. Everything lands in ``out_dir`` (checkpoint,
``model.net``, ``summary.json``, ``summary.png``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy._io import write_text_atomic

SUMMARY_SCHEMA = "neuro-deploy-demo/1"


@dataclass
class DemoConfig:
    out_dir: str = "out/demo"
    dataset: str = "digits"
    root: str | None = None
    val_fraction: float = 0.2
    epochs: int = 10
    hidden: tuple[int, ...] = (128,)
    dt_us: int = 5000
    num_steps: int = 60
    lava_samples: int = 120  #: held-out samples run in Lava (all run on `fast`)
    seed: int = 0
    progress: bool = True


@dataclass
class DemoResult:
    schema: str
    dataset: str
    train_samples: int
    val_samples: int
    float_accuracy: float
    fast_accuracy: float
    lava_accuracy: float | None
    lava_samples: int
    fast_accuracy_on_lava_subset: float | None
    lava_fast_prediction_agreement: float | None
    train_seconds: float
    lava_seconds: float | None
    fast_seconds: float
    layers: list[dict[str, Any]] = field(default_factory=list)
    export: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    loihi2: dict[str, Any] = field(default_factory=dict)  #: fit, energy and latency on the profile
    float_fast_prediction_agreement: float | None = None  #: same class, float model vs deployed (fast)
    quantization: str = ""  #: the trained model's forward-pass mode


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> DemoResult:
    from neuro_deploy.api import deploy, train
    from neuro_deploy.data import load_dataset
    from neuro_deploy.sim.evaluate import evaluate_deployed

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log(
        f"[1/5] data set {cfg.dataset!r}"
        + (f" from {cfg.root}" if cfg.root else " (embedded: scikit-learn digits through the DVS saccade emulator)")
    )
    ds = load_dataset(cfg.dataset, root=cfg.root, progress=cfg.progress)
    n_val = len(ds.split(cfg.val_fraction, cfg.seed)[1])
    log(
        f"      {len(ds) - n_val} train / {n_val} validation recordings -> spike tensors "
        f"(2, {ds.sensor[1]}, {ds.sensor[0]}, {cfg.num_steps}) (dt {cfg.dt_us} us)"
    )

    log(f"[2/5] training SLAYER CUBA (2, {ds.sensor[1]}, {ds.sensor[0]}) -> {tuple(cfg.hidden)} -> {ds.num_classes}")
    ckpt = out / "model.pt"
    trained = train(
        ds,
        ckpt,
        hidden=cfg.hidden,
        epochs=cfg.epochs,
        dt_us=cfg.dt_us,
        num_steps=cfg.num_steps,
        val_fraction=cfg.val_fraction,
        seed=cfg.seed,
        progress=cfg.progress,
    )
    log(f"      trained in {trained.train_seconds:.1f} s")

    log(f"[3/5] export --target loihi2-sim, fit, fast backend on all {n_val} validation samples, cost on loihi2")
    net_path = out / "model.net"
    dep = deploy(trained, ds, out=net_path, verify_samples=16)
    rep = dep.export
    log(
        f"      wrote {net_path}; float vs fixed-point class agreement on 16 samples: "
        f"{rep.agreement.class_agreement:.3f}"
    )
    log(
        f"      float (SLAYER, same inputs and steps) {dep.float_accuracy:.4f}, deployed (fast) "
        f"{dep.deployed_accuracy:.4f}"
    )
    fast = dep.evaluation
    _, val = trained.split.apply(ds)
    x_va = val.to_tensors(cfg.dt_us, cfg.num_steps)
    lava = None
    if cfg.lava_samples > 0:
        k = min(cfg.lava_samples, len(val))
        log(f"[4/5] Lava Loihi2SimCfg(fixed_pt) on {k} validation samples ({k * fast.steps} steps)")
        t0 = time.perf_counter()
        lava = evaluate_deployed(dep.network, x_va[:k], val.labels[:k], backend="lava", batch_size=k)
        lava.wall_s = time.perf_counter() - t0
    log("[5/5] summary")
    agree = float(np.mean(lava.predictions == fast.predictions[: lava.samples])) if lava else None
    result = DemoResult(
        schema=SUMMARY_SCHEMA,
        dataset=cfg.dataset,
        train_samples=trained.train_samples,
        val_samples=len(val),
        float_accuracy=float(dep.float_accuracy),
        fast_accuracy=float(fast.accuracy),
        lava_accuracy=lava.accuracy if lava else None,
        lava_samples=lava.samples if lava else 0,
        fast_accuracy_on_lava_subset=float(np.mean(fast.predictions[: lava.samples] == val.labels[: lava.samples]))
        if lava
        else None,
        lava_fast_prediction_agreement=agree,
        train_seconds=trained.train_seconds,
        lava_seconds=lava.wall_s if lava else None,
        fast_seconds=fast.wall_s,
        layers=[
            dict(
                c.totals(),
                synops_per_sample=float(c.synops.sum() / max(1, c.samples)),
                spikes_per_sample=float(c.output_spikes.sum() / max(1, c.samples)),
            )
            for c in (lava.counts if lava else fast.counts)
        ],
        export=rep.to_dict(),
        history=trained.history,
        files={"checkpoint": str(ckpt), "netx": str(net_path)},
        float_fast_prediction_agreement=dep.float_deployed_agreement,
        quantization=rep.quantization,
        loihi2=dep.loihi2_summary(),
    )
    if lava is not None:
        lava_layers = [c.totals() for c in lava.counts]
        fast_sub = evaluate_deployed(dep.network, x_va[: lava.samples], None, backend="fast")
        result.export["lava_fast_counts_equal"] = lava_layers == [c.totals() for c in fast_sub.counts]
    write_text_atomic(out / "summary.json", json.dumps(asdict(result), indent=2, default=float))
    result.files["summary"] = str(out / "summary.json")
    try:
        plot_summary(result, out / "summary.png")
        result.files["plot"] = str(out / "summary.png")
    except Exception as exc:  # a plot must never lose the numbers
        log(f"      (plot skipped: {exc})")
    return result


def plot_summary(r: DemoResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro_deploy._io import atomic_path

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ep = [h["epoch"] for h in r.history]
    ax[0].plot(ep, [h["train_accuracy"] for h in r.history], "o-", label="train (float)")
    ax[0].axhline(r.float_accuracy, color="C1", ls="--", label=f"val float {r.float_accuracy:.3f}")
    ax[0].axhline(r.fast_accuracy, color="C2", ls=":", label=f"val fixed-pt {r.fast_accuracy:.3f}")
    ax[0].set(xlabel="epoch", ylabel="accuracy", title="training")
    ax[0].legend(fontsize=8)
    names = [l["name"] for l in r.layers]
    ax[1].bar(names, [l["spikes_per_sample"] for l in r.layers], color="C3")
    ax[1].set(title="output spikes per sample", ylabel="spikes")
    ax[2].bar(names, [l["synops_per_sample"] for l in r.layers], color="C4")
    ax[2].set(title="synaptic ops per sample", ylabel="synops")
    fig.suptitle(
        f"neuro-deploy demo: {r.dataset} - float {r.float_accuracy:.3f}, "
        f"deployed (Lava) {r.lava_accuracy if r.lava_accuracy is not None else float('nan'):.3f}"
    )
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
