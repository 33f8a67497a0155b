"""SLAYER (lava-dl) CUBA networks: build, train on spike tensors, checkpoint.

The network is a stack of ``slayer.block.cuba`` blocks (dense, or conv + flatten +
dense), the same blocks lava-dl exports to netx. Every block delays its output by one
step (``delay_shift``), as Lava's synapse buffers do on the chip. Training uses
SLAYER's spike-rate loss; the predicted class is the output neuron with the most
spikes.

How the forward pass treats the weights is the model's *quantization mode*
(:data:`QUANT_MODES`), stored with the weights (buffers ``quant_mode``,
``quant_exponents``) so that a checkpoint, a snapshot or a copy computes what it
computed in training:

* ``slayer`` - lava-dl's stock CUBA block: weights rounded to SLAYER's fixed scale
  ``2**6`` in every forward pass (the only mode of checkpoints written before QAT existed);
* ``float`` - real-valued weights (state and decays as SLAYER's integer dynamics);
* ``qat`` - weights rounded per layer at ``2**e`` by exactly the quantizer the netx export
  uses (:mod:`neuro_deploy.models.quantize`), so that the float model *is* the deployed one.

:func:`train_model`'s default recipe trains in ``float`` and fine-tunes the last epochs in
``qat`` (``TrainConfig.qat_epochs``).
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy._compat import import_slayer  # noqa: F401  (public here too)
from neuro_deploy.errors import BadInputError, CheckpointError
from neuro_deploy.models.quantize import SLAYER_EXPONENT, LayerQuantizer, QuantSpec, choose_exponent

CHECKPOINT_FORMAT = "neuro-deploy-checkpoint"
CHECKPOINT_VERSION = 2  #: 2: quantization mode, exponents and QuantSpec stored (1 loads as ``slayer``)

#: Quantization modes of the forward pass (code stored in the ``quant_mode`` buffer).
QUANT_MODES: dict[str, int] = {"slayer": 0, "float": 1, "qat": 2}


@dataclass
class ModelConfig:
    """Architecture and neuron parameters (SLAYER units: threshold in weight units)."""

    input_shape: tuple[int, int, int] = (2, 34, 34)  #: (C, H, W)
    num_classes: int = 10
    hidden: tuple[int, ...] = (128,)  #: dense hidden widths
    conv: tuple[tuple[int, int, int], ...] = ()  #: (out_channels, kernel, stride) per conv
    threshold: float = 1.25
    current_decay: float = 0.25
    voltage_decay: float = 0.03
    tau_grad: float = 0.03
    scale_grad: float = 3.0
    dropout: float = 0.05
    dt_us: int = 5000
    num_steps: int = 60
    time_origin: str = "zero"  #: binning origin of the training data (events.tensor.TIME_ORIGINS)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        d = dict(d)
        d["input_shape"] = tuple(d["input_shape"])
        d["hidden"] = tuple(d.get("hidden", ()))
        d["conv"] = tuple(tuple(c) for c in d.get("conv", ()))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def build(self) -> Any:
        """A fresh, randomly initialised network of this configuration (:func:`build_model`)."""
        return build_model(self)


@dataclass
class TrainConfig:
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    true_rate: float = 0.2
    false_rate: float = 0.03
    threads: int = 2
    progress: bool = True
    #: batch augmentation by name (neuro_deploy.data.augment: "none", "dsa"), one draw per batch;
    #: how dataset-distillation students are trained (DSA, DM and NCFM evaluate with it)
    augment: str = "none"
    #: per-example loss (LOSSES): SLAYER's spike rate, or cross-entropy of the scaled output rate
    #: (fine-tuning a converted / pretrained network, where the spike-rate targets pull it apart)
    loss: str = "spike_rate"
    logit_scale: float = 10.0
    #: epochs at the end trained with the export quantizer (QAT); None: ``ceil(epochs / 5)``;
    #: ``epochs``: QAT throughout; 0: float training only (the export quantizes afterwards)
    qat_epochs: int | None = None
    quant: QuantSpec = field(default_factory=QuantSpec)
    calibration_samples: int = 256  #: training samples whose state peaks set the scale

    def qat_epoch_count(self) -> int:
        n = int(np.ceil(self.epochs / 5)) if self.qat_epochs is None else int(self.qat_epochs)
        return max(0, min(n, self.epochs))


@dataclass
class TrainResult:
    model: Any
    config: ModelConfig
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0


def build_model(cfg: ModelConfig, quant: QuantSpec | None = None):
    """A ``torch.nn.Module`` with ``.blocks`` (SLAYER CUBA) and ``.export_hdf5(path)``, in
    quantization mode ``slayer`` (lava-dl's stock blocks) until :meth:`set_quantization`."""
    import torch

    slayer = import_slayer()
    neuron = {
        "threshold": cfg.threshold,
        "current_decay": cfg.current_decay,
        "voltage_decay": cfg.voltage_decay,
        "tau_grad": cfg.tau_grad,
        "scale_grad": cfg.scale_grad,
        "requires_grad": True,
    }
    neuron_drop = dict(neuron)
    if cfg.dropout > 0:
        neuron_drop["dropout"] = slayer.neuron.Dropout(p=cfg.dropout)

    class SlayerNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks = []
            c, h, w = cfg.input_shape
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for out_c, k, s in cfg.conv:
                    blocks.append(
                        slayer.block.cuba.Conv(neuron_drop, c, out_c, k, stride=s, padding=k // 2, weight_norm=True)
                    )
                    h, w, c = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1, out_c
                if cfg.conv:
                    blocks.append(slayer.block.cuba.Flatten())
                width = c * h * w
                for hid in cfg.hidden:
                    blocks.append(slayer.block.cuba.Dense(neuron_drop, width, hid, weight_norm=True))
                    width = hid
                blocks.append(slayer.block.cuba.Dense(neuron, width, cfg.num_classes, weight_norm=True))
            self.blocks = torch.nn.ModuleList(blocks)
            self.config = cfg
            self.quant_spec = quant or QuantSpec()
            n_syn = len(self.synaptic_blocks())
            self.register_buffer("quant_mode", torch.tensor(QUANT_MODES["slayer"], dtype=torch.int64))
            self.register_buffer("quant_exponents", torch.full((n_syn,), SLAYER_EXPONENT, dtype=torch.int64))
            #: largest |u| or |v| per layer on calibration data, weight units (0: not calibrated)
            self.register_buffer("state_peaks", torch.zeros(n_syn, dtype=torch.float32))
            self._applied: tuple | None = None

        def synaptic_blocks(self) -> list:
            """The blocks with synapses and neurons (one netx layer each), in order."""
            return [b for b in self.blocks if getattr(b, "synapse", None) is not None]

        @property
        def quantization(self) -> tuple[str, list[int]]:
            """(mode, per-layer exponents) of the forward pass."""
            code = int(self.quant_mode)
            mode = next(k for k, v in QUANT_MODES.items() if v == code)
            return mode, [int(e) for e in self.quant_exponents]

        def set_quantization(self, mode: str, exponents: list[int] | None = None) -> None:
            """Switch the forward pass to ``mode`` (``qat`` needs one exponent per layer)."""
            if mode not in QUANT_MODES:
                from neuro_deploy.errors import UnknownNameError

                raise UnknownNameError("quantization mode", mode, QUANT_MODES)
            exps = [SLAYER_EXPONENT] * len(self.quant_exponents) if exponents is None else list(exponents)
            if len(exps) != len(self.quant_exponents):
                raise BadInputError(f"quantization: {len(exps)} exponents for {len(self.quant_exponents)} layers")
            self.quant_mode.fill_(QUANT_MODES[mode])
            self.quant_exponents.copy_(torch.tensor(exps, dtype=torch.int64))
            self.apply_quantization()

        def apply_quantization(self) -> None:
            """Configure every block from the buffers: the weight hook (``pre_hook_fx``) and
            the neuron's scale, set as ``cuba.Neuron(scale=2**e)`` sets them at construction
            (``w_scale``, ``s_scale = w_scale << 6``, threshold rounded to ``1/w_scale``,
            ``threshold_eps``; lava-dl slayer/neuron/base.py and cuba.py)."""
            mode, exps = self.quantization
            key = (mode, tuple(exps))
            if key == self._applied:
                return
            for block, e in zip(self.synaptic_blocks(), exps):
                scale_e = SLAYER_EXPONENT if mode == "float" else e
                n = block.neuron
                n.w_scale = 1 << scale_e
                n.s_scale = n.w_scale << 6
                n._threshold = int(cfg.threshold * n.w_scale) / n.w_scale
                n.threshold_eps = 0.01 / n.s_scale
                block.synapse.pre_hook_fx = {
                    "slayer": n.quantize_8bit,
                    "float": None,
                    "qat": LayerQuantizer(e, self.quant_spec),
                }[mode]
            self._applied = key

        def float_weights(self) -> list[np.ndarray]:
            """Each layer's real-valued weights (after weight normalisation, before rounding)."""
            with torch.no_grad():
                was_training = self.training
                self.eval()
                self(torch.zeros((1,) + tuple(cfg.input_shape) + (2,)))
                self.train(was_training)
                return [b.synapse.weight.detach().cpu().numpy().copy() for b in self.synaptic_blocks()]

        def effective_weights(self) -> list[np.ndarray]:
            """Each layer's weights as the forward pass uses them (rounded unless ``float``)."""
            import torch as _t

            out = []
            for b, w in zip(self.synaptic_blocks(), self.float_weights()):
                hook = b.synapse.pre_hook_fx
                out.append(w if hook is None else hook(_t.from_numpy(w)).numpy())
            return out

        def bake_effective_weights(self) -> None:
            """Replace the real-valued weights by the ones the forward pass uses (rounded
            unless ``float``), with weight normalisation removed: the model computes the
            same, and any later rounding at a finer scale ``2**e`` keeps these values
            exactly (an export step; training would continue from the rounded weights)."""
            eff = self.effective_weights()
            with torch.no_grad():
                for b, w in zip(self.synaptic_blocks(), eff):
                    if b.synapse.weight_norm_enabled:
                        b.synapse.disable_weight_norm()
                    b.synapse.weight.data = torch.from_numpy(w).to(b.synapse.weight.dtype)

        def forward_layers(self, x) -> list:
            """Spikes of every synaptic block (one netx layer each), in order."""
            self.apply_quantization()
            if not cfg.conv and x.dim() == 5:
                x = x.reshape(x.shape[0], -1, x.shape[-1])
            outs = []
            for block in self.blocks:
                x = block(x)
                if getattr(block, "synapse", None) is not None:
                    outs.append(x)
            return outs

        def forward(self, x):  # x: (N, C, H, W, T) for conv nets, (N, C*H*W, T) for dense
            self.apply_quantization()
            if not cfg.conv and x.dim() == 5:
                x = x.reshape(x.shape[0], -1, x.shape[-1])
            for i, block in enumerate(self.blocks):
                if i == len(self.blocks) - 1:
                    self.last_hidden = x  # penultimate spikes, for data-pruning scores
                x = block(x)
            return x

        def export_hdf5(self, path: str | Path) -> None:
            """lava-dl's netx writer, block by block (after one forward pass, which sets
            the neuron shapes that SLAYER only learns lazily). The weights and ``vThMant``
            are written at each layer's current scale."""
            import h5py

            with torch.no_grad():
                was_training = self.training
                self.eval()
                self(torch.zeros((1,) + tuple(cfg.input_shape) + (2,)))
                self.train(was_training)
            with h5py.File(path, "w") as h5:
                layer = h5.create_group("layer")
                offset = 0
                if cfg.conv:
                    # netx needs the input shape before a conv layer: shape-only input layer
                    g = layer.create_group("0")
                    g.create_dataset("type", data=np.array([b"input"]))
                    g.create_dataset("shape", data=np.array(cfg.input_shape))
                    offset = 1
                for i, block in enumerate(self.blocks):
                    block.export_hdf5(layer.create_group(f"{i + offset}"))

    return SlayerNet()


def deployable(model: Any, exponents: list[int]) -> Any:
    """A copy of ``model`` that computes exactly what its netx export at ``exponents``
    computes: the effective weights baked in, then rounded per layer at ``2**e`` by the
    export quantizer (lossless where ``2**e`` is at least the scale they were rounded at)."""
    dep = build_model(model.config, model.quant_spec)  # a copy (deepcopy fails on weight norm)
    for src, dst in zip(model.synaptic_blocks(), dep.synaptic_blocks()):
        if not src.synapse.weight_norm_enabled:  # already baked
            dst.synapse.disable_weight_norm()
    dep.load_state_dict(model.state_dict())
    dep.eval()
    dep.bake_effective_weights()
    dep.set_quantization("qat", exponents)
    return dep


def measure_state_peaks(model: Any, x: np.ndarray, batch_size: int = 64) -> list[float]:
    """Largest |u| or |v| of every layer (weight units) while ``model`` runs the (N, C, H, W, T)
    spikes ``x`` (plus the drain steps), from SLAYER's own dynamics of each neuron block."""
    import torch

    n = len(model.synaptic_blocks())
    peaks = [0.0] * n
    current: list[int] = [0]

    def hook(mod: Any, args: tuple, out: Any) -> None:
        cur, vol = mod.dynamics(args[0])
        i = current[0]
        if cur.numel():
            peaks[i] = max(peaks[i], float(cur.abs().max()), float(vol.abs().max()))
        current[0] = i + 1

    hooks = [b.neuron.register_forward_hook(hook) for b in model.synaptic_blocks()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                current[0] = 0
                model(torch.from_numpy(with_drain(x[i : i + batch_size], n)).float())
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return peaks


def calibrate(model: Any, x: np.ndarray) -> list[float]:
    """Measure and store the state peaks (buffer ``state_peaks``) on calibration spikes."""
    import torch

    peaks = measure_state_peaks(model, x)
    model.state_peaks.copy_(torch.tensor(peaks, dtype=torch.float32))
    return peaks


def choose_exponents(
    model: Any, weights: list[np.ndarray] | None = None, spec: QuantSpec | None = None, peaks: list[float] | None = None
) -> list[int]:
    """Per-layer exponents (:func:`neuro_deploy.models.quantize.choose_exponent`) for
    ``weights`` (default: the model's *effective* weights, what its forward pass uses) and
    state ``peaks`` (default: the calibrated ones stored in the model)."""
    spec = spec or model.quant_spec
    weights = model.effective_weights() if weights is None else weights
    peaks = [float(p) for p in model.state_peaks] if peaks is None else peaks
    return [choose_exponent(w, model.config.threshold, spec, p or None) for w, p in zip(weights, peaks)]


def start_qat(model: Any, x_cal: np.ndarray) -> list[int]:
    """Switch ``model`` to ``qat`` at the exponents its real-valued weights and the state
    peaks on ``x_cal`` call for (the export quantizer's rule); returns them. Called at the
    start of every QAT epoch."""
    calibrate(model, x_cal)
    exps = choose_exponents(model, model.float_weights())
    model.set_quantization("qat", exps)
    return exps


def predict_rate(spikes) -> "np.ndarray":
    """Class = output neuron with the most spikes over time (ties: lowest index)."""
    import torch

    counts = spikes.sum(-1) if isinstance(spikes, torch.Tensor) else np.asarray(spikes).sum(-1)
    return np.asarray(counts.argmax(-1))


def with_drain(x: np.ndarray, layers: int) -> np.ndarray:
    """(N, ..., T) -> (N, ..., T + layers): empty steps after the input so its last step
    reaches the output (one step of delay per layer), as every deployed run is padded."""
    return np.concatenate([x, np.zeros(x.shape[:-1] + (layers,), dtype=x.dtype)], axis=-1)


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 64) -> tuple[float, np.ndarray]:
    """Float (SLAYER) accuracy and output spike counts (N, classes), each sample followed by
    one empty step per layer (:func:`with_drain`), exactly as the deployed network runs it."""
    import torch

    model.eval()
    counts = []
    drain = len(model.synaptic_blocks()) if hasattr(model, "synaptic_blocks") else 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out = model(torch.from_numpy(with_drain(x[i : i + batch_size], drain)).float())
            counts.append(out.sum(-1).numpy())
    model.train()
    c = np.concatenate(counts) if counts else np.zeros((0, 10))
    return float((c.argmax(-1) == y).mean()) if len(y) else float("nan"), c


def spike_rate_loss(out, labels, true_rate: float, false_rate: float):
    """Per-example SLAYER ``SpikeRate`` loss: ``sum_c (rate_c - target_c)^2`` (N,)."""
    import torch.nn.functional as F

    rate = out.reshape(out.shape[0], -1, out.shape[-1]).mean(-1)
    one_hot = F.one_hot(labels, num_classes=rate.shape[1]).to(rate.dtype)
    target = true_rate * one_hot + false_rate * (1 - one_hot)
    return ((rate - target) ** 2).sum(-1)


def rate_ce_loss(out, labels, logit_scale: float):
    """Per-example cross-entropy of the output spike rate times ``logit_scale`` (N,): the
    fine-tuning loss of pipeD's and HSD's SNNs (softmax over output rates)."""
    import torch.nn.functional as F

    rate = out.reshape(out.shape[0], -1, out.shape[-1]).mean(-1)
    return F.cross_entropy(logit_scale * rate, labels, reduction="none")


#: Per-example training losses by name, ``f(out, labels, tcfg) -> (N,)``.
LOSSES: dict[str, Callable[..., Any]] = {
    "spike_rate": lambda out, y, t: spike_rate_loss(out, y, t.true_rate, t.false_rate),
    "rate_ce": lambda out, y, t: rate_ce_loss(out, y, t.logit_scale),
}


@contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch intra-op threads, then restore the caller's count.

    ``torch.set_num_threads`` is process-global. ``train_model`` used to leave its
    ``TrainConfig.threads`` (2) set, so a PACE distillation that followed teacher training in
    the same process ran two OpenMP threads where its caller had asked for one: on a loaded
    2-core machine 2.3-4.5 CPU s per iteration instead of 0.55, the same teachers and frames
    (session 6, ``benchmarks/pace_variants.py``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_model(
    cfg: ModelConfig,
    tcfg: TrainConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    selector: Any = None,
    init: Callable[[Any], None] | None = None,
    on_epoch: Callable[[int, Any], None] | None = None,
    init_optimizer: Callable[[Any, Any], None] | None = None,
) -> TrainResult:
    """Train with SLAYER's spike-rate loss; ``x`` are (N, C, H, W, T) uint8 spike tensors.

    Epochs before the last ``tcfg.qat_epoch_count()`` run the ``float`` model; the last ones
    run ``qat``, the exponents re-chosen from the real-valued weights at the start of each
    QAT epoch (:func:`start_qat`) and kept in the model, so the export reproduces the
    trained forward pass exactly.

    ``selector`` (:mod:`neuro_deploy.models.pruning`) picks each epoch's examples and their
    loss weights; without one every example is used with weight 1 (SLAYER's ``SpikeRate``
    with ``reduction='sum'``). ``on_epoch(epoch, model)`` runs after every epoch (e.g. to keep
    snapshots of the training trajectory as PACE teachers, or to unfreeze layers after a
    warm-up); ``init_optimizer(model, optimizer)`` runs once the Adam optimizer exists (e.g. to
    carry over a pretrained optimizer's state, pipeD).

    Runs with ``tcfg.threads`` torch threads and gives the caller its own count back
    (:func:`torch_threads`)."""
    with torch_threads(tcfg.threads):
        import torch

        slayer = import_slayer()
        if tcfg.loss not in LOSSES:
            from neuro_deploy.errors import UnknownNameError

            raise UnknownNameError("training loss", tcfg.loss, LOSSES)
        torch.manual_seed(tcfg.seed)
        rng = np.random.default_rng(tcfg.seed)
        aug, aug_gen = None, None
        if tcfg.augment != "none":
            from neuro_deploy.data.augment import get_augment

            aug, aug_gen = get_augment(tcfg.augment), torch.Generator().manual_seed(tcfg.seed + 7)
        model = build_model(cfg, tcfg.quant)
        if init is not None:  # e.g. ANN-pretrained weights (models.pretrain)
            init(model)
        qat_from = tcfg.epochs - tcfg.qat_epoch_count()
        if qat_from > 0:
            model.set_quantization("float")
        x_cal = x_train[np.sort(np.random.default_rng(tcfg.seed).permutation(len(x_train))[: tcfg.calibration_samples])]
        opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
        if init_optimizer is not None:
            init_optimizer(model, opt)
        loss_fn = slayer.loss.SpikeRate(true_rate=tcfg.true_rate, false_rate=tcfg.false_rate, reduction="sum")
        history: list[dict[str, float]] = []
        t0 = time.perf_counter()
        epochs = range(tcfg.epochs)
        bar = None
        if tcfg.progress:
            from neuro_deploy._progress import progress_bar

            bar = progress_bar(
                total=tcfg.epochs * int(np.ceil(len(x_train) / tcfg.batch_size)), desc="training", unit="batch"
            )
        seen_total = 0
        for epoch in epochs:
            if epoch >= qat_from:
                exps = start_qat(model, x_cal)
            if selector is not None:
                sel_idx, sel_w = selector.select(epoch)
                perm = rng.permutation(len(sel_idx))
                order, weights = sel_idx[perm], sel_w[perm]
            else:
                order = rng.permutation(len(x_train))
                weights = None
            total, correct, seen = 0.0, 0, 0
            for i in range(0, len(order), tcfg.batch_size):
                idx = order[i : i + tcfg.batch_size]
                xb = torch.from_numpy(x_train[idx]).float()
                if aug is not None:
                    xb = aug.apply(xb, aug.sample(aug_gen, tuple(xb.shape)))
                yb = torch.from_numpy(y_train[idx]).long()
                out = model(xb)
                if weights is None and tcfg.loss == "spike_rate":
                    loss = loss_fn(out, yb)
                elif weights is None:
                    loss = LOSSES[tcfg.loss](out, yb, tcfg).sum()
                else:
                    per = LOSSES[tcfg.loss](out, yb, tcfg)
                    loss = (per * torch.from_numpy(weights[i : i + tcfg.batch_size]).float()).sum()
                    hidden = getattr(model, "last_hidden", None)
                    hps = (
                        None
                        if hidden is None
                        else hidden.detach().reshape(hidden.shape[0], -1, hidden.shape[-1]).sum(1).numpy()
                    )
                    selector.update(
                        idx, out.detach().sum(-1).reshape(len(idx), -1).numpy(), y_train[idx], hps, per.detach().numpy()
                    )
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
                correct += int((out.sum(-1).argmax(-1) == yb).sum())
                seen += len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{total / seen:.3f}", acc=f"{correct / seen:.3f}")
            seen_total += seen
            rec = {
                "epoch": epoch + 1,
                "loss": total / max(seen, 1),
                "train_accuracy": correct / max(seen, 1),
                "examples": seen,
                "wall_s": time.perf_counter() - t0,
                "quantization": model.quantization[0],
            }
            if epoch >= qat_from:
                rec["weight_exponents"] = list(exps)
            if x_val is not None and y_val is not None and len(x_val):
                rec["val_accuracy"], _ = evaluate(model, x_val, y_val)
            history.append(rec)
            if on_epoch is not None:
                on_epoch(epoch, model)
        if bar is not None:
            bar.close()
        if qat_from >= tcfg.epochs:
            calibrate(model, x_cal)  # for the export's choice of scale
        model.eval()
        return TrainResult(model, cfg, history, time.perf_counter() - t0)


class Snapshots:
    """``on_epoch`` hook for :func:`train_model` that keeps a copy of the weights after every
    epoch; :meth:`models` rebuilds them as frozen-ready models (e.g. PACE's teachers)."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    def __call__(self, epoch: int, model: Any) -> None:
        self.states.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    def models(self, cfg: ModelConfig) -> list[Any]:
        out = []
        for state in self.states:
            out.append(build_model(cfg))
            out[-1].load_state_dict(state)  # quantization mode and exponents included
        return out


def save_checkpoint(
    result_or_model: Any, cfg: ModelConfig, path: str | Path, meta: dict[str, Any] | None = None
) -> None:
    """``torch.save`` of config + weights + metadata, written atomically."""
    import torch

    from neuro_deploy._io import atomic_path

    model = getattr(result_or_model, "model", result_or_model)
    mode, exps = model.quantization
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "framework": "slayer",
        "config": asdict(cfg),
        "quantization": {"mode": mode, "exponents": exps, "spec": model.quant_spec.to_dict()},
        "state_dict": model.state_dict(),
        "meta": meta or {},
    }
    with atomic_path(path, ".pt") as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path):
    """(model, config, meta) from :func:`save_checkpoint`'s file; typed errors otherwise."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a neuro-deploy checkpoint")
    cfg = ModelConfig.from_dict(payload["config"])
    quant = payload.get("quantization") or {}
    model = build_model(cfg, QuantSpec.from_dict(quant.get("spec")))
    state = dict(payload["state_dict"])
    # version 1 (before QAT): no quantization buffers; its forward pass was SLAYER's stock one
    state.setdefault("quant_mode", model.quant_mode.clone())
    state.setdefault("quant_exponents", model.quant_exponents.clone())
    state.setdefault("state_peaks", model.state_peaks.clone())
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise CheckpointError(f"{path}: weights do not match the stored architecture ({exc})") from None
    model.eval()
    return model, cfg, payload.get("meta", {})
