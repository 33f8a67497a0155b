"""SADP vs its ablation vs random pruning, repeated: is the difference larger than run-to-run noise?

    .venv/bin/python benchmarks/prune_repeats.py [--arch dense|conv] [--methods random sadp sadp-plain]
        [--keep 0.5] [--reps 4]

Each (split seed, repetition) trains every method once, 10 epochs on the real N-MNIST fixture's
stratified 80/20 split, with the sampler and the initialisation seeded by ``split + 1000 * rep``
(rep 0 is the benchmark's own run). Prints one JSON line per run, then mean ± std per method.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch

    from neuro_deploy.data import load_dataset
    from neuro_deploy.models import TrainConfig, train_model
    from neuro_deploy.models.arch import dataset_config
    from neuro_deploy.models.pruning import make_selector
    from neuro_deploy.models.slayer_model import evaluate

    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/fixtures/events/nmnist"))
    ap.add_argument("--arch", default="dense")
    ap.add_argument("--methods", nargs="+", default=["random", "sadp", "sadp-plain"])
    ap.add_argument("--keep", type=float, default=0.5)
    ap.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--reps", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("nmnist", root=a.root, progress=False)
    acc: dict[str, list[float]] = defaultdict(list)
    for split in a.splits:
        tr, va = ds.split(0.2, split)
        cfg = dataset_config(a.arch, ds, 10_000, 30)
        x_tr, x_va = tr.to_tensors(10_000, 30), va.to_tensors(10_000, 30)
        for rep in range(a.reps):
            s = split + 1000 * rep
            for m in a.methods:
                t0 = time.process_time()
                sel = make_selector(m, len(x_tr), a.keep, 10, s)
                r = train_model(
                    cfg, TrainConfig(epochs=10, seed=s, progress=False, threads=1), x_tr, tr.labels, selector=sel
                )
                acc[m].append(evaluate(r.model, x_va, va.labels)[0])
                row = {"arch": a.arch, "split": split, "rep": rep, "method": m, "keep": a.keep, "val": acc[m][-1]}
                print(json.dumps({**row, "cpu_s": round(time.process_time() - t0, 1)}), flush=True)
    for m, v in acc.items():
        print(f"{m}: {np.mean(v):.4f} ± {np.std(v):.4f} over {len(v)} runs")


if __name__ == "__main__":
    main()
