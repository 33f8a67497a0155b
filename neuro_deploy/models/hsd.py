"""HSD: hybrid step-wise distillation (Zhong et al., ACM MM 2024) - learn from many event
frames, infer on few steps; as its released code (github hsw0929/HSD) does it
(``../shared/research/seeds-methods.md`` section 9):

* **Teacher**: the ANN twin of the SLAYER network (:func:`~neuro_deploy.models.pretrain.build_ann`,
  dense or conv) with **QCFS** activations (quantization-clip-floor-shift, Bu et al. 2022)
  after every hidden layer,

  .. math:: h(x) = \\frac{\\lambda}{L}\\,\\mathrm{clip}\\Big(
            \\big\\lfloor \\tfrac{x L}{\\lambda} + \\tfrac12 \\big\\rfloor, 0, L\\Big)

  with ``L = 4`` levels and a trainable clip ``lambda`` per layer (straight-through gradient
  for the floor), applied frame by frame to ``teacher_frames`` frames (the recording's
  events binned into that many frames, rates in [0, 1]); outputs averaged over frames;
  cross-entropy. HSD's code starts every ``lambda`` at 8, which suits batch-normalised CIFAR
  activations; on sparse event frames (a few % of pixels active) every pre-activation of the
  freshly initialised net is below ``lambda / 2L = 1``, so every QCFS output is 0 and the net
  starts dead (measured on N-MNIST: 0 % of first-layer outputs nonzero, dense and conv; the
  conv teacher then stayed at chance, 0.097). By default (``clip_init=None``) each ``lambda``
  therefore starts at the 99.9th percentile of its layer's positive pre-activations on
  training frames, layer by layer (the robust normalisation of Rueckauer et al. 2017,
  "Conversion of continuous-valued deep networks to efficient event-driven networks").
* **Conversion as initialisation**: QCFS makes layer ``l``'s activation a rate in units of
  ``lambda_l``, so the SNN layer that fires at threshold reproduces it when its weights are
  ``W_l lambda_{l-1} / lambda_l`` (``lambda_0 = 1``: input rates); the readout keeps
  ``lambda_{L-1}``. The student's SLAYER neuron (threshold 1.25, hard reset; with
  ``student_neuron="cuba"`` also current decay and leak) differs from QCFS's IF neuron by
  a gain that one global factor, calibrated on training
  samples (:func:`~neuro_deploy.models.pretrain.calibrate_transfer`), absorbs.
* **The student's neuron** (``student_neuron``): ``if`` (default) - HSD's code converts to
  integrate-and-fire neurons, no current memory and no leak, so the student's rate over M
  steps is the QCFS rate the teacher learned. On Loihi 2 that is Lava's CUBA LIF with
  ``du = 4095`` (current decay 4096/4096: the current is the step's synaptic input) and
  ``dv = 0`` (SLAYER ``current_decay = 1``, ``voltage_decay = 0``); it exports to netx and
  runs on the fast backend and in Lava like any CUBA net. Only the reset differs from HSD's:
  CUBA resets to zero where HSD's IF subtracts the threshold, and its membrane starts at 0,
  not at half the threshold; fine-tuning trains through both. ``cuba`` keeps the network's
  own decays (0.25 / 0.03 per step), whose memory, tuned for 10 ms bins, blurs 37.5 ms
  steps together: measured on the real N-MNIST fixture (dense, 3 seeds, 8 of 30 steps, 15
  teacher epochs, ``benchmarks/hsd_probe.py``), converted before fine-tuning ``cuba`` 0.791,
  ``if`` 0.822; fine-tuned ``cuba`` 0.784 ± 0.034, ``if`` 0.824 ± 0.029.
* **Student**: that SNN on ``student_steps`` time bins of the same recording, fine-tuned with
  the step-wise distillation loss at **tau = 10** over **every** step

  .. math:: L = \\mathrm{CE}\\Big(\\tfrac{1}{M}\\sum_t s_t, y\\Big)
            + \\frac{1}{M}\\sum_{t=1}^{M} \\tau^2\\, \\mathrm{KL}\\big(\\mathrm{softmax}(z/\\tau)
              \\,\\|\\, \\mathrm{softmax}(s_t/\\tau)\\big)

  where ``z`` is the frozen teacher's output and ``s_t`` the student's output at step t,
  Adam (lr 3e-4; HSD's code: 1e-5 over many more epochs) with a cosine schedule. Measured on
  the real N-MNIST fixture (3 seeds, held-out split, deployed on the fast backend;
  ``benchmarks/efficient_training.py --groups full hsd`` and ``benchmarks/hsd_probe.py``,
  ``benchmarks/README.md``), 8 of 30 steps: dense 2312-128-10 - QCFS teacher on 10 frames
  0.871, student 0.831 ± 0.030, the 30-step net trained from scratch 0.831 ± 0.019, the
  student's net trained directly at 8 steps 0.469 (CUBA decays: 0.588); conv - teacher 0.913,
  student 0.858 ± 0.033, from scratch at 30 steps 0.876 ± 0.010.
  ``step_output`` says what ``s_t`` is for a spiking readout:
  ``rate`` (default) - the output spike rate up to step t times ``logit_scale``, the
  decision the deployed network reads after t steps; ``current`` - the synaptic input of the
  output layer at step t (HSD's per-step logits, before the neuron). The released code
  overwrote its teacher with the student; here the teacher is a frozen copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from neuro_deploy.errors import BadInputError, UnknownNameError

STEP_OUTPUTS = ("rate", "current")
#: the student's neuron by name: ModelConfig fields that replace the network's (module docstring)
STUDENT_NEURONS: dict[str, dict[str, float]] = {
    "if": {"current_decay": 1.0, "voltage_decay": 0.0},
    "cuba": {},
}


@dataclass
class HSDConfig:
    teacher_frames: int = 10
    student_steps: int = 15
    #: HSD's code: 64 (its comment: 300 is better); 15 left the conv teacher under-fit (0.88 on
    #: its own training split, N-MNIST), 30 fits it (0.96-0.98) at twice a small cost
    teacher_epochs: int = 30
    student_epochs: int = 3
    tau: float = 10.0
    levels: int = 4  #: QCFS quantization levels L
    #: QCFS trainable clip lambda, initial value; None: per layer, the 99.9th percentile of its
    #: positive pre-activations on training frames (HSD's code: 8.0)
    clip_init: float | None = None
    logit_scale: float = 10.0
    step_output: str = "rate"
    student_neuron: str = "if"  #: a :data:`STUDENT_NEURONS` name
    lr: float = 3e-4
    teacher_lr: float = 1e-3
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.step_output not in STEP_OUTPUTS:
            raise BadInputError(f"HSD step_output={self.step_output!r}: choose one of {', '.join(STEP_OUTPUTS)}")
        if self.student_neuron not in STUDENT_NEURONS:
            raise UnknownNameError("HSD student neuron (student_neuron)", self.student_neuron, STUDENT_NEURONS)
        if min(self.teacher_frames, self.student_steps, self.levels) < 1 or self.tau <= 0:
            raise BadInputError("HSD: frames, steps and levels must be >= 1, tau > 0")


@dataclass
class HSDResult:
    model: object
    teacher: object
    history: list = field(default_factory=list)
    teacher_seconds: float = 0.0
    student_seconds: float = 0.0
    teacher_accuracy: float = 0.0
    converted_accuracy: float = 0.0  #: the student straight after conversion, before fine-tuning
    clips: list = field(default_factory=list)
    config: object = None  #: the student's ModelConfig (:func:`student_config`)


def student_config(cfg, hcfg: HSDConfig, duration_us: int):
    """The student's ModelConfig: network ``cfg`` on ``hcfg.student_steps`` equal bins of a
    ``duration_us`` recording, with the ``hcfg.student_neuron`` neuron."""
    from dataclasses import replace

    from neuro_deploy.models.arch import with_timing

    dt_us = int(np.ceil(duration_us / hcfg.student_steps))
    return replace(with_timing(cfg, dt_us, hcfg.student_steps), **STUDENT_NEURONS[hcfg.student_neuron])


def frames(ds, n_frames: int) -> np.ndarray:
    """(N, C*H*W, F) per-frame event rates in [0, 1] of a data set, F = ``n_frames``."""
    dt = int(np.ceil(ds.duration_us / n_frames))
    x = ds.to_tensors(dt, n_frames)
    return x.reshape(len(x), -1, n_frames).astype(np.float32)


def per_frame(fx):
    """(N, F, frames) frame rates -> (N * frames, F): every frame one ANN input, sample-major."""
    n, f, t = fx.shape
    return fx.permute(0, 2, 1).reshape(n * t, f)


def qcfs(x, clip, levels: int):
    """QCFS activation ``clip/L * clip(floor(x L / clip + 1/2), 0, L)``, straight-through floor."""
    import torch

    y = torch.clamp(x / clip, 0, 1) * levels
    yq = y + (torch.floor(y + 0.5) - y).detach()
    return yq * clip / levels


class QCFSTeacher:
    """The ANN twin with one trainable QCFS clip per hidden layer."""

    def __init__(self, cfg, hcfg: HSDConfig) -> None:
        import torch

        from neuro_deploy.models.pretrain import build_ann

        self.layers = build_ann(cfg)
        start = 8.0 if hcfg.clip_init is None else float(hcfg.clip_init)
        self.clips = torch.nn.Parameter(torch.full((len(self.layers) - 1,), start))
        self.levels = hcfg.levels

    def init_clips(self, fx, percentile: float = 99.9) -> None:
        """Each clip := the ``percentile`` of its layer's positive pre-activations on the
        (N, F, frames) rates ``fx``, the layers before it already clipped and quantized."""
        import torch

        from neuro_deploy.models.pretrain import ann_forward

        def set_then_quantize(z, i):  # ann_forward calls it after each hidden layer, in order
            pos = z[z > 0]
            if pos.numel():
                self.clips[i] = float(np.percentile(pos.numpy(), percentile))
            return qcfs(z, self.clips[i], self.levels)

        with torch.no_grad():
            ann_forward(self.layers, per_frame(fx), 1.0, 0.0, 1.0, act=set_then_quantize)

    def parameters(self):
        return list(self.layers.parameters()) + [self.clips]

    def logits(self, fx):
        """(N, F, frames) frame rates -> frame-averaged outputs (N, classes)."""
        from neuro_deploy.models.pretrain import ann_forward

        n, _, t = fx.shape
        flat = per_frame(fx)
        out = ann_forward(self.layers, flat, 1.0, 0.0, 1.0, act=lambda z, i: qcfs(z, self.clips[i], self.levels))
        return out.reshape(n, t, -1).mean(1)

    def conversion_scales(self, z_all) -> list[float]:
        """Per-layer weight factors ``lambda_{l-1} / lambda_l`` (readout: ``lambda_{L-1}`` over the
        99th percentile of the positive logits, so the output fires at rates below one)."""
        lam = [1.0] + [float(c) for c in self.clips.detach().abs()]
        scales = [lam[i] / lam[i + 1] for i in range(len(lam) - 1)]
        pos = z_all[z_all > 0]
        top = float(np.percentile(pos.numpy(), 99)) if pos.numel() else 1.0
        return scales + [lam[-1] / max(top, 1e-6)]


def train_hsd(cfg, hcfg: HSDConfig, train_ds, progress: bool = False) -> HSDResult:
    """QCFS teacher on ``teacher_frames`` frames, converted and fine-tuned on ``student_steps`` steps."""
    import torch
    import torch.nn.functional as F

    from neuro_deploy.models.pretrain import calibrate_transfer, transfer_to_slayer
    from neuro_deploy.models.slayer_model import build_model

    torch.manual_seed(hcfg.seed)
    rng = np.random.default_rng(hcfg.seed)
    y = train_ds.labels
    fx = torch.from_numpy(frames(train_ds, hcfg.teacher_frames))
    teacher = QCFSTeacher(cfg, hcfg)
    if hcfg.clip_init is None:
        teacher.init_clips(fx[rng.permutation(len(fx))[:256]])
    opt = torch.optim.Adam(teacher.parameters(), lr=hcfg.teacher_lr)
    t0 = time.perf_counter()
    for _ in range(hcfg.teacher_epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(y), 64):
            idx = order[i : i + 64]
            loss = F.cross_entropy(teacher.logits(fx[idx]), torch.from_numpy(y[idx]).long())
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        z_all = teacher.logits(fx)
    t_acc = float((z_all.argmax(-1).numpy() == y).mean())
    t_teacher = time.perf_counter() - t0
    # student: M steps over the same recording, initialised by converting the teacher
    scfg = student_config(cfg, hcfg, train_ds.duration_us)
    xs = train_ds.to_tensors(scfg.dt_us, scfg.num_steps)
    base = teacher.conversion_scales(z_all)
    k = min(200, len(xs))
    g, scores = calibrate_transfer(teacher.layers, scfg, xs[:k], y[:k], base_scales=base)
    model = build_model(scfg)
    transfer_to_slayer(teacher.layers, model, [g * s for s in base])
    sopt = torch.optim.Adam(model.parameters(), lr=hcfg.lr)
    batches = int(np.ceil(len(y) / hcfg.batch_size)) * hcfg.student_epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(sopt, T_max=max(1, batches))
    hist = []
    t1 = time.perf_counter()
    steps = torch.arange(1, hcfg.student_steps + 1, dtype=torch.float32)
    out_block = model.blocks[-1]
    captured = {}
    hook = None
    if hcfg.step_output == "current":
        hook = out_block.synapse.register_forward_hook(lambda m, a, o: captured.__setitem__("z", o))
    try:
        for epoch in range(hcfg.student_epochs):
            order = rng.permutation(len(y))
            total = 0.0
            for i in range(0, len(order), hcfg.batch_size):
                idx = order[i : i + hcfg.batch_size]
                out = model(torch.from_numpy(xs[idx]).float())  # (B, classes, M)
                if hcfg.step_output == "rate":
                    logits_t = hcfg.logit_scale * out.cumsum(-1) / steps  # rate up to each step
                else:
                    logits_t = captured["z"].reshape(out.shape)  # output layer's input current
                yb = torch.from_numpy(y[idx]).long()
                ce = F.cross_entropy(logits_t.mean(-1), yb)
                p_t = F.softmax(z_all[idx] / hcfg.tau, dim=-1)
                kd = sum(
                    F.kl_div(F.log_softmax(logits_t[..., t] / hcfg.tau, -1), p_t, reduction="batchmean")
                    for t in range(hcfg.student_steps)
                )
                loss = ce + hcfg.tau**2 * kd / hcfg.student_steps
                sopt.zero_grad()
                loss.backward()
                sopt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            hist.append({"epoch": epoch + 1, "loss": total / len(y)})
    finally:
        if hook is not None:
            hook.remove()
    model.eval()
    return HSDResult(
        model,
        teacher,
        hist,
        t_teacher,
        time.perf_counter() - t1,
        t_acc,
        scores[g],
        [float(c) for c in teacher.clips.detach()],
        scfg,
    )
