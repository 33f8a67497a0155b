"""Event dataset distillation: PACE and its baselines (random real subset, DM).

A distilled set is ``ipc`` synthetic samples per class of integer event-count frames
(N, 2, H, W, T) that a fresh SNN trains on instead of the full set. PACE (reconstruction
of Ye et al. 2025; ../shared/research/seeds-methods.md §1 - equations there are [R]):

* **PEQ-N** - the synthetic sample is a continuous latent ``x``; the forward pass uses
  integer frames ``q(x) = clip(floor(x) + Bernoulli(x - floor(x)), 0, N)`` with a clipped
  straight-through gradient;
* **SDR** - dense features of a frozen teacher SNN trained on the full set: the first
  hidden layer's spikes plus the residual membrane potential, ``f = s + lambda (1 - s)
  clip(v / theta, 0, 1)``, per time step;
* **ST-DSM** - real and synthetic feature distributions are matched per class in
  amplitude and phase: across features through the empirical characteristic function at
  random frequencies (NCFM's loss, summed over time steps: "time-expanded") and along time
  through the DFT of the class-mean features (amplitude and phase terms).

Baselines at the same ``ipc``: ``random`` (real samples) and ``dm`` (distribution
matching: mean embeddings of freshly initialised networks, Zhao & Bilen 2023).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.errors import BadInputError, UnknownNameError

DISTILLED_SCHEMA = "neuro-deploy-distilled/1"


@dataclass
class DistillConfig:
    ipc: int = 10
    iterations: int = 200
    lr: float = 0.01
    max_count: int = 1             #: N of PEQ-N: events per pixel per bin (1 = spikes)
    real_batch: int = 64
    frequencies: int = 256
    sdr_lambda: float = 1.0
    temporal_weight: float = 1.0
    seed: int = 0
    progress: bool = True


@dataclass
class Distilled:
    frames: np.ndarray             #: (N, 2, H, W, T) uint8
    labels: np.ndarray
    method: str
    ipc: int
    dt_us: int
    seconds: float
    history: list = field(default_factory=list)


def peq(x, n_max: int):
    """PEQ-N: stochastic rounding to integers in [0, N] with a clipped straight-through gradient."""
    import torch

    fl = torch.floor(x)
    q = (fl + (torch.rand_like(x) < (x - fl)).to(x.dtype)).clamp(0, n_max)
    keep = ((x >= 0) & (x <= n_max)).to(x.dtype)
    return q.detach() + (x - x.detach()) * keep


def sdr_features(model, x, lam: float):
    """First hidden layer's spikes + residual membrane (B, features, T)."""
    block = model.blocks[0]
    if x.dim() == 5 and not model.config.conv:
        x = x.reshape(x.shape[0], -1, x.shape[-1])
    z = block.synapse(x)
    _, voltage = block.neuron.dynamics(z)
    s = block.neuron.spike(voltage)
    theta = float(model.config.threshold)
    r = (voltage / theta).clamp(0, 1)
    f = s + lam * (1 - s) * r
    return f.reshape(f.shape[0], -1, f.shape[-1])


def cf_loss(fr, fs, omega, scale: float):
    """NCFM characteristic-function distance (amplitude + phase) of two feature sets (B, D).

    Features are divided by a fixed ``scale`` (the real features' mean norm), not each by
    its own norm: per-sample normalisation hides the overall spike density, and the
    synthetic frames then drift to several times the real event density."""
    import torch

    fr, fs = fr / scale, fs / scale
    pr, ps = fr @ omega, fs @ omega                                  # (B, M)
    re_r, im_r = torch.cos(pr).mean(0), torch.sin(pr).mean(0)
    re_s, im_s = torch.cos(ps).mean(0), torch.sin(ps).mean(0)
    amp_r, amp_s = torch.sqrt(re_r ** 2 + im_r ** 2 + 1e-12), torch.sqrt(re_s ** 2 + im_s ** 2 + 1e-12)
    l_amp = (amp_r - amp_s) ** 2
    l_pha = 2 * (amp_r * amp_s - re_r * re_s - im_r * im_s)
    return torch.sqrt((0.5 * l_amp + 0.5 * l_pha).clamp_min(1e-12)).mean()


def temporal_loss(fr, fs):
    """DFT along time of the class-mean features: amplitude and phase (cosine) terms."""
    import torch

    Fr, Fs = torch.fft.rfft(fr.mean(0), dim=-1), torch.fft.rfft(fs.mean(0), dim=-1)
    amp = ((Fr.abs() - Fs.abs()) ** 2).mean()
    pha = (1 - torch.cos(torch.angle(Fr) - torch.angle(Fs))).mean()
    return amp + 0.1 * pha


def _init_latents(x_real: np.ndarray, y: np.ndarray, ipc: int, rng) -> tuple[np.ndarray, np.ndarray]:
    idx, labs = [], []
    for c in np.unique(y):
        pool = np.flatnonzero(y == c)
        if len(pool) < ipc:
            raise BadInputError(f"class {c} has {len(pool)} samples, fewer than ipc={ipc}")
        idx += list(rng.choice(pool, ipc, replace=False))
        labs += [c] * ipc
    return np.asarray(idx), np.asarray(labs)


