"""Training policies shared by the CLI and the benchmarks (one answer per question).

* :func:`distilled_epochs` - how long a fresh model trains on a tiny (distilled) set;
* :func:`train_teachers` - the teacher pool of dataset distillation (several seeds, snapshots).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: A model on a distilled set sees at least this many sample passes ...
MIN_SAMPLE_PASSES = 3000
#: ... and at least this many epochs.
MIN_EPOCHS = 60


def distilled_epochs(n_samples: int) -> tuple[int, str]:
    """Epochs for a fresh model trained on ``n_samples`` (distilled) samples, and why:
    ``max(60, ceil(3000 / N))``. Ten samples (IPC 1) train 300 epochs, 100 (IPC 10) train
    60: at 32 samples a batch that is 300 and 240 optimizer steps, where the spike-rate
    loss of the N-MNIST and digits students has flattened (benchmarks/README.md); ten
    epochs, the full-data default, leave a 100-sample student far from convergence."""
    n = max(1, int(n_samples))
    epochs = max(MIN_EPOCHS, math.ceil(MIN_SAMPLE_PASSES / n))
    return epochs, (
        f"policy for a {n}-sample set: max({MIN_EPOCHS}, ceil({MIN_SAMPLE_PASSES}/N)) epochs, "
        f"{epochs * n} sample passes"
    )


def train_teachers(
    cfg,
    x: np.ndarray,
    y: np.ndarray,
    seeds: list[int] | tuple[int, ...],
    epochs: int,
    progress: bool = False,
    first: Any = None,
    threads: int = 2,
) -> tuple[list[Any], float]:
    """Teacher SNNs for dataset distillation: one full-data training run per seed, each
    contributing its per-epoch snapshots (:class:`~neuro_deploy.models.slayer_model.Snapshots`),
    so ``len(seeds) * epochs`` frozen-ready models from several initialisations and stages of
    training (NCFM matches against 20 pretrained teachers). ``first``, if given, is the
    :class:`Snapshots` of a run already made for ``seeds[0]`` (the benchmark's full-data model),
    which is reused at no cost; ``threads``: torch threads per run. Returns (models, seconds
    spent training)."""
    import time

    from neuro_deploy.models.slayer_model import Snapshots, TrainConfig, train_model

    models: list[Any] = []
    t0 = time.perf_counter()
    for k, seed in enumerate(seeds):
        if k == 0 and first is not None:
            models += first.models(cfg)
            continue
        snaps = Snapshots()
        train_model(
            cfg, TrainConfig(epochs=epochs, seed=int(seed), progress=progress, threads=threads), x, y, on_epoch=snaps
        )
        models += snaps.models(cfg)
    return models, time.perf_counter() - t0
