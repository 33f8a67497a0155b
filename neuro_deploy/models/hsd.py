"""HSD: hybrid step-wise distillation (Zhong et al., ACM MM 2024) - learn from many event
frames, infer on few steps.

* Teacher: the ANN twin of the dense SLAYER network (sharpened ReLU, as in
  :mod:`neuro_deploy.models.pretrain`) applied frame by frame to ``teacher_frames`` frames
  (the recording's events binned into that many frames, rates normalised) with its outputs
  averaged over frames; trained with cross-entropy.
* Student: the SLAYER SNN on ``student_steps`` time bins covering the same recording,
  initialised from the teacher's weights (ANN -> SNN conversion with a calibrated scale) and
  fine-tuned with the step-wise distillation loss

  .. math:: L = \\mathrm{CE}\\Big(\\tfrac{1}{M}\\sum_t o_t, y\\Big)
            + \\frac{1}{M}\\sum_{t=1}^{M} \\tau^2\\, \\mathrm{KL}\\big(\\mathrm{softmax}(z/\\tau)
              \\,\\|\\, \\mathrm{softmax}(o_{\\le t}/\\tau)\\big)

  where ``z`` is the frozen teacher's (time-averaged) output and ``o_{<=t}`` the student's
  output spike rate up to step t, scaled to logits by ``logit_scale`` (reconstruction: a
  SLAYER CUBA readout spikes, so the running rate is its per-step output). The released HSD
  code overwrote its teacher with the student; here the teacher is a frozen copy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class HSDConfig:
    teacher_frames: int = 10
    student_steps: int = 15
    teacher_epochs: int = 15
    student_epochs: int = 3
    tau: float = 2.0
    logit_scale: float = 10.0
    lr: float = 3e-5
    batch_size: int = 32
    seed: int = 0


@dataclass
class HSDResult:
    model: object
    teacher: object
    history: list = field(default_factory=list)
    teacher_seconds: float = 0.0
    student_seconds: float = 0.0
    teacher_accuracy: float = 0.0


def frames(ds, n_frames: int) -> np.ndarray:
    """(N, C*H*W, F) per-frame event rates in [0, 1] of a data set, F = ``n_frames``."""
    dt = int(np.ceil(ds.duration_us / n_frames))
    x = ds.to_tensors(dt, n_frames)
    return x.reshape(len(x), -1, n_frames).astype(np.float32)


def teacher_logits(layers, fx, theta: float):
    """Frame-wise ANN, outputs averaged over frames: (N, classes)."""
    from neuro_deploy.models.pretrain import ann_forward

    n, f, t = fx.shape
    flat = fx.permute(0, 2, 1).reshape(n * t, f)
    out = ann_forward(layers, flat, theta, 0.49, 0.51)
    return out.reshape(n, t, -1).mean(1)


def train_hsd(cfg, hcfg: HSDConfig, train_ds, progress: bool = False) -> HSDResult:
    """Teacher on ``teacher_frames`` frames, student SNN on ``student_steps`` steps."""
    import torch
    import torch.nn.functional as F

    from neuro_deploy.models.pretrain import build_ann, calibrate_transfer, transfer_to_slayer
    from neuro_deploy.models.slayer_model import build_model

    torch.manual_seed(hcfg.seed)
    rng = np.random.default_rng(hcfg.seed)
    y = train_ds.labels
    fx = torch.from_numpy(frames(train_ds, hcfg.teacher_frames))
    teacher = build_ann(cfg)
    opt = torch.optim.Adam(teacher.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(hcfg.teacher_epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(y), 64):
            idx = order[i:i + 64]
            out = teacher_logits(teacher, fx[idx], cfg.threshold)
            loss = F.cross_entropy(out, torch.from_numpy(y[idx]).long())
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        z_all = teacher_logits(teacher, fx, cfg.threshold)
    t_acc = float((z_all.argmax(-1).numpy() == y).mean())
    t_teacher = time.perf_counter() - t0
    # student: M steps over the same recording, initialised from the teacher
    dt_s = int(np.ceil(train_ds.duration_us / hcfg.student_steps))
    xs = train_ds.to_tensors(dt_s, hcfg.student_steps)
    scfg = type(cfg)(**{**cfg.__dict__, "dt_us": dt_s, "num_steps": hcfg.student_steps})
    scale, _ = calibrate_transfer(teacher, scfg, xs[:200], y[:200])
    model = build_model(scfg)
    transfer_to_slayer(teacher, model, scale)
    sopt = torch.optim.Adam(model.parameters(), lr=hcfg.lr)
    hist = []
    t1 = time.perf_counter()
    steps = torch.arange(1, hcfg.student_steps + 1, dtype=torch.float32)
    for epoch in range(hcfg.student_epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for i in range(0, len(order), hcfg.batch_size):
            idx = order[i:i + hcfg.batch_size]
            out = model(torch.from_numpy(xs[idx]).float())           # (B, classes, M)
            run_rate = out.cumsum(-1) / steps                         # rate up to each step
            logits_t = hcfg.logit_scale * run_rate                    # (B, classes, M)
            ce = F.cross_entropy(logits_t[..., -1], torch.from_numpy(y[idx]).long())
            p_t = F.softmax(z_all[idx] / hcfg.tau, dim=-1)
            kd = 0.0
            for t in range(hcfg.student_steps):
                kd = kd + F.kl_div(F.log_softmax(logits_t[..., t] / hcfg.tau, -1), p_t,
                                   reduction="batchmean")
            loss = ce + hcfg.tau ** 2 * kd / hcfg.student_steps
            sopt.zero_grad()
            loss.backward()
            sopt.step()
            total += float(loss.detach()) * len(idx)
        hist.append({"epoch": epoch + 1, "loss": total / len(y)})
    model.eval()
    return HSDResult(model, teacher, hist, t_teacher, time.perf_counter() - t1, t_acc)
