"""Per-epoch data selection for cheaper SNN training: SADP and its baselines.

Every selector returns, each epoch, the indices to train on and a loss weight per index;
the weighted loss is an unbiased (Horvitz-Thompson) estimate of the full-data loss where
the method is stochastic:

* ``full``: all examples, weight 1.
* ``random``: a uniform subset of ``keep * N``, weight ``1 / keep``.
* ``sadp`` (spike-aware data pruning, reconstruction - see ../shared/research/seeds-methods.md
  §2): inclusion probability ``pi_i = min(1, K s_i / sum s)`` (capped and renormalised so that
  ``sum pi = K = keep N``, floored at ``0.1 mean``), Poisson sampling, weight ``1 / pi_i``.
  The score is an upper bound of the per-example gradient norm of the output layer that
  counts spikes:

  .. math:: s_i = \\lVert \\mathrm{softmax}(o_i) - y_i \\rVert_2 \\cdot \\frac{1}{T}\\sum_t \\sqrt{n_{i,t}}

  with ``o_i`` the output spike counts and ``n_{i,t}`` the spikes of the penultimate layer at
  step t (``||s_t||_2 = sqrt(n_t)`` for binary spikes), taken from the forward pass of the
  example's last visit - no extra passes. Scores start equal, so the first epoch is a
  uniform sample.
* ``sadp-plain`` (ablation): the same sampler with the plain last-layer bound of
  Katharopoulos & Fleuret (ICML 2018), ``s_i = ||softmax(o_i) - y_i||_2`` - without the
  spike-aware factor. :class:`SADPSelector` also keeps this plain score for every example it
  scores and records, per epoch, how far the two would select differently
  (:func:`selection_agreement`: Spearman correlation of the scores and the overlap of their
  top-K sets), so one run says whether the spike factor changes the selection.
* ``el2n``: static EL2N (Paul et al. 2021): after a first full epoch, keep the ``K`` examples
  with the largest ``||softmax(o) - y||``, weight 1.
* ``infobatch`` (Qin et al. 2024): score = last loss; each epoch drop a random ``1 - keep``
  share of the examples whose score is below the mean, weight ``1 / keep`` for the kept ones
  among them; full data for the last 12.5 % of epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from neuro_deploy.errors import BadInputError, UnknownNameError


def capped_probabilities(scores: np.ndarray, k: float, floor_frac: float = 0.1) -> np.ndarray:
    """``pi = min(1, c * s)`` with ``c`` chosen so that ``sum(pi) = k`` (k <= N)."""
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    if not 0 < k <= n:
        raise BadInputError(f"keep count {k} must be in (0, {n}]")
    s = np.maximum(s, floor_frac * max(s.mean(), 1e-12))
    pi = np.zeros(n)
    capped = np.zeros(n, dtype=bool)
    for _ in range(n):
        free = ~capped
        budget = k - capped.sum()
        pi[free] = budget * s[free] / s[free].sum()
        over = free & (pi > 1)
        if not over.any():
            break
        capped |= over
        pi[capped] = 1.0
    return np.clip(pi, 0.0, 1.0)


@dataclass
class Selector:
    n: int
    keep: float = 1.0
    epochs: int = 1
    seed: int = 0
    scores: np.ndarray = field(init=False)
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.keep <= 1:
            raise BadInputError(f"--keep must be in (0, 1], got {self.keep}")
        self.scores = np.ones(self.n)
        self.rng = np.random.default_rng(self.seed)

    def select(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(self.n), np.ones(self.n)

    def update(
        self,
        idx: np.ndarray,
        out_counts: np.ndarray,
        labels: np.ndarray,
        hidden_per_step: np.ndarray | None,
        losses: np.ndarray,
    ) -> None:
        pass


class FullSelector(Selector):
    pass


class RandomSelector(Selector):
    def select(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, int(round(self.keep * self.n)))
        idx = np.sort(self.rng.choice(self.n, k, replace=False))
        return idx, np.full(k, self.n / k)


def _err_norm(out_counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = out_counts - out_counts.max(-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1.0
    return np.linalg.norm(p, axis=-1)


def _ranks(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="stable")
    r = np.empty(len(a))
    r[order] = np.arange(len(a))
    return r


def selection_agreement(a: np.ndarray, b: np.ndarray, k: int) -> dict[str, float]:
    """How alike two score vectors select: Spearman rank correlation, and the share of the
    top-``k`` examples under ``a`` that are also top-``k`` under ``b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ra, rb = _ranks(a), _ranks(b)
    rho = float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 1 and ra.std() > 0 and rb.std() > 0 else 1.0
    k = max(1, min(int(k), len(a)))
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return {"spearman": rho, "top_k_overlap": len(top_a & top_b) / k}


class SADPSelector(Selector):
    spike_aware: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.plain_scores = np.ones(self.n)
        self.agreement: list[dict[str, float]] = []  #: per epoch, vs the plain bound

    def select(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch > 0:
            self.agreement.append(
                {"epoch": epoch, **selection_agreement(self.scores, self.plain_scores, round(self.keep * self.n))}
            )
        pi = capped_probabilities(self.scores, self.keep * self.n)
        take = self.rng.random(self.n) < pi
        idx = np.flatnonzero(take)
        if len(idx) == 0:
            idx = np.array([int(self.rng.integers(self.n))])
        return idx, 1.0 / pi[idx]

    def update(self, idx, out_counts, labels, hidden_per_step, losses) -> None:
        err = _err_norm(out_counts, labels)
        spk = np.sqrt(hidden_per_step).mean(-1) if hidden_per_step is not None else np.ones(len(idx))
        self.plain_scores[idx] = err + 1e-6
        self.scores[idx] = (err * spk if self.spike_aware else err) + 1e-6


class SADPPlainSelector(SADPSelector):
    """Ablation: SADP's sampler on the plain last-layer bound (no spike-aware factor)."""

    spike_aware = False


class EL2NSelector(Selector):
    def select(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch == 0:
            return np.arange(self.n), np.ones(self.n)
        k = max(1, int(round(self.keep * self.n)))
        if not hasattr(self, "_kept"):
            self._kept = np.sort(np.argsort(-self.scores, kind="stable")[:k])
        return self._kept, np.ones(len(self._kept))

    def update(self, idx, out_counts, labels, hidden_per_step, losses) -> None:
        if not hasattr(self, "_kept"):
            self.scores[idx] = _err_norm(out_counts, labels)


class InfoBatchSelector(Selector):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.scores = np.full(self.n, 3.0)

    def select(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch >= int(np.ceil(0.875 * self.epochs)):
            return np.arange(self.n), np.ones(self.n)
        well = self.scores < self.scores.mean()
        drop = well & (self.rng.random(self.n) >= self.keep)
        idx = np.flatnonzero(~drop)
        w = np.where(well[idx], 1.0 / self.keep, 1.0)
        return idx, w

    def update(self, idx, out_counts, labels, hidden_per_step, losses) -> None:
        self.scores[idx] = losses


SELECTORS: dict[str, Callable[..., Selector]] = {
    "full": FullSelector,
    "random": RandomSelector,
    "sadp": SADPSelector,
    "sadp-plain": SADPPlainSelector,
    "el2n": EL2NSelector,
    "infobatch": InfoBatchSelector,
}


def make_selector(name: str, n: int, keep: float, epochs: int, seed: int = 0) -> Selector:
    if name not in SELECTORS:
        raise UnknownNameError("pruning method", name, SELECTORS)
    return SELECTORS[name](n=n, keep=keep, epochs=epochs, seed=seed)
