"""The ``float`` backend: a SLAYER checkpoint run in torch, on the same inputs and the same
number of steps as a deployed network, so float and deployed results line up sample by
sample (replay, evaluate, the export check, the demo).

A :class:`FloatNet` is a :class:`~neuro_deploy.netx.spec.NetSpec` whose layers are the
checkpoint's netx export (same names, shapes and input layout) with the weights replaced
by the ones the float forward pass uses, so activity counts (spikes, synaptic operations
over nonzero weights) come from :func:`neuro_deploy.energy.counts.count_activity` as for
any backend. The model runs for ``spec.steps`` steps, input replayed cyclically like
Lava's ring buffer; a nonzero input entry is one spike, as for Lava's binary synapses.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy.errors import BadInputError
from neuro_deploy.netx.spec import NetSpec
from neuro_deploy.sim.base import mask_after_lengths, RunResult, RunSpec, register_backend, validate_run

CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass
class FloatNet(NetSpec):
    """A checkpoint's float model with the layer view of its netx export."""

    model: Any = None
    meta: dict = field(default_factory=dict)  #: the checkpoint's metadata (its split, history ...)

    def run_trains(self, x: np.ndarray) -> list[np.ndarray]:
        """(B, N_in, T) C,H,W-flattened spikes -> per-layer (T, B, N) bool spike trains."""
        import torch

        cfg = self.model.config
        b, _, t = x.shape
        xt = torch.from_numpy((x != 0).astype(np.float32))
        if cfg.conv:
            xt = xt.reshape((b,) + tuple(cfg.input_shape) + (t,))
        self.model.eval()
        with torch.no_grad():
            outs = self.model.forward_layers(xt)
        return [np.ascontiguousarray(np.transpose(o.reshape(b, -1, t).numpy() != 0, (2, 0, 1))) for o in outs]


def float_net(model: Any, path: str | Path = "<model>") -> FloatNet:
    """Wrap a SLAYER model (e.g. from :func:`~neuro_deploy.models.load_checkpoint`)."""
    from neuro_deploy.models.slayer_model import deployable
    from neuro_deploy.netx.spec import load_netx

    mode, exps = model.quantization
    with tempfile.TemporaryDirectory() as d:
        deployable(model, exps).export_hdf5(Path(d) / "layout.net")  # layer view only
        layout = load_netx(Path(d) / "layout.net")
    for layer, w in zip(layout.layers, model.effective_weights()):
        layer.weight = np.asarray(w, dtype=np.float64).reshape(layer.weight.shape)
    return FloatNet(
        path=str(path),
        layers=layout.layers,
        input_shape_chw=tuple(int(v) for v in model.config.input_shape),
        model=model,
    )


def network_meta(net: NetSpec) -> dict[str, Any]:
    """The training metadata of a network: a netx file's ``neuro_deploy`` group
    (:func:`~neuro_deploy.netx.meta.read_meta`), or a checkpoint's own config and split for a
    :class:`FloatNet` - so both get one binning (:func:`~neuro_deploy.netx.meta.binning_for`)
    and one split (:func:`~neuro_deploy.data.splits.recorded_split`)."""
    if isinstance(net, FloatNet):
        cfg = net.model.config
        from neuro_deploy.netx.meta import split_meta

        return {
            "dt_us": cfg.dt_us,
            "num_steps": cfg.num_steps,
            "time_origin": getattr(cfg, "time_origin", "zero"),
            "input_shape_chw": list(net.input_shape_chw),
            **split_meta(net.meta),
        }
    from neuro_deploy.netx.meta import read_meta

    return read_meta(net.path)


def is_checkpoint(path: str | Path) -> bool:
    return Path(path).suffix.lower() in CHECKPOINT_SUFFIXES


def load_network(path: str | Path) -> NetSpec:
    """A netx file as a :class:`NetSpec`, or a checkpoint (``.pt``) as a :class:`FloatNet`."""
    if is_checkpoint(path):
        from neuro_deploy.models import load_checkpoint

        model, _, meta = load_checkpoint(path)
        net = float_net(model, path)
        net.meta = dict(meta)
        return net
    from neuro_deploy.netx.spec import load_netx

    return load_netx(path)


@register_backend("float")
class FloatBackend:
    """SLAYER's float forward pass of a checkpoint (:class:`FloatNet` only)."""

    name = "float"

    def run(self, net: NetSpec, spec: RunSpec) -> RunResult:
        from neuro_deploy.sim.fast import lava_to_internal, result_from_trains

        if not isinstance(net, FloatNet):
            raise BadInputError(
                f"backend 'float' runs a checkpoint (.pt); {net.path} is a netx network (use --backend fast or lava)"
            )
        validate_run(net, spec)
        if spec.input_bias is not None or spec.reset_interval is not None:
            raise BadInputError("backend 'float' takes spike input only (no input bias or reset interval)")
        t0 = time.perf_counter()
        first = net.layers[0]
        if spec.inputs is None:
            x = np.zeros((1, first.num_inputs, spec.steps), dtype=np.uint8)
        else:
            x = lava_to_internal(np.asarray(spec.inputs), len(first.lava_in_shape))
            if x.shape[-1] != spec.steps:
                x = x[..., np.arange(spec.steps) % x.shape[-1]]
        trains = mask_after_lengths(net.run_trains(x), spec.lengths)  # causal: = own-length runs
        return result_from_trains(net, spec, trains, self.name, t0)