def distill_random(x_real, y, cfg: DistillConfig, **_: Any) -> Distilled:
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    idx, labs = _init_latents(x_real, y, cfg.ipc, rng)
    return Distilled(np.minimum(x_real[idx], cfg.max_count).astype(np.uint8), labs, "random", cfg.ipc, 0,
                     time.perf_counter() - t0)


def _optimise(x_real, y, cfg: DistillConfig, loss_fn: Callable, method: str) -> Distilled:
    import torch

    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    idx, labs = _init_latents(x_real, y, cfg.ipc, rng)
    lat = torch.tensor(x_real[idx].astype(np.float32), requires_grad=True)   # start at real frames
    opt = torch.optim.Adam([lat], lr=cfg.lr)
    classes = np.unique(y)
    hist = []
    it = range(cfg.iterations)
    if cfg.progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"distilling ({method})", unit="it")
    for i in it:
        total = 0.0
        opt.zero_grad()
        for c in classes:
            pool = np.flatnonzero(y == c)
            rb = torch.from_numpy(x_real[rng.choice(pool, min(cfg.real_batch, len(pool)), replace=False)]).float()
            sb = peq(lat[labs == c], cfg.max_count)
            loss = loss_fn(rb, sb, i)
            loss.backward()
            total += float(loss.detach())
        opt.step()
        with torch.no_grad():
            lat.clamp_(-0.5, cfg.max_count + 0.5)
        hist.append(total / len(classes))
    with torch.no_grad():
        frames = peq(lat, cfg.max_count).numpy().astype(np.uint8)
    return Distilled(frames, labs, method, cfg.ipc, 0, time.perf_counter() - t0, hist)


def distill_pace(x_real, y, cfg: DistillConfig, teacher=None, **_: Any) -> Distilled:
    """PACE against a frozen teacher SNN (see module docstring)."""
    import torch

    if teacher is None:
        raise BadInputError("PACE needs a teacher SNN trained on the full set")
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher.eval()
    gen = torch.Generator().manual_seed(cfg.seed)

    def loss_fn(rb, sb, i):
        fr = sdr_features(teacher, rb, cfg.sdr_lambda)
        fs = sdr_features(teacher, sb, cfg.sdr_lambda)
        d = fr.shape[1]
        omega = torch.randn(d, cfg.frequencies, generator=gen) * 4.0
        scale = float(fr.norm(dim=1).mean()) + 1e-6
        spatial = sum(cf_loss(fr[..., t], fs[..., t], omega, scale) for t in range(fr.shape[-1])) / fr.shape[-1]
        mean = ((fr.mean(0) - fs.mean(0)) ** 2).sum() / (scale ** 2)   # first moment per step
        return spatial + mean + cfg.temporal_weight * temporal_loss(fr, fs)

    return _optimise(x_real, y, cfg, loss_fn, "pace")


def distill_dm(x_real, y, cfg: DistillConfig, model_cfg=None, **_: Any) -> Distilled:
    """DM: match class-mean embeddings of a freshly initialised SNN each iteration."""
    from neuro_deploy.models.slayer_model import build_model

    state = {}

    def loss_fn(rb, sb, i):
        if state.get("i") != i:
            state["net"], state["i"] = build_model(model_cfg), i
        net = state["net"]
        er = sdr_features(net, rb, 0.0).mean(-1).mean(0)
        es = sdr_features(net, sb, 0.0).mean(-1).mean(0)
        return ((er - es) ** 2).sum()

    return _optimise(x_real, y, cfg, loss_fn, "dm")


METHODS: dict[str, Callable[..., Distilled]] = {"pace": distill_pace, "dm": distill_dm, "random": distill_random}


def distill(method: str, x_real: np.ndarray, y: np.ndarray, cfg: DistillConfig, **kwargs: Any) -> Distilled:
    if method not in METHODS:
        raise UnknownNameError("distillation method", method, METHODS)
    return METHODS[method](x_real, y, cfg, **kwargs)


def save_distilled(d: Distilled, path: str | Path, dt_us: int, extra: dict | None = None) -> None:
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(tmp, frames=d.frames, labels=d.labels, method=d.method, ipc=d.ipc,
                            dt_us=dt_us, schema=DISTILLED_SCHEMA, seconds=d.seconds,
                            history=np.asarray(d.history, dtype=np.float64), **(extra or {}))


def load_distilled(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"{p}: distilled data set not found")
    with np.load(p, allow_pickle=False) as z:
        if "schema" not in z.files or str(z["schema"]) != DISTILLED_SCHEMA:
            raise BadInputError(f"{p}: not a neuro-deploy distilled data set")
        meta = {k: z[k].item() if z[k].ndim == 0 else z[k] for k in z.files if k not in ("frames", "labels")}
        return z["frames"], z["labels"], meta
