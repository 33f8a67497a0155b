"""Cheaper training: full data vs spike-aware pruning (SADP) vs a distilled set - accuracy vs
training time vs energy on Loihi 2, with a plot.

    python examples/cheap_training.py [--fast] [--out out/examples/cheap]

All three train the same SLAYER network on the embedded digits' training split (recorded):
on every sample each epoch; on the half SADP keeps each epoch; and on a set distilled by
PACE (``ipc`` synthetic event frames per class, against the full model as teacher). Each is
deployed (export, fit, fast backend on the held-out split, energy and latency) and the
trade-off is plotted. ``--fast`` (or NEURO_DEPLOY_EXAMPLES_FAST=1): a short run - what the
test suite runs (the numbers then only show the mechanics).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import neuro_deploy as nd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", default=os.environ.get("NEURO_DEPLOY_EXAMPLES_FAST") == "1")
    ap.add_argument("--out", default="out/examples/cheap")
    a = ap.parse_args()
    from neuro_deploy.data.distill import DistillConfig, distill
    from neuro_deploy.models import TrainConfig, load_checkpoint, save_checkpoint, train_model

    out = Path(a.out)

    out.mkdir(parents=True, exist_ok=True)
    epochs, ipc, iterations, student_epochs = (1, 2, 10, 15) if a.fast else (10, 10, 200, 60)
    dt_us, steps = 10_000, 30
    data = nd.load_dataset("digits")
    rows = []

    full = nd.train(data, out / "full.pt", epochs=epochs, dt_us=dt_us, num_steps=steps)
    rows.append(("full data", full.checkpoint, full.train_seconds, 0.0, full.train_samples))
    sadp = nd.train(data, out / "sadp.pt", epochs=epochs, dt_us=dt_us, num_steps=steps, prune="sadp", keep=0.5)
    rows.append(("SADP keep 0.5", sadp.checkpoint, sadp.train_seconds, 0.0, sadp.train_samples // 2))

    train_part, _ = full.split.apply(data)  # the recorded split: distil from training samples only
    x = train_part.to_tensors(dt_us, steps)
    teacher, cfg, _ = load_checkpoint(full.checkpoint)
    t0 = time.perf_counter()
    d = distill(
        "pace",
        x,
        train_part.labels,
        DistillConfig(ipc=ipc, iterations=iterations, progress=False),
        teacher=[teacher],
        model_cfg=cfg,
    )
    prep_s = time.perf_counter() - t0
    res = train_model(cfg, TrainConfig(epochs=student_epochs, progress=False), d.frames, d.labels)
    save_checkpoint(res, cfg, out / "distilled.pt", meta={"split": full.split.to_meta(), "method": "pace"})
    rows.append((f"PACE ipc {ipc}", str(out / "distilled.pt"), res.train_seconds, prep_s, len(d.labels)))

    print(
        f"{'method':16s} {'samples':>8s} {'train s':>8s} {'prep s':>7s} {'float':>6s} {'deployed':>9s} "
        f"{'uJ/inf':>8s} {'latency us':>11s}"
    )
    results = []
    for name, ckpt, train_s, prep, n in rows:
        dep = nd.deploy(ckpt, data)
        results.append((name, train_s, prep, dep))
        print(
            f"{name:16s} {n:8d} {train_s:8.1f} {prep:7.1f} {dep.float_accuracy:6.3f} {dep.deployed_accuracy:9.3f} "
            f"{dep.energy_per_inference_uj:8.3g} {dep.latency_us:11.4g}"
        )
    path = plot(results, out / "cheap_training.png")
    print(f"plot -> {path}")
    return 0


def plot(results: list, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    for name, train_s, prep, dep in results:
        lo, hi = dep.energy_per_inference_uj_band
        ax.scatter(train_s + prep, dep.deployed_accuracy, s=60)
        ax.annotate(name, (train_s + prep, dep.deployed_accuracy), xytext=(4, 4), textcoords="offset points")
        e = dep.energy_per_inference_uj
        bx.errorbar([name], [e], yerr=[[e - lo], [hi - e]], fmt="o", capsize=4)
    ax.set(
        xscale="log",
        xlabel="training time incl. distillation (s)",
        ylabel="deployed accuracy (fast backend)",
        title="accuracy vs training time",
    )
    bx.set(ylabel="energy per inference on Loihi 2 (uJ, band)", title="energy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
