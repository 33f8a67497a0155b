"""Fidelity of a NIR -> netx conversion: the NIR graph in float vs the netx file in fixed point.

:func:`simulate_nir` runs a NIR chain with NIR's equations (forward Euler at ``dt``, the
same discretisation the importer maps to Loihi) in float64; :func:`fidelity` runs the
converted netx network on the fast backend on the same inputs and compares spike counts
per layer and the predicted class (most output spikes), allowing for Loihi's one step of
latency per layer. A source model in another framework (e.g. norse) can pass its own
float output instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from neuro_deploy.nir.importer import UNITY, as_pair, chain, load_graph, neuron_params


def simulate_nir(graph: Any, x: np.ndarray, dt: float) -> list[np.ndarray]:
    """Spikes (T, B, N) of every neuron node for inputs ``x`` shaped (B, *input, T)."""
    import nir
    import torch
    import torch.nn.functional as F

    graph = load_graph(graph)
    steps = x.shape[-1]
    cur = np.moveaxis(np.asarray(x, dtype=np.float64), -1, 0)  # (T, B, ...)
    outs: list[np.ndarray] = []
    for name, node in chain(graph):
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        if isinstance(node, nir.Flatten):
            cur = cur.reshape(cur.shape[0], cur.shape[1], -1)
        elif isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight, np.float64)
            b = np.asarray(getattr(node, "bias", np.zeros(w.shape[0])), np.float64)
            cur = cur.reshape(cur.shape[0], cur.shape[1], -1) @ w.T + b
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            k = as_pair(node.kernel_size)
            t, b = cur.shape[:2]
            y = F.avg_pool2d(torch.from_numpy(cur.reshape((t * b,) + cur.shape[2:])), k, stride=as_pair(node.stride))
            y = y.numpy() * (1 if isinstance(node, nir.AvgPool2d) else k[0] * k[1])
            cur = y.reshape((t, b) + y.shape[1:])
        elif isinstance(node, nir.Conv2d):
            t, b = cur.shape[:2]
            pad = node.padding if isinstance(node.padding, str) else as_pair(node.padding)
            y = F.conv2d(
                torch.from_numpy(cur.reshape((t * b,) + cur.shape[2:])),
                torch.from_numpy(np.asarray(node.weight, np.float64)),
                torch.from_numpy(np.asarray(node.bias, np.float64)) if node.bias is not None else None,
                stride=as_pair(node.stride),
                padding=pad,
                dilation=as_pair(node.dilation),
                groups=int(node.groups),
            )
            cur = y.numpy().reshape((t, b) + tuple(y.shape[1:]))
        elif isinstance(node, nir.Delay):
            d = np.round(np.atleast_1d(np.asarray(node.delay)) / dt).astype(int)
            flat = cur.reshape(cur.shape[0], cur.shape[1], -1)
            d = np.broadcast_to(d, (flat.shape[2],))
            shifted = np.zeros_like(flat)
            for j in np.unique(d):
                cols = d == j
                if j < steps:
                    shifted[j:, :, cols] = flat[: steps - j, :, cols]
            cur = shifted.reshape(cur.shape)
        elif isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF, nir.LI)):
            shape = cur.shape[2:]
            n = int(np.prod(shape))
            flat = cur.reshape(cur.shape[0], cur.shape[1], n)
            p = neuron_params(name, node, n, dt)
            du, dv = p["i_decay"] / UNITY, p["v_decay"] / UNITY
            i = np.zeros(flat.shape[1:])
            v = np.zeros(flat.shape[1:])
            spikes = np.zeros(flat.shape)
            leak = p["leak_gain"] * p["v_leak"]
            for t in range(steps):
                i = (1 - du) * i + p["gain"] * flat[t]
                v = (1 - dv) * v + i + leak
                if p["spiking"]:
                    s = v > p["vth"]
                    v = np.where(s, 0.0, v)
                    spikes[t] = s
                else:
                    spikes[t] = v
            outs.append(spikes)
            cur = spikes.reshape((steps, flat.shape[1]) + shape)
    return outs


@dataclass
class Fidelity:
    samples: int
    steps: int
    layer_count_agreement: list[float]  #: 1 - sum|float - fixed| / sum(float + fixed), per layer
    class_agreement: float
    float_predictions: list[int] = field(default_factory=list)
    fixed_predictions: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    output_count_exact: float = 0.0  #: share of samples with identical output spike counts
    output_count_mae: float = 0.0  #: mean |float - fixed| output count per output neuron

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fidelity(
    graph: Any,
    net_path: str,
    x: np.ndarray,
    dt: float,
    warn_below: float = 0.9,
    source_output: np.ndarray | None = None,
) -> Fidelity:
    """Compare the float NIR (or ``source_output``, (T, B, classes)) with netx on ``fast``."""
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim import RunSpec, get_backend

    net = load_netx(net_path)
    steps = x.shape[-1]
    ref = simulate_nir(graph, x, dt)
    if source_output is not None:
        ref[-1] = source_output
    from neuro_deploy.netx.spec import encode_for_net

    first = net.layers[0]
    if x.ndim == 5:  # (B, C, H, W, T) frames
        xin = encode_for_net(net, x)
    else:
        xin = (
            x.reshape((x.shape[0],) + tuple(first.lava_in_shape) + (steps,))
            if len(first.lava_in_shape) > 1
            else x.reshape(x.shape[0], -1, steps)
        )
    pad = len(net)
    xin = np.concatenate([xin, np.zeros(xin.shape[:-1] + (pad,), xin.dtype)], axis=-1).astype(np.int32)
    res = get_backend("fast").run(net, RunSpec(steps=steps + pad, inputs=xin))
    trains = [t for l, t in zip(net.layers, res.extra["trains"]) if l.kind != "input"]
    agree = []
    for r, f in zip(ref, trains):
        rc = np.abs(r).sum(0).reshape(r.shape[1], -1)
        fc = f.astype(np.float64).sum(0).reshape(f.shape[1], -1)
        tot = (rc + fc).sum()
        agree.append(float(1 - np.abs(rc - fc).sum() / tot) if tot else 1.0)
    f_counts = np.abs(ref[-1]).sum(0).reshape(x.shape[0], -1)
    x_counts = trains[-1].astype(np.float64).sum(0).reshape(x.shape[0], -1)
    fp, xp = f_counts.argmax(-1), x_counts.argmax(-1)
    ca = float(np.mean(fp == xp))
    warns = [f"layer{i}: spike counts agree only {a:.2f}" for i, a in enumerate(agree) if a < warn_below]
    if ca < warn_below:
        warns.append(
            f"classification agreement {ca:.2f} below {warn_below}: quantization or a "
            "semantic mismatch changes behaviour"
        )
    return Fidelity(
        int(x.shape[0]),
        int(steps),
        agree,
        ca,
        fp.tolist(),
        xp.tolist(),
        warns,
        float(np.mean((f_counts == x_counts).all(-1))),
        float(np.mean(np.abs(f_counts - x_counts))),
    )
