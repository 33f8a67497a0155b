"""Training policies shared by the CLI and the benchmarks (one answer per question).

* :func:`distilled_epochs` - how long a fresh model trains on a tiny (distilled) set.
"""
from __future__ import annotations

import math

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
    return epochs, (f"policy for a {n}-sample set: max({MIN_EPOCHS}, ceil({MIN_SAMPLE_PASSES}/N)) epochs, "
                    f"{epochs * n} sample passes")
