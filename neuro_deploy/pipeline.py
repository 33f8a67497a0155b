"""The main job end to end: events -> SLAYER -> netx -> Lava (and the fast backend).

:func:`run_demo` builds (or reads) the data set, trains a SLAYER CUBA model with a
progress bar, exports it with ``export --target loihi2-sim``, runs the held-out
samples on Lava's ``Loihi2SimCfg(select_tag='fixed_pt')`` and on the bit-exact fast
backend, and reports float vs deployed accuracy (the float model run by the ``float``
backend on the same inputs and steps, :func:`~neuro_deploy.sim.evaluate.evaluate_deployed`)
with per-layer spike and synaptic-op counts. Everything lands in ``out_dir`` (checkpoint, ``model.net``, ``summary.json``,
``summary.png``).
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
    lava_samples: int = 120          #: held-out samples run in Lava (all run on `fast`)
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
    loihi2: dict[str, Any] = field(default_factory=dict)   #: fit, energy and latency on the profile
    float_fast_prediction_agreement: float | None = None   #: same class, float model vs deployed (fast)
    quantization: str = ""                                 #: the trained model's forward-pass mode


def loihi2_summary(net: Any, counts: list, profile_name: str = "loihi2") -> dict[str, Any]:
    """Fit, energy and latency per inference of ``net`` for the run ``counts`` describe."""
    from neuro_deploy.energy.cost import estimate_cost
    from neuro_deploy.hardware import load_profile
    from neuro_deploy.hardware.fit import fit_network

    profile = load_profile(profile_name)
    fit = fit_network(net, profile)
    cost = estimate_cost(net, counts, fit, profile)
    return {"profile": profile.name, "fits": fit.fits, "fit_summary": fit.summary(), "cores": fit.cores,
            "chips": fit.chips, "cores_per_layer": {lf.name: lf.cores for lf in fit.layers},
            "energy_per_inference_uj": cost.energy_per_inference_uj,
            "energy_per_inference_uj_band": cost.energy_per_inference_uj_band,
            "dynamic_energy_uj": cost.dynamic_energy_uj, "static_energy_uj": cost.static_energy_uj,
            "time_per_step_us": cost.time_per_step_us, "time_per_step_us_band": cost.time_per_step_us_band,
            "latency_us": cost.latency_us, "steps_per_inference": cost.steps_per_inference,
            "band_basis": cost.band_basis}


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> DemoResult:
    from neuro_deploy.data import load_dataset
    from neuro_deploy.models import ModelConfig, TrainConfig, save_checkpoint, train_model
    from neuro_deploy.netx import load_netx
    from neuro_deploy.netx.export import export_model
    from neuro_deploy.sim.evaluate import evaluate_deployed
    from neuro_deploy.sim.float_model import float_net

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log(f"[1/5] data set {cfg.dataset!r}" + (f" from {cfg.root}" if cfg.root else " (embedded: "
        "scikit-learn digits through the DVS saccade emulator)"))
    ds = load_dataset(cfg.dataset, root=cfg.root, progress=cfg.progress)
    train, val = ds.split(cfg.val_fraction, cfg.seed)
    mcfg = ModelConfig(input_shape=(2, ds.sensor[1], ds.sensor[0]), num_classes=ds.num_classes,
                       hidden=tuple(cfg.hidden), dt_us=cfg.dt_us, num_steps=cfg.num_steps,
                       time_origin=ds.time_origin)
    x_tr = train.to_tensors(cfg.dt_us, cfg.num_steps)
    x_va = val.to_tensors(cfg.dt_us, cfg.num_steps)
    log(f"      {len(train)} train / {len(val)} validation recordings -> spike tensors "
        f"{x_tr.shape[1:]} (dt {cfg.dt_us} us)")

    log(f"[2/5] training SLAYER CUBA {mcfg.input_shape} -> {mcfg.hidden} -> {mcfg.num_classes}")
    res = train_model(mcfg, TrainConfig(epochs=cfg.epochs, seed=cfg.seed, progress=cfg.progress),
                      x_tr, train.labels)
    flt = evaluate_deployed(float_net(res.model), x_va, val.labels, backend="float")
    float_acc = float(flt.accuracy)
    ckpt = out / "model.pt"
    save_checkpoint(res, mcfg, ckpt, meta={"dataset": cfg.dataset, "history": res.history})
    log(f"      float (SLAYER) validation accuracy {float_acc:.4f} after {res.train_seconds:.1f} s")

    log("[3/5] export --target loihi2-sim")
    net_path = out / "model.net"
    rep = export_model(ckpt, net_path, target="loihi2-sim", verify_inputs=x_va[:16])
    log(f"      wrote {net_path}; float vs fixed-point class agreement on 16 samples: "
        f"{rep.agreement.class_agreement:.3f}")
    net = load_netx(net_path)

    log(f"[4/5] fast backend on all {len(val)} validation samples")
    fast = evaluate_deployed(net, x_va, val.labels, backend="fast")
    lava = None
    if cfg.lava_samples > 0:
        k = min(cfg.lava_samples, len(val))
        log(f"[5/5] Lava Loihi2SimCfg(fixed_pt) on {k} validation samples "
            f"({k * fast.steps} steps)")
        t0 = time.perf_counter()
        lava = evaluate_deployed(net, x_va[:k], val.labels[:k], backend="lava", batch_size=k)
        lava.wall_s = time.perf_counter() - t0
    agree = float(np.mean(lava.predictions == fast.predictions[:lava.samples])) if lava else None
    result = DemoResult(
        schema=SUMMARY_SCHEMA, dataset=cfg.dataset, train_samples=len(train), val_samples=len(val),
        float_accuracy=float_acc, fast_accuracy=float(fast.accuracy),
        lava_accuracy=lava.accuracy if lava else None, lava_samples=lava.samples if lava else 0,
        fast_accuracy_on_lava_subset=float(np.mean(fast.predictions[:lava.samples] ==
                                                   val.labels[:lava.samples])) if lava else None,
        lava_fast_prediction_agreement=agree, train_seconds=res.train_seconds,
        lava_seconds=lava.wall_s if lava else None, fast_seconds=fast.wall_s,
        layers=[dict(c.totals(), synops_per_sample=float(c.synops.sum() / max(1, c.samples)),
                     spikes_per_sample=float(c.output_spikes.sum() / max(1, c.samples)))
                for c in (lava.counts if lava else fast.counts)],
        export=rep.to_dict(), history=res.history,
        files={"checkpoint": str(ckpt), "netx": str(net_path)},
        float_fast_prediction_agreement=float(np.mean(flt.predictions == fast.predictions)),
        quantization=res.model.quantization[0],
        loihi2=loihi2_summary(net, fast.counts))
    if lava is not None:
        lava_layers = [c.totals() for c in lava.counts]
        fast_sub = evaluate_deployed(net, x_va[:lava.samples], None, backend="fast")
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
    fig.suptitle(f"neuro-deploy demo: {r.dataset} - float {r.float_accuracy:.3f}, "
                 f"deployed (Lava) {r.lava_accuracy if r.lava_accuracy is not None else float('nan'):.3f}")
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
