"""pipeS: ANN pretraining on static images, then SNN fine-tuning on events (Lin et al., TNNLS 2022).

The ANN has exactly the synaptic layers of the SLAYER network (dense) and a *sharpened
ReLU* that anneals from a clipped ramp to the spiking neuron's step (pipeS
``WS_ResNet``, see ../shared/research/seeds-methods.md §4):

.. math:: h_e(x) = \\mathrm{clip}\\left(\\frac{x/\\theta - a_e}{b_e - a_e}, 0, 1\\right),\\quad
          a_e = \\min(0.49, e/E),\\ b_e = \\max(0.51, 1 - e/E)

with the SNN threshold ``theta`` and a straight-through rectangular surrogate gradient.

Two input sources (:data:`ANN_SOURCES`):

* ``events`` (pipeD-style): the training recordings' per-pixel event rates (the spike
  tensors averaged over time, normalised) - one ANN step instead of T SNN steps;
* ``images`` (pipeS): static images placed on the sensor canvas with the DVS emulator's
  geometry; their gradient magnitude (where a moving edge makes events) feeds both
  polarities. Measured on the digits: the ``images`` transfer lands near chance before
  fine-tuning (static edges are a poor proxy of saccade events), ``events`` at 0.87.

After pretraining, the weights are copied into the SLAYER blocks (weight-norm aware) and
the SNN is fine-tuned on event data (pipeD, :class:`FinetuneHooks`): the ANN's Adam state
carried over, the classifier alone for a warm-up epoch, then everything, with cross-entropy
on the output spike rates (``TrainConfig(loss="rate_ce")``) at lr 1e-4. Measured on the real
N-MNIST fixture (dense, seed 0, 801 training recordings): the transferred SNN starts at 0.79;
SLAYER's spike-rate loss at lr 1e-4 pulls it *down* (0.78 -> 0.56 in 4 epochs: its rate
targets 0.2/0.03 are far from the transferred network's rates), while rate cross-entropy
lifts it to 0.85-0.86 in two epochs (fresh optimizer, no warm-up: 0.83-0.84), above the
0.83 of 10 epochs from scratch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


def images_to_ann_inputs(images: np.ndarray, sensor: tuple[int, int] = (34, 34), digit_px: int = 28) -> np.ndarray:
    """(N, h, w) images in [0, 1] -> (N, 2*H*W) edge-magnitude inputs on the sensor canvas."""
    from neuro_deploy.events.emulator import SaccadeConfig, place_images

    canvas = place_images(np.asarray(images, np.float32), SaccadeConfig(sensor=sensor, digit_px=digit_px))
    gy, gx = np.gradient(canvas, axis=(1, 2))
    mag = np.sqrt(gx**2 + gy**2)
    mag /= max(float(mag.max()), 1e-6)
    return np.concatenate([mag, mag], axis=1).reshape(len(images), -1).astype(np.float32)


@dataclass
class PretrainResult:
    ann: object
    history: list
    seconds: float
    optimizer_state: dict | None = None  #: the ANN's Adam state (pipeD carries it into fine-tuning)


def _sharp(x, theta: float, a: float, b: float):
    import torch

    class Sharp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return ((z / theta - a) / (b - a)).clamp(0, 1)

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * ((z / theta - 0.5).abs() < 0.5).to(g.dtype) / theta

    return Sharp.apply(x)


def build_ann(cfg):
    """The ANN twin of a SLAYER model: one ``Conv2d`` (same kernel, stride, padding
    ``k // 2``, no bias) per conv block and one ``Linear`` per dense block, in order, so
    that :func:`transfer_to_slayer` copies weights one to one. Its ``input_shape`` is
    the SLAYER model's (C, H, W); :func:`ann_forward` takes flat or (N, C, H, W) input."""
    import torch

    layers = []
    c, h, w = cfg.input_shape
    for out_c, k, s in cfg.conv:
        layers.append(torch.nn.Conv2d(c, out_c, k, stride=s, padding=k // 2, bias=False))
        h, w, c = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1, out_c
    widths = [c * h * w] + list(cfg.hidden) + [cfg.num_classes]
    layers += [torch.nn.Linear(a, b, bias=False) for a, b in zip(widths[:-1], widths[1:])]
    ann = torch.nn.ModuleList(layers)
    ann.input_shape = tuple(cfg.input_shape)
    return ann


def ann_forward(layers, x, theta: float, a: float, b: float, act=None):
    """Forward pass of :func:`build_ann`'s layers; ``act(z, i)`` is the activation after
    layer ``i`` (default: the sharpened ReLU between ``a`` and ``b``), none after the last."""
    import torch

    for i, lin in enumerate(layers):
        if isinstance(lin, torch.nn.Conv2d) and x.dim() == 2:
            x = x.reshape((x.shape[0],) + tuple(layers.input_shape))
        elif isinstance(lin, torch.nn.Linear) and x.dim() > 2:
            x = x.flatten(1)  # C-order, as SLAYER's Flatten block
        x = lin(x)
        if i < len(layers) - 1:
            x = _sharp(x, theta, a, b) if act is None else act(x, i)
    return x


def pretrain_ann(
    cfg, x: np.ndarray, y: np.ndarray, epochs: int = 10, lr: float = 1e-3, batch_size: int = 64, seed: int = 0
) -> PretrainResult:
    """Train the ANN twin of a dense SLAYER model on (N, F) inputs with cross-entropy."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layers = build_ann(cfg)
    opt = torch.optim.Adam(layers.parameters(), lr=lr)
    hist = []
    t0 = time.perf_counter()
    for e in range(epochs):
        a, b = min(0.49, e / max(1, epochs)), max(0.51, 1 - e / max(1, epochs))
        order = rng.permutation(len(x))
        correct = 0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            out = ann_forward(layers, torch.from_numpy(x[idx]), cfg.threshold, a, b)
            loss = torch.nn.functional.cross_entropy(out, torch.from_numpy(y[idx]).long())
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += int((out.argmax(-1).numpy() == y[idx]).sum())
        hist.append({"epoch": e + 1, "ann_train_accuracy": correct / len(x), "a": a, "b": b})
    return PretrainResult(layers, hist, time.perf_counter() - t0, opt.state_dict())


def layer_scales(scale: float | list[float], n: int) -> list[float]:
    return list(scale) if isinstance(scale, (list, tuple)) else [float(scale)] * n


def transfer_to_slayer(layers, model, scale: float | list[float] = 1.0) -> None:
    """Copy ANN weights (times ``scale``, one value or one per layer) into the SLAYER blocks
    (sets weight-norm's g and v)."""
    import torch

    blocks = [b for b in model.blocks if getattr(b, "synapse", None) is not None]
    scales = layer_scales(scale, len(blocks))
    with torch.no_grad():
        for lin, block, s in zip(layers, blocks, scales):
            syn = block.synapse
            w = lin.weight.detach().reshape(syn.weight.shape) * s
            if hasattr(syn, "weight_v"):
                syn.weight_v.copy_(w)
                norm = w.reshape(w.shape[0], -1).norm(dim=1).reshape(syn.weight_g.shape)
                syn.weight_g.copy_(norm)
            else:
                syn.weight.copy_(w)


def transfer_optimizer_state(pre: PretrainResult, model, opt, scale: float | list[float] = 1.0) -> int:
    """pipeD's fine-tuning keeps the pretraining optimizer's state (lyh983012/SNN-ANN-Pretrain
    loads weights *and* optimizer): each ANN weight's Adam moments move to the SNN parameter
    that received that weight. The SNN weight is ``v = s W`` (weight norm's direction; its
    gain ``g`` has no ANN twin and starts fresh), so ``dL/dv = dL/dW / s``: the first moment
    is divided by ``s``, the second by ``s^2``, and the step count is kept (Adam's bias
    correction continues). Returns the number of parameters that received a state."""
    import torch

    if not pre.optimizer_state:
        return 0
    ann_state = pre.optimizer_state["state"]
    blocks = [b for b in model.blocks if getattr(b, "synapse", None) is not None]
    scales = layer_scales(scale, len(blocks))
    moved = 0
    for k, (block, s) in enumerate(zip(blocks, scales)):
        st = ann_state.get(k)  # ANN params are the layers' weights, in order
        syn = block.synapse
        target = getattr(syn, "weight_v", None)
        if target is None:
            target = syn.weight
        if st is None or "exp_avg" not in st:
            continue
        shape = target.shape
        opt.state[target] = {
            "step": torch.as_tensor(st["step"]).clone(),
            "exp_avg": st["exp_avg"].reshape(shape) / s,
            "exp_avg_sq": st["exp_avg_sq"].reshape(shape) / (s * s),
        }
        moved += 1
    return moved


@dataclass
class FinetuneHooks:
    """pipeD's fine-tuning as :func:`~neuro_deploy.models.slayer_model.train_model` hooks:
    ``init`` copies the ANN weights (and freezes everything but the classifier for
    ``warmup_epochs``), ``init_optimizer`` carries the ANN's Adam state over, ``on_epoch``
    unfreezes after the warm-up (the authors' 2-epoch frozen warm-up of the classifier helps:
    70.7-72.5 % vs 68-70.5 % on CIFAR10-DVS, seeds-methods.md section 9)."""

    pre: PretrainResult
    scale: float | list[float]
    warmup_epochs: int = 0
    transfer_optimizer: bool = True
    moved: int = 0

    def init(self, model) -> None:
        transfer_to_slayer(self.pre.ann, model, self.scale)
        if self.warmup_epochs > 0:
            blocks = [b for b in model.blocks if getattr(b, "synapse", None) is not None]
            for b in blocks[:-1]:
                for p in b.parameters():
                    p.requires_grad_(False)

    def init_optimizer(self, model, opt) -> None:
        if self.transfer_optimizer:
            self.moved = transfer_optimizer_state(self.pre, model, opt, self.scale)

    def on_epoch(self, epoch: int, model) -> None:
        if epoch + 1 == self.warmup_epochs:
            for p in model.parameters():
                p.requires_grad_(True)


def calibrate_transfer(
    layers,
    cfg,
    x: np.ndarray,
    y: np.ndarray,
    scales: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0),
    base_scales: list[float] | None = None,
) -> tuple[float, dict]:
    """The weight scale that makes the SNN (before any fine-tuning) best on ``x``: the ANN's
    activation unit (one threshold) and an SNN's integrated spike input differ by the
    neuron's time constants, which this one scalar absorbs. ``base_scales`` (one per layer,
    e.g. a QCFS conversion's) are multiplied by the global candidate."""
    from neuro_deploy.models.slayer_model import build_model, evaluate

    scores = {}
    for s in scales:
        m = build_model(cfg)
        transfer_to_slayer(layers, m, s if base_scales is None else [s * b for b in base_scales])
        scores[s] = evaluate(m, x, y)[0]
    best = max(scores, key=lambda k: scores[k])
    return best, scores


ANN_SOURCES = ("events", "images")


def rate_inputs(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W, T) spike tensors -> (N, C*H*W) time-averaged rates scaled to [0, 1]."""
    r = x.reshape(len(x), -1, x.shape[-1]).mean(-1).astype(np.float32)
    return r / max(float(r.max()), 1e-6)
