"""Reading and writing NIR files robustly, and SLAYER checkpoints -> NIR."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.errors import BadInputError


def _to_numpy(v: Any) -> Any:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return np.atleast_1d(v)  # nir.write cannot store 0-d (scalar) datasets
    if isinstance(v, dict):
        return {k: _to_numpy(x) for k, x in v.items()}
    return v


def sanitize(graph: Any) -> Any:
    """Copy of a NIR graph with torch tensors as numpy and 0-d parameters as 1-element
    arrays: norse exports scalar parameters, which ``nir.write`` rejects
    ("Scalar datasets don't support chunk/filter options")."""
    import nir

    nodes = {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            nodes[name] = sanitize(node)
            continue
        kwargs = {f.name: _to_numpy(getattr(node, f.name)) for f in fields(node) if f.init and f.name != "metadata"}
        new = type(node)(**kwargs)
        new.metadata = dict(getattr(node, "metadata", {}) or {})
        nodes[name] = new
    return nir.NIRGraph(
        nodes=nodes, edges=list(graph.edges), metadata=dict(getattr(graph, "metadata", {}) or {}), type_check=False
    )


def write_nir(graph: Any, path: str | Path) -> None:
    """``nir.write`` after :func:`sanitize`, atomically."""
    import nir

    with atomic_path(path, ".nir") as tmp:
        nir.write(str(tmp), sanitize(graph))


def slayer_to_nir(checkpoint: str | Path, dt: float | None = None):
    """A SLAYER CUBA checkpoint as a NIR graph (dense and conv blocks, CubaLIF neurons).

    ``dt`` (seconds per step) is the checkpoint's own ``dt_us``: the time constants are
    only right for the step the model was trained at, so another ``dt`` is an error. The
    graph's metadata carries ``dt`` and the model's binning (``dt_us``, ``num_steps``,
    ``time_origin``), which the importer writes into the netx it builds.

    SLAYER's integer dynamics ``i = (1 - cd) i + W s``, ``v = (1 - vd) v + i``, spike
    ``v >= theta``, reset 0 are NIR's CubaLIF under the importer's Euler mapping with
    ``tau_syn = dt / cd``, ``tau_mem = dt / vd``, ``w_in = tau_syn / dt``, ``r = tau_mem / dt``
    (so that the input-to-voltage gain is 1) and the float weights ``W = w_int / 64``; the
    importer then recovers the same integers (scale 64). With the export's per-layer scale
    ``2**e`` both ``W`` and ``v_threshold`` carry the factor ``2**(e - 6)``: the same network.
    A zero decay becomes a time
    constant of 1e12 dt.
    """
    import nir

    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.netx.meta import binning_meta, split_meta
    from neuro_deploy.netx.spec import load_netx

    _, cfg, ckpt_meta = load_checkpoint(checkpoint)
    trained_dt = cfg.dt_us * 1e-6
    if dt is not None and abs(dt - trained_dt) > 1e-9:
        raise BadInputError(
            f"{checkpoint}: trained at {cfg.dt_us} us per step; --dt {dt:g} s would write "
            f"time constants for another step (omit --dt, or pass {trained_dt:g})"
        )
    dt = trained_dt
    import tempfile

    from neuro_deploy.loihi_format import LOIHI2
    from neuro_deploy.netx.export import export_loihi2_sim

    scale, unity = float(LOIHI2.slayer_weight_scale), float(LOIHI2.decay_unity)  # 64, 4096
    with tempfile.TemporaryDirectory() as d:
        export_loihi2_sim(checkpoint, Path(d) / "m.net", verify_inputs=np.zeros((0,)))
        net = load_netx(Path(d) / "m.net")
    nodes: dict[str, Any] = {"input": nir.Input({"input": np.asarray(cfg.input_shape)})}
    edges, prev = [], "input"
    big = 1e12 * dt
    for layer in net.layers:
        n = layer.num_neurons
        first_flat = prev == "input" and layer.kind == "dense" and len(cfg.input_shape) == 3
        if layer.kind == "dense" and (layer.flatten_input or first_flat):
            in_shape = cfg.input_shape if first_flat else layer.in_shape_chw
            nodes[f"flatten{layer.index}"] = nir.Flatten({"input": np.asarray(in_shape)}, start_dim=0)
            edges.append((prev, f"flatten{layer.index}"))
            prev = f"flatten{layer.index}"
        w = layer.weight.astype(np.float64) / scale
        bias = np.zeros(layer.shape_chw[0] if layer.kind == "conv" else n)
        if layer.kind == "dense":
            syn = nir.Affine(weight=w, bias=bias)
        else:
            syn = nir.Conv2d(
                input_shape=tuple(layer.in_shape_chw[1:]),
                weight=w,
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=layer.groups,
                bias=bias,
            )
        nr = layer.neuron
        cd, vd = (nr.du + 1) / unity, nr.dv / unity
        tau_syn = dt / cd if cd > 0 else big
        tau_mem = dt / vd if vd > 0 else big

        def full(v: float, shape: tuple[int, ...] = layer.shape_chw) -> np.ndarray:
            return np.full(shape, float(v))

        neuron = nir.CubaLIF(
            tau_syn=full(tau_syn),
            tau_mem=full(tau_mem),
            r=full(tau_mem / dt),
            v_leak=full(0.0),
            v_threshold=full(nr.vth / scale),
            v_reset=full(0.0),
            w_in=full(tau_syn / dt),
        )
        syn_name, neu_name = f"syn{layer.index}", f"lif{layer.index}"
        nodes[syn_name], nodes[neu_name] = syn, neuron
        edges += [(prev, syn_name), (syn_name, neu_name)]
        prev = neu_name
    nodes["output"] = nir.Output({"output": np.asarray(net.layers[-1].shape_chw)})
    edges.append((prev, "output"))
    meta = {
        "source": "neuro-deploy slayer",
        "dt": dt,
        **binning_meta(cfg.dt_us, cfg.num_steps, cfg.time_origin),
        **split_meta(ckpt_meta),
    }
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
    except ValueError:  # NIR's shape inference does not cover every node combination
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
