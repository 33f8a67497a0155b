"""Write netx HDF5 from plain arrays (the layout lava-dl's SLAYER writes and netx reads).

Used by the NIR importer and by tests that build networks directly. Each layer is a
dict with ``type`` (``input``, ``dense``, ``conv``, ``flatten``) and the datasets of
that type; shapes are derived where they can be. Shapes are C,H,W; dense weights
(out, in); conv weights (out, in/groups, kH, kW); conv params as (y, x).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy._io import atomic_path


def cuba_neuron(i_decay: int, v_decay: int, vth_mant: int) -> dict[str, Any]:
    """A CUBA neuron group as SLAYER writes it (integers: 12-bit decays, vThMant)."""
    return {
        "type": "CUBA",
        "iDecay": int(i_decay),
        "vDecay": int(v_decay),
        "vThMant": int(vth_mant),
        "refDelay": 1,
        "gradedSpike": False,
    }


def _write_group(g, layer: dict[str, Any], shape: tuple[int, ...] | None) -> tuple[int, ...]:
    kind = layer["type"]
    g.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
    if kind == "input":
        shape = tuple(layer["shape"])
    elif kind == "flatten":
        shape = (int(np.prod(shape)), 1, 1)
    elif kind == "dense":
        w = np.asarray(layer["weight"], dtype=np.float32)
        shape = (w.shape[0],)
        g.create_dataset("inFeatures", data=w.shape[1])
        g.create_dataset("outFeatures", data=w.shape[0])
        g.create_dataset("weight", data=w)
    elif kind == "conv":
        w = np.asarray(layer["weight"], dtype=np.float32)
        c, h, wd = shape
        stride = tuple(layer.get("stride", (1, 1)))
        pad = tuple(layer.get("padding", (0, 0)))
        dil = tuple(layer.get("dilation", (1, 1)))
        kh, kw = w.shape[2:4]
        oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
        shape = (w.shape[0], oh, ow)
        g.create_dataset("inChannels", data=c)
        g.create_dataset("outChannels", data=w.shape[0])
        g.create_dataset("kernelSize", data=np.array([kh, kw]))
        g.create_dataset("stride", data=np.array(stride))
        g.create_dataset("padding", data=np.array(pad))
        g.create_dataset("dilation", data=np.array(dil))
        g.create_dataset("groups", data=int(layer.get("groups", 1)))
        g.create_dataset("weight", data=w)
    else:
        raise ValueError(f"unknown layer type {kind!r}")
    g.create_dataset("shape", data=np.array(shape))
    for key in ("bias", "delay"):
        if layer.get(key) is not None:
            g.create_dataset(key, data=np.asarray(layer[key], dtype=np.float32))
    for key in ("weight",) if kind == "input" else ():
        if layer.get(key) is not None:
            g.create_dataset(key, data=float(layer[key]))
    if layer.get("neuron") is not None:
        for k, v in layer["neuron"].items():
            g.create_dataset(f"neuron/{k}", data=np.bytes_(v) if isinstance(v, str) else v)
    return shape


def write_netx(path: str | Path, layers: list[dict[str, Any]], attrs: dict[str, Any] | None = None) -> None:
    """Write ``layers`` as ``layer/0 ... layer/N-1`` (atomically)."""
    import h5py

    with atomic_path(path, ".net") as tmp:
        with h5py.File(tmp, "w") as h5:
            grp = h5.create_group("layer")
            shape: tuple[int, ...] | None = None
            for i, layer in enumerate(layers):
                shape = _write_group(grp.create_group(str(i)), layer, shape)
            if attrs:
                meta = h5.create_group("neuro_deploy")
                for k, v in attrs.items():
                    meta.attrs[k] = v
