"""Event dataset distillation: PACE and its baselines (random real subset, DM, class-mean).

A distilled set is ``ipc`` synthetic samples per class of integer event-count frames
(N, 2, H, W, T) that a fresh SNN trains on instead of the full set. PACE (reconstruction
of Ye et al. 2025; ../shared/research/seeds-methods.md §1 - equations there are [R]):

* **PEQ-N** - the synthetic sample is a continuous latent ``x``; the forward pass uses
  integer frames ``q(x) = clip(floor(x) + Bernoulli(x - floor(x)), 0, N)`` with a clipped
  straight-through gradient ``dq/dx = 1[0 <= x <= N]``;
* **SDR** - dense features of frozen teacher SNNs trained on the full set: a layer's spikes
  plus its residual membrane potential, ``f_t = s_t + lambda (1 - s_t) clip(v_t / theta, 0, 1)``;
  the teachers are the per-epoch snapshots of training runs from several seeds
  (:func:`neuro_deploy.models.recipes.train_teachers`; NCFM matches against 20 pretrained
  teachers), used in turn; teacher and student share one architecture, dense or conv
  (:mod:`neuro_deploy.models.arch`);
* **ST-DSM** - real and synthetic feature distributions are matched per class in amplitude
  and phase by empirical characteristic functions ``phi(w) = mean_b exp(i w . f_b / s)`` at
  random frequencies ``w ~ N(0, I)`` (NCFM; ``frequency_scale``) with NCFM's loss. ``cf_pooling="pairs"`` (default):
  one CF per time step, amplitude per step, phase per step *and over every pair of steps*
  (:func:`cf_pairs_loss`; PACE's reviewers: "the phase term is computed over pairs of time
  steps"); ``"time"`` pools every (sample, step) as one draw, ``"step"`` matches steps
  separately. Along time also the DFT of the class-mean features, ``sum_k (|F_r,k| -
  |F_s,k|)^2 + 0.1 (1 - cos(angle F_r,k - angle F_s,k))``, and the per-step first moment
  ``||mean f_r - mean f_s||^2 / s^2``;
* **budget** - thousands of iterations (:data:`BUDGETS`, ``distill --budget``), with
  differentiable siamese augmentation (:mod:`neuro_deploy.data.augment`: one draw per class
  batch, applied to the real and the synthetic batch alike) and periodic, resumable
  checkpoints of the synthetic set (:func:`_optimise`).

Baselines at the same ``ipc``: ``random`` (real samples), ``dm`` (distribution matching:
mean embeddings of freshly initialised networks, Zhao & Bilen 2023) and ``prototype``
(``ipc`` PEQ draws of each class's mean event counts - what pure first-moment matching
converges to).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy._io import atomic_path, load_numpy
from neuro_deploy.errors import BadInputError, UnknownNameError

DISTILLED_SCHEMA = "neuro-deploy-distilled/2"  #: 2: provenance (DistilledSource) stored
DISTILLED_SCHEMAS = ("neuro-deploy-distilled/1", DISTILLED_SCHEMA)


@dataclass
class DistillConfig:
    ipc: int = 10
    iterations: int = 200
    lr: float = 0.01
    max_count: int = 1  #: N of PEQ-N: events per pixel per bin (1 = spikes)
    real_batch: int = 64
    frequencies: int = 256
    #: CF frequencies are drawn as ``w ~ N(0, frequency_scale^2 I)`` on features divided by the
    #: real features' mean norm (NCFM: N(0, I) on unit-norm features). At 4 (this module's first
    #: choice) every real sample's projection has a phase spread of ~4 rad, |phi_real| ~ 0 and the
    #: CF distance hardly tells a same-class from an other-class batch (0.265 vs 0.286 on N-MNIST
    #: teacher features); at 1 it does (0.195 vs 0.502) - benchmarks/pace_cf_probe.py
    frequency_scale: float = 1.0
    sdr_lambda: float = 1.0
    temporal_weight: float = 1.0
    cf_weight: float = 1.0  #: weight of the CF term (amplitude + phase); 0 leaves the moment and temporal terms
    moment_weight: float = 1.0  #: weight of the per-step first-moment term (not in NCFM; DM's objective)
    calib_weight: float = 0.0  #: cross-entropy of the teacher's output on synthetic samples
    layers: str = "first"  #: teacher layers whose SDR features are matched: first|all|penultimate
    optimizer: str = "adam"  #: adam|sgd (SGD with momentum moves only pixels with gradient)
    momentum: float = 0.5
    #: CF samples: "pairs" - per-step CFs, amplitude per step, phase per step and over every pair
    #: of steps (PACE's reviewers: cost grows with T^2); "time" pools (sample, step) pairs;
    #: "step" matches each step separately
    cf_pooling: str = "pairs"
    rounding: str = "stochastic"  #: how the stored frames quantize the latents: stochastic|nearest
    init_real_weight: float = 1.0  #: latents start at w * real sample + (1 - w) * class-mean counts
    augment: str = "dsa"  #: siamese augmentation of real and synthetic batches (data.augment)
    checkpoint: str | None = None  #: file for periodic checkpoints; an existing matching one is resumed
    checkpoint_every: int = 0  #: iterations between checkpoints (0: none)
    budget: str = ""  #: name of the preset that set the budget (BUDGETS), for the record
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        choices = {
            "layers": ("first", "all", "penultimate"),
            "optimizer": tuple(OPTIMIZERS),
            "cf_pooling": ("pairs", "time", "step"),
            "rounding": ("stochastic", "nearest"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise BadInputError(f"distill {name}={getattr(self, name)!r}: choose one of {', '.join(allowed)}")
        if self.ipc < 1 or self.iterations < 0 or self.max_count < 1:
            raise BadInputError(
                f"distill: ipc ({self.ipc}) and max_count ({self.max_count}) must be >= 1, "
                f"iterations ({self.iterations}) >= 0"
            )
        from neuro_deploy.data.augment import get_augment

        get_augment(self.augment)

    def fingerprint(self, x_real: np.ndarray, y: np.ndarray, method: str) -> str:
        """What a checkpoint must match to be resumed: every setting that changes the
        trajectory (not the iteration count, progress or checkpoint options) and the data."""
        import hashlib

        keep = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("iterations", "checkpoint", "checkpoint_every", "progress", "budget")
        }
        h = hashlib.sha256(repr((method, sorted(keep.items()), x_real.shape)).encode())
        h.update(np.ascontiguousarray(y).tobytes())
        h.update(np.ascontiguousarray(x_real[:: max(1, len(x_real) // 16)]).tobytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Budget:
    """A distillation budget (``distill --budget``): optimisation length and teacher pool."""

    iterations: int
    teacher_seeds: int  #: teacher SNNs trained from different initialisations
    teacher_epochs: int  #: each contributes its per-epoch snapshots
    frequencies: int
    real_batch: int  #: real samples per class per iteration
    checkpoint_every: int
    description: str


#: quick: for tests; standard: the CLI default; paper: PACE's published setting as far as it
#: can be read (NCFM: 20 teachers, 20,000 iterations; PACE: "thousands" of iterations) - 4
#: seeds x 5 epochs = 20 teacher snapshots and 3,000 iterations.
BUDGETS: dict[str, Budget] = {
    "quick": Budget(20, 2, 1, 64, 16, 10, "test-sized: 20 iterations, 2 seeds x 1 epoch = 2 teacher snapshots"),
    "standard": Budget(300, 2, 4, 256, 32, 50, "300 iterations, 2 seeds x 4 epochs = 8 teacher snapshots"),
    "paper": Budget(
        3000,
        4,
        5,
        1024,
        64,
        100,
        "3,000 iterations, 4 seeds x 5 epochs = 20 teacher snapshots (NCFM's 20 teachers; it runs 20,000 iterations)",
    ),
}


def get_budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise UnknownNameError("distillation budget", name, BUDGETS)
    return BUDGETS[name]


@dataclass
class Distilled:
    frames: np.ndarray  #: (N, 2, H, W, T) uint8
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


def sdr_features(model, x, lam: float, layers: int = 1):
    """SDR features of the first ``layers`` spiking layers: ``f = s + lam (1 - s) clip(v/theta, 0, 1)``,
    each (B, features, T); the last element of the list is the output spike train."""
    from lava.lib.dl.slayer.block.base import step_delay

    if x.dim() == 5 and not model.config.conv:
        x = x.reshape(x.shape[0], -1, x.shape[-1])
    theta = float(model.config.threshold)
    feats = []
    for block in model.blocks:
        if not hasattr(block, "synapse"):  # Flatten
            x = block(x)
            continue
        z = block.synapse(x)
        _, voltage = block.neuron.dynamics(z)
        s = block.neuron.spike(voltage)
        f = s + lam * (1 - s) * (voltage / theta).clamp(0, 1)
        feats.append(f.reshape(f.shape[0], -1, f.shape[-1]))
        x = step_delay(block, s) if getattr(block, "delay_shift", False) else s
        if len(feats) == layers:
            break
    return feats


def cf_loss(fr, fs, omega, scale: float):
    """NCFM characteristic-function distance (amplitude + phase) of two feature sets (B, D).

    Features are divided by a fixed ``scale`` (the real features' mean norm), not each by
    its own norm: per-sample normalisation hides the overall spike density, and the
    synthetic frames then drift to several times the real event density."""
    import torch

    fr, fs = fr / scale, fs / scale
    pr, ps = fr @ omega, fs @ omega  # (B, M)
    re_r, im_r = torch.cos(pr).mean(0), torch.sin(pr).mean(0)
    re_s, im_s = torch.cos(ps).mean(0), torch.sin(ps).mean(0)
    amp_r, amp_s = torch.sqrt(re_r**2 + im_r**2 + 1e-12), torch.sqrt(re_s**2 + im_s**2 + 1e-12)
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


def cf_pairs_loss(fr, fs, omega, scale: float):
    """Characteristic functions per time step, matched in amplitude per step and in phase
    per step and over every pair of steps (features (B, D, T)).

    ``phi_t(w) = mean_b exp(i w . f_{b,t} / s)``; amplitude ``A = mean_t (|phi_r,t| - |phi_s,t|)^2``;
    phase with NCFM's term ``p(a, b) = 2 (|a||b| - Re a Re b - Im a Im b) = 2|a||b|(1 - cos(angle a - angle b))``
    on ``phi_t`` and on the cross terms ``psi_{t,t'} = phi_t conj(phi_t')`` (t < t'), whose angle
    is the phase advance from step t to t': ``P = mean_t p(phi_r,t, phi_s,t) + mean_{t<t'}
    p(psi_r, psi_s)``. ``L = mean_w sqrt(0.5 A + 0.5 P)`` (NCFM's combination).

    The pair sum is computed in O(T) rather than over the T(T-1)/2 pairs: with
    ``u_t = |phi_r,t||phi_s,t|`` and ``z_t = phi_r,t conj(phi_s,t)`` (so ``|z_t| = u_t``),
    ``sum_{t<t'} p(psi_r, psi_s) = (sum_t u_t)^2 - |sum_t z_t|^2`` (expand both squares; the
    diagonal terms cancel). ``tests/test_pace_budget.py`` checks it against the pairs."""
    import torch

    def cf(f):
        proj = torch.einsum("bdt,dm->tbm", f / scale, omega)  # (T, B, M)
        return torch.cos(proj).mean(1), torch.sin(proj).mean(1)  # (T, M) each

    re_r, im_r = cf(fr)
    re_s, im_s = cf(fs)
    amp_r = torch.sqrt(re_r**2 + im_r**2 + 1e-12)
    amp_s = torch.sqrt(re_s**2 + im_s**2 + 1e-12)
    u = amp_r * amp_s
    re_z, im_z = re_r * re_s + im_r * im_s, im_r * re_s - re_r * im_s  # phi_r conj(phi_s)
    amp = ((amp_r - amp_s) ** 2).mean(0)
    p_step = (2 * (u - re_z)).mean(0)
    t = fr.shape[-1]
    if t > 1:
        pair_sum = u.sum(0) ** 2 - (re_z.sum(0) ** 2 + im_z.sum(0) ** 2)
        p_pair = pair_sum / (t * (t - 1) / 2)
    else:
        p_pair = torch.zeros_like(p_step)
    return torch.sqrt((0.5 * amp + 0.5 * (p_step + p_pair)).clamp_min(1e-12)).mean()


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
    return Distilled(
        np.minimum(x_real[idx], cfg.max_count).astype(np.uint8), labs, "random", cfg.ipc, 0, time.perf_counter() - t0
    )


def _class_mean(x_real: np.ndarray, y: np.ndarray, c: int) -> np.ndarray:
    """Mean event count of class ``c`` per (polarity, pixel, step), in bounded memory."""
    pool = np.flatnonzero(y == c)
    mean = np.zeros(x_real.shape[1:], np.float64)
    for start in range(0, len(pool), 256):
        mean += x_real[pool[start : start + 256]].sum(0, dtype=np.float64)
    return (mean / len(pool)).astype(np.float32)


def distill_prototype(x_real, y, cfg: DistillConfig, **_: Any) -> Distilled:
    """Class-mean baseline: ``ipc`` draws of ``q(p_c)`` where ``p_c`` is the class's mean event
    count per (polarity, pixel, step) - the distilled set a pure first-moment match converges to."""
    import torch

    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    frames, labs = [], []
    for c in np.unique(y):
        mean = _class_mean(x_real, y, c)
        p = torch.from_numpy(mean).expand(cfg.ipc, *mean.shape)
        frames.append(peq(p, cfg.max_count).numpy().astype(np.uint8))
        labs += [c] * cfg.ipc
    return Distilled(np.concatenate(frames), np.asarray(labs), "prototype", cfg.ipc, 0, time.perf_counter() - t0)


def _adam(params, cfg: DistillConfig):
    import torch

    return torch.optim.Adam(params, lr=cfg.lr)


def _sgd(params, cfg: DistillConfig):
    import torch

    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)


OPTIMIZERS: dict[str, Callable[..., Any]] = {"adam": _adam, "sgd": _sgd}


def _optimise(x_real, y, cfg: DistillConfig, loss_fn: Callable, method: str) -> Distilled:
    """Gradient descent on the synthetic latents, class by class each iteration; the real and
    the synthetic batch of a class share one augmentation draw (siamese, :mod:`data.augment`).

    ``loss_fn(rb, sb, i, c, gen)`` is the matching loss of real batch ``rb`` and synthetic
    batch ``sb`` of class ``c`` at iteration ``i``; ``gen`` is the torch generator for its own
    random draws. With ``cfg.checkpoint`` the latents, optimizer state, every generator and
    the loss history are saved every ``cfg.checkpoint_every`` iterations (atomically), and a
    checkpoint of the same run (:meth:`DistillConfig.fingerprint`) is resumed: an interrupted
    run continues where it stopped and ends with the same frames as an uninterrupted one;
    a finished one can be extended by asking for more iterations."""
    import torch

    from neuro_deploy.data.augment import get_augment

    aug = get_augment(cfg.augment)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1)
    t0 = time.perf_counter()
    idx, labs = _init_latents(x_real, y, cfg.ipc, rng)
    classes = np.unique(y)
    init = x_real[idx].astype(np.float32)  # start at real frames ...
    if cfg.init_real_weight < 1.0:  # ... pulled toward the class mean
        for c in classes:
            init[labs == c] = cfg.init_real_weight * init[labs == c] + (1 - cfg.init_real_weight) * _class_mean(
                x_real, y, c
            )
    lat = torch.tensor(init, requires_grad=True)
    opt = OPTIMIZERS[cfg.optimizer]([lat], cfg)
    hist: list[float] = []
    start, spent = 0, 0.0
    fp = cfg.fingerprint(x_real, y, method) if cfg.checkpoint else ""
    if cfg.checkpoint and Path(cfg.checkpoint).is_file():
        ck = torch.load(cfg.checkpoint, map_location="cpu", weights_only=False)
        if not isinstance(ck, dict) or ck.get("fingerprint") != fp:
            raise BadInputError(
                f"{cfg.checkpoint}: a distillation checkpoint of another run (settings or data "
                "differ); delete it or choose another --checkpoint"
            )
        with torch.no_grad():
            lat.copy_(ck["latents"])
        opt.load_state_dict(ck["optimizer"])
        rng.bit_generator.state = ck["np_rng"]
        torch.set_rng_state(ck["torch_rng"])
        gen.set_state(ck["gen"])
        aug_gen.set_state(ck["aug_gen"])
        start, hist, spent = int(ck["iteration"]), list(ck["history"]), float(ck["seconds"])

    def save_checkpoint(i: int) -> None:
        with atomic_path(cfg.checkpoint, ".pt") as tmp:
            torch.save(
                {
                    "fingerprint": fp,
                    "method": method,
                    "iteration": i,
                    "latents": lat.detach().clone(),
                    "labels": labs,
                    "optimizer": opt.state_dict(),
                    "np_rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "gen": gen.get_state(),
                    "aug_gen": aug_gen.get_state(),
                    "history": hist,
                    "seconds": spent + time.perf_counter() - t0,
                },
                tmp,
            )

    it = range(start, cfg.iterations)
    if cfg.progress:
        from neuro_deploy._progress import progress_bar

        it = progress_bar(it, desc=f"distilling ({method})", unit="it", total=cfg.iterations - start)
    for i in it:
        total = 0.0
        opt.zero_grad()
        for c in classes:
            pool = np.flatnonzero(y == c)
            rb = torch.from_numpy(x_real[rng.choice(pool, min(cfg.real_batch, len(pool)), replace=False)]).float()
            sb = peq(lat[labs == c], cfg.max_count)
            if not aug.identity:
                p = aug.sample(aug_gen, tuple(rb.shape))
                rb, sb = aug.apply(rb, p), aug.apply(sb, p)
            loss = loss_fn(rb, sb, i, c, gen)
            loss.backward()
            total += float(loss.detach())
        opt.step()
        with torch.no_grad():
            lat.clamp_(-0.5, cfg.max_count + 0.5)
        hist.append(total / len(classes))
        if cfg.progress:
            it.set_postfix(loss=f"{hist[-1]:.4f}")
        if cfg.checkpoint and cfg.checkpoint_every and ((i + 1) % cfg.checkpoint_every == 0 or i + 1 == cfg.iterations):
            save_checkpoint(i + 1)
    with torch.no_grad():
        q = peq(lat, cfg.max_count) if cfg.rounding == "stochastic" else torch.round(lat).clamp(0, cfg.max_count)
        frames = q.numpy().astype(np.uint8)
    return Distilled(frames, labs, method, cfg.ipc, 0, spent + time.perf_counter() - t0, hist)


def distill_pace(x_real, y, cfg: DistillConfig, teacher=None, **_: Any) -> Distilled:
    """PACE against frozen teacher SNNs (see module docstring). ``teacher`` is one model or a
    list (snapshots along the training runs of several seeds, as NCFM matches against 20
    pretrained teachers); each iteration matches features of one of them, in turn."""
    import torch

    if teacher is None or (isinstance(teacher, (list, tuple)) and not teacher):
        raise BadInputError("PACE needs a teacher SNN trained on the full set")
    teachers = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
    for t in teachers:
        for p in t.parameters():
            p.requires_grad_(False)
        t.eval()

    def loss_fn(rb, sb, i, c, gen):
        teacher = teachers[i % len(teachers)]
        n_syn = len([b for b in teacher.blocks if hasattr(b, "synapse")])
        n_layers = {"first": 1, "all": n_syn, "penultimate": max(1, n_syn - 1)}[cfg.layers]
        with torch.no_grad():
            frs = sdr_features(teacher, rb, cfg.sdr_lambda, n_layers)
        fss = sdr_features(teacher, sb, cfg.sdr_lambda, n_layers)
        if cfg.layers == "penultimate":
            frs, fss = frs[-1:], fss[-1:]
        total = 0.0
        for fr, fs in zip(frs, fss):
            omega = torch.randn(fr.shape[1], cfg.frequencies, generator=gen) * cfg.frequency_scale
            scale = float(fr.norm(dim=1).mean()) + 1e-6
            if not cfg.cf_weight:  # ablation: no CF term (its cost skipped too)
                spatial = 0.0
            elif cfg.cf_pooling == "pairs":
                spatial = cf_pairs_loss(fr, fs, omega, scale)
            elif cfg.cf_pooling == "time":  # time-expanded: every (sample, step) is a draw
                spatial = cf_loss(
                    fr.permute(0, 2, 1).reshape(-1, fr.shape[1]),
                    fs.permute(0, 2, 1).reshape(-1, fs.shape[1]),
                    omega,
                    scale,
                )
            else:
                spatial = sum(cf_loss(fr[..., t], fs[..., t], omega, scale) for t in range(fr.shape[-1])) / fr.shape[-1]
            mean = ((fr.mean(0) - fs.mean(0)) ** 2).sum() / (scale**2)  # first moment per step
            total = (
                total + cfg.cf_weight * spatial + cfg.moment_weight * mean + cfg.temporal_weight * temporal_loss(fr, fs)
            )
        if cfg.calib_weight:
            fss = sdr_features(teacher, sb, 0.0, n_syn)
            logits = fss[-1].sum(-1)  # output spike counts
            target = torch.full((len(logits),), int(c), dtype=torch.long)
            total = total + cfg.calib_weight * torch.nn.functional.cross_entropy(logits, target)
        return total

    return _optimise(x_real, y, cfg, loss_fn, "pace")


def distill_dm(x_real, y, cfg: DistillConfig, model_cfg=None, **_: Any) -> Distilled:
    """DM: match class-mean embeddings of a freshly initialised SNN each iteration.

    ``model_cfg`` builds those networks (``model_cfg.build()``, e.g. a
    :class:`~neuro_deploy.models.ModelConfig`): the data layer never imports a model."""
    if model_cfg is None or not hasattr(model_cfg, "build"):
        raise BadInputError("distill dm needs model_cfg: a model configuration with .build() (ModelConfig)")
    state = {}

    def loss_fn(rb, sb, i, c, gen):
        if state.get("i") != i:
            state["net"], state["i"] = model_cfg.build(), i
        net = state["net"]
        er = sdr_features(net, rb, 0.0)[0].mean(-1).mean(0)
        es = sdr_features(net, sb, 0.0)[0].mean(-1).mean(0)
        return ((er - es) ** 2).sum()

    return _optimise(x_real, y, cfg, loss_fn, "dm")


METHODS: dict[str, Callable[..., Distilled]] = {
    "pace": distill_pace,
    "dm": distill_dm,
    "random": distill_random,
    "prototype": distill_prototype,
}


def distill(method: str, x_real: np.ndarray, y: np.ndarray, cfg: DistillConfig, **kwargs: Any) -> Distilled:
    if method not in METHODS:
        raise UnknownNameError("distillation method", method, METHODS)
    return METHODS[method](x_real, y, cfg, **kwargs)


@dataclass(frozen=True)
class DistilledSource:
    """Where a distilled set came from, stored in its file (schema 2) so that training on it
    binns, splits and validates like the source: the data set and root, the train/validation
    split (``val_fraction``, ``split_seed``: :meth:`EventDataset.split`) whose training part
    was distilled, the binning (``dt_us``, ``num_steps``, ``time_origin``), the teacher's
    architecture, and the optimisation budget."""

    dataset: str = ""
    root: str = ""  #: absolute path of --root ("" for embedded data sets)
    val_fraction: float = 0.2
    split_seed: int = 0
    dt_us: int = 0
    num_steps: int = 0
    time_origin: str = "zero"
    arch: str = ""  #: teacher/student architecture (models.arch), "" if none
    budget: str = ""  #: distill --budget preset, "" if set by hand
    teacher_seconds: float = 0.0  #: training the teachers (part of the distillation cost)
    teachers: int = 0

    def to_arrays(self) -> dict[str, Any]:
        return {f"source_{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "DistilledSource":
        known = {f.name: f.type for f in fields(cls)}
        out = {}
        for k, v in meta.items():
            if k.startswith("source_") and k[7:] in known:
                out[k[7:]] = v.item() if hasattr(v, "item") else v
        if "dt_us" not in out and "dt_us" in meta:  # schema 1 files: timing only
            out["dt_us"] = int(meta["dt_us"])
            out["num_steps"] = int(meta.get("num_steps", 0))
            out["dataset"] = str(meta.get("dataset", ""))
        for k in ("val_fraction", "teacher_seconds"):
            if k in out:
                out[k] = float(out[k])
        for k in ("split_seed", "dt_us", "num_steps", "teachers"):
            if k in out:
                out[k] = int(out[k])
        for k in ("dataset", "root", "time_origin", "arch", "budget"):
            if k in out:
                out[k] = str(out[k])
        return cls(**out)


def save_distilled(d: Distilled, path: str | Path, source: DistilledSource | int, extra: dict | None = None) -> None:
    """Frames, labels, method, and the :class:`DistilledSource` (or just ``dt_us``) as one
    ``.npz``, written atomically."""
    if not isinstance(source, DistilledSource):
        source = DistilledSource(dt_us=int(source), num_steps=int(d.frames.shape[-1]))
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(
            tmp,
            frames=d.frames,
            labels=d.labels,
            method=d.method,
            ipc=d.ipc,
            dt_us=source.dt_us,
            num_steps=source.num_steps,
            schema=DISTILLED_SCHEMA,
            seconds=d.seconds,
            history=np.asarray(d.history, dtype=np.float64),
            **source.to_arrays(),
            **(extra or {}),
        )


def load_distilled(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(frames, labels, meta); ``meta["source"]`` is the file's :class:`DistilledSource`
    (schema 1 files carry only their timing and data set name)."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"{p}: distilled data set not found")
    z = load_numpy(p, "a distilled data set")
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise BadInputError(f"{p}: not a neuro-deploy distilled data set (an .npy array, not an .npz)")
    with z:
        if "schema" not in z.files or str(z["schema"]) not in DISTILLED_SCHEMAS:
            raise BadInputError(f"{p}: not a neuro-deploy distilled data set")
        meta = {k: z[k].item() if z[k].ndim == 0 else z[k] for k in z.files if k not in ("frames", "labels")}
        frames, labels = z["frames"], z["labels"]
    meta["source"] = DistilledSource.from_meta(meta)
    return frames, labels, meta
