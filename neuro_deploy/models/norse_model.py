"""norse front end: train a norse LIF network on spike tensors and export it to NIR.

The model is ``SequentialState(Linear, LIFBoxCell, ..., Linear, LIFBoxCell)`` (LIFBox: a
leaky integrate-and-fire neuron driven directly by its input current, NIR's ``LIF``),
trained with norse's surrogate gradients and cross-entropy on output spike counts. It is
exported with norse's own ``norse.torch.to_nir``; :func:`neuro_deploy.nir.io.write_nir`
handles the 0-d parameters that ``nir.write`` rejects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class NorseConfig:
    input_size: int = 2 * 34 * 34
    hidden: tuple[int, ...] = (128,)
    num_classes: int = 10
    dt: float = 1e-3  #: norse's step (seconds) - also the NIR/Loihi step
    tau_mem: float = 1e-2
    v_th: float = 1.0
    epochs: int = 5
    batch_size: int = 32
    lr: float = 2e-3
    init_gain: float = 10.0  #: multiplies torch's default Linear initialisation
    seed: int = 0
    progress: bool = True


@dataclass
class NorseResult:
    model: Any
    config: NorseConfig
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0


def build_norse(cfg: NorseConfig):
    import torch
    from norse.torch import LIFBoxCell, LIFBoxParameters, SequentialState

    p = LIFBoxParameters(tau_mem_inv=torch.tensor(1.0 / cfg.tau_mem), v_th=torch.tensor(cfg.v_th))
    layers: list[Any] = []
    width = cfg.input_size
    for h in tuple(cfg.hidden) + (cfg.num_classes,):
        lin = torch.nn.Linear(width, h, bias=False)
        with torch.no_grad():  # sparse spike inputs: start where neurons can fire
            lin.weight.mul_(cfg.init_gain)
        layers += [lin, LIFBoxCell(p, dt=cfg.dt)]
        width = h
    return SequentialState(*layers)


def run_norse(model, x) -> "Any":
    """x: (B, N, T) tensor -> output spikes (T, B, classes)."""
    import torch

    state = None
    outs = []
    for t in range(x.shape[-1]):
        out, state = model(x[..., t], state)
        outs.append(out)
    return torch.stack(outs)


def train_norse(cfg: NorseConfig, x_train: np.ndarray, y_train: np.ndarray) -> NorseResult:
    """x: (N, C, H, W, T) or (N, F, T) uint8 spike tensors."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build_norse(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xs = x_train.reshape(len(x_train), -1, x_train.shape[-1])
    history = []
    t0 = time.perf_counter()
    bar = None
    if cfg.progress:
        from neuro_deploy._progress import progress_bar

        bar = progress_bar(
            total=cfg.epochs * int(np.ceil(len(xs) / cfg.batch_size)), desc="training (norse)", unit="batch"
        )
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(xs))
        correct = seen = 0
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb = torch.from_numpy(xs[idx]).float()
            yb = torch.from_numpy(y_train[idx]).long()
            counts = run_norse(model, xb).sum(0)
            loss = torch.nn.functional.cross_entropy(counts, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((counts.argmax(-1) == yb).sum())
            seen += len(idx)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, acc=f"{correct / seen:.3f}")
        history.append({"epoch": epoch + 1, "loss": total / seen, "train_accuracy": correct / seen})
    if bar is not None:
        bar.close()
    return NorseResult(model, cfg, history, time.perf_counter() - t0)


def evaluate_norse(
    model, x: np.ndarray, y: np.ndarray | None, batch_size: int = 128
) -> tuple[float | None, np.ndarray]:
    """Float accuracy and output spike trains (T, N, classes)."""
    import torch

    xs = x.reshape(len(x), -1, x.shape[-1])
    outs = []
    with torch.no_grad():
        for i in range(0, len(xs), batch_size):
            outs.append(run_norse(model, torch.from_numpy(xs[i : i + batch_size]).float()).numpy())
    out = np.concatenate(outs, axis=1)
    acc = float(np.mean(out.sum(0).argmax(-1) == y)) if y is not None else None
    return acc, out


def norse_to_nir(model, cfg: NorseConfig):
    """norse's own exporter (``norse.torch.to_nir``), with one correction.

    norse 1.1.0 writes the time constant of ``LIFBoxCell`` / ``LIBoxCell`` as
    ``tau = dt / tau_mem_inv`` (1e-5 s for the default 100 1/s at dt = 1 ms), while norse
    integrates ``v += dt * tau_mem_inv * (...)``, i.e. ``tau = 1 / tau_mem_inv`` (10 ms). Read
    literally, the exported graph has no membrane memory at all. The LIF/LI nodes are
    rewritten with ``tau = 1 / tau_mem_inv`` taken from the cells, in order.
    """
    import nir
    import torch
    from norse.torch import LIFBoxCell, to_nir

    graph = to_nir(model, torch.zeros(1, cfg.input_size), dt=cfg.dt)
    cells = [m for m in model.modules() if isinstance(m, LIFBoxCell)]
    lif_names = sorted(
        (k for k, v in graph.nodes.items() if isinstance(v, (nir.LIF, nir.LI))),
        key=lambda k: int(k) if k.isdigit() else k,
    )
    for name, cell in zip(lif_names, cells):
        node = graph.nodes[name]
        node.tau = (1.0 / cell.p.tau_mem_inv.detach()).reshape(np.shape(node.tau))
    return graph
