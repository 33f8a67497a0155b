"""Does PACE's characteristic-function distance tell classes apart? A probe on real N-MNIST.

    .venv/bin/python benchmarks/pace_cf_probe.py [--root ../shared/fixtures/events/nmnist] [--scales 4 1 0.25]

A teacher (the benchmark's dense SNN, 10 epochs on the stratified 80 % training split of
seed 0) gives first-layer SDR features. For two classes, a real batch of 32 recordings is
compared with sets of held-out recordings of the *same* class and of the *next* class, of
10 and of 1 sample(s) (IPC 10 and 1), by the three terms of PACE's matching loss
(:mod:`neuro_deploy.data.distill`): the step-pair CF distance at each frequency scale
``sigma`` (``w ~ N(0, sigma^2 I)`` on features over the real mean norm), the first-moment
term and the temporal DFT term. A useful term is clearly smaller for the same class than for
another; a term near equal for both gives the synthetic frames no class signal to follow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/fixtures/events/nmnist"))
    ap.add_argument("--scales", type=float, nargs="+", default=[4.0, 1.0, 0.25])
    ap.add_argument("--classes", type=int, nargs="+", default=[0, 3])
    ap.add_argument("--frequencies", type=int, default=256)
    a = ap.parse_args()
    import torch

    from neuro_deploy.data import load_dataset
    from neuro_deploy.data.distill import cf_pairs_loss, sdr_features, temporal_loss
    from neuro_deploy.models import TrainConfig, train_model
    from neuro_deploy.models.arch import dataset_config

    ds = load_dataset("nmnist", root=a.root, progress=False)
    tr, _ = ds.split(0.2, 0)
    cfg = dataset_config("dense", ds, 10_000, 30)
    x, y = np.minimum(tr.to_tensors(cfg.dt_us, cfg.num_steps), 1), tr.labels
    print("training the teacher (10 epochs) ...", flush=True)
    teacher = train_model(cfg, TrainConfig(epochs=10, seed=0, progress=False), x, y).model.eval()
    gen = torch.Generator().manual_seed(0)

    def feats(idx):
        with torch.no_grad():
            return sdr_features(teacher, torch.from_numpy(x[idx]).float(), 1.0, 1)[0]

    head = f"{'class':>5} {'set':>8} " + " ".join(f"{'CF s=' + format(s, 'g'):>9}" for s in a.scales)
    print(head + f" {'moment':>8} {'temporal':>8}")
    for c in a.classes:
        same, other = np.flatnonzero(y == c), np.flatnonzero(y == (c + 1) % ds.num_classes)
        fr = feats(same[:32])
        scale = float(fr.norm(dim=1).mean())
        for name, idx in (
            ("same 10", same[32:42]),
            ("other 10", other[:10]),
            ("same 1", same[42:43]),
            ("other 1", other[10:11]),
        ):
            fs = feats(idx)
            cf = []
            for s in a.scales:
                omega = torch.randn(fr.shape[1], a.frequencies, generator=gen) * s
                cf.append(float(cf_pairs_loss(fr, fs, omega, scale)))
            moment = float(((fr.mean(0) - fs.mean(0)) ** 2).sum() / scale**2)
            print(
                f"{c:>5} {name:>8} "
                + " ".join(f"{v:>9.3f}" for v in cf)
                + f" {moment:>8.3f} {float(temporal_loss(fr, fs)):>8.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
