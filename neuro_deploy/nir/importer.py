"""NIR graph -> netx HDF5 for Loihi 2, through a registry of node converters.

Semantics (NIR's continuous-time equations, forward Euler with time step ``dt``):

* ``LIF``:  ``v += dt/tau (v_leak - v + r I)``, spike when ``v > v_threshold``, reset to ``v_reset``;
* ``CubaLIF``: ``I += dt/tau_syn (-I + w_in S)``, then ``v += dt/tau_mem (v_leak - v + r I)``;
* ``IF``: ``v += r I``; ``LI``: ``LIF`` without spikes (a non-spiking readout).

Loihi's CUBA neuron (what netx builds) is ``u = (1 - du) u + a``, ``v = (1 - dv) v + u + b``,
spike when ``v > vth``, reset ``v = 0``, in integers. The mapping per layer:

* ``dv = round(4096 dt/tau_mem)`` (LIF, CubaLIF, LI), 0 (IF); ``du = round(4096 dt/tau_syn)``
  (CubaLIF), 4096 (LIF, IF, LI: the current is the input of that step);
* with the gain ``g`` from synaptic input to the voltage increment
  (``g = r dt/tau`` for LIF/LI, ``r (dt/tau_syn) w_in (dt/tau_mem)`` for CubaLIF, ``r`` for IF)
  and a per-layer scale ``S``: integer weights ``round(S g W)``, threshold ``vThMant =
  round(S v_threshold)``, bias ``round(S (g/r) (r b + v_leak ...))`` (see :func:`_layer_ints`);
  ``S`` is the largest scale that keeps weights in [-256, 254] and the threshold in 17 bits
  (``S = 64`` exactly when the weights already are SLAYER integers / 64, so SLAYER -> NIR ->
  netx reproduces the direct export);
* ``v_reset`` must be 0 (Loihi resets to 0); ``Affine`` biases become neuron biases;
* ``SumPool2d`` / ``AvgPool2d`` are folded exactly into the next ``Conv2d`` (kernel dilated by
  the pool) or ``Affine`` after ``Flatten`` (weights repeated over each pool window), since
  netx has no pooling layer;
* ``Delay`` before a dense synapse becomes per-input netx delays ``round(delay / dt)`` (<= 62);
* shapes: NIR is (C, H, W), as netx's HDF5; Lava's ports are the reverse (W, H, C).

Loihi adds one step of latency per layer (the synapse buffer); the fidelity check
(:mod:`neuro_deploy.nir.fidelity`) aligns for it. Unsupported nodes and graphs that are not
a single chain fail with the node named and the supported list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy.errors import BadInputError, UnsupportedLayerError
from neuro_deploy.loihi_format import LOIHI2

W_MIN, W_MAX = LOIHI2.weight_mant_min, LOIHI2.weight_mant_max  # -256, 254
VTH_MAX = LOIHI2.threshold_mant_max  # 2^17 - 1
BIAS_MAX = LOIHI2.bias_mant_max  # 4095
UNITY = LOIHI2.decay_unity  # 4096: decays are 12-bit
SLAYER_SCALE = float(LOIHI2.slayer_weight_scale)  # 64


@dataclass
class NirImportConfig:
    dt: float = 1e-3  #: seconds per Loihi time step
    scale: float | None = None  #: force the per-layer scale S (default: automatic)


@dataclass
class LayerMapping:
    name: str
    nodes: list[str]
    kind: str
    neuron: str
    scale: float
    i_decay: int
    v_decay: int
    vth_mant: int
    weight_int_range: tuple[int, int]
    weight_rel_error: float
    notes: list[str] = field(default_factory=list)
    weight_rmse: float = 0.0  #: RMS(w_float x scale - w_int), integer units
    zero_fraction: float = 0.0  #: share of weights stored as 0


@dataclass
class ConversionReport:
    path: str
    dt: float
    layers: list[LayerMapping]
    input_shape: tuple[int, ...]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _arr(x: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(x, dtype=np.float64))


def _scalar_or_vec(x: Any, n: int, what: str, node: str) -> np.ndarray:
    a = _arr(x).reshape(-1)
    if a.size == 1:
        return np.full(n, a[0])
    if a.size == n:
        return a
    raise BadInputError(f"NIR node {node!r}: {what} has {a.size} values for {n} neurons")


def load_graph(graph_or_path: Any):
    import nir

    if isinstance(graph_or_path, (str, Path)):
        p = Path(graph_or_path)
        if not p.is_file():
            raise BadInputError(f"{p}: NIR file not found")
        try:
            return nir.read(str(p))
        except ValueError as exc:
            if "Type inference" not in str(exc):
                raise BadInputError(f"{p}: not a readable NIR graph ({exc})") from None
            # exporters disagree on batch dimensions in Input/Output types (norse keeps one);
            # the importer checks shapes itself, so read without NIR's type inference
            return nir.read(str(p), type_check=False)
        except Exception as exc:
            raise BadInputError(f"{p}: not a readable NIR graph ({type(exc).__name__}: {exc})") from None
    return graph_or_path


def chain(graph) -> list[tuple[str, Any]]:
    """The graph's nodes in order from its input; only single chains are supported."""
    import nir

    nodes = graph.nodes
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise UnsupportedLayerError(name, "NIRGraph (subgraph)", SUPPORTED_NODES, "flatten subgraphs first")
        if len(succ.get(name, [])) > 1 or len(pred.get(name, [])) > 1:
            raise UnsupportedLayerError(
                name,
                type(node).__name__,
                SUPPORTED_NODES,
                "not feed-forward: netx supports a single chain of layers (no branches, merges or recurrence)",
            )
    starts = [k for k in nodes if not pred.get(k)]
    if len(starts) != 1:
        raise UnsupportedLayerError(
            "graph",
            "multiple inputs" if starts else "cycle",
            SUPPORTED_NODES,
            f"found {len(starts)} nodes without predecessors",
        )
    order, cur, seen = [], starts[0], set()
    while cur is not None:
        if cur in seen:
            raise UnsupportedLayerError(cur, "cycle", SUPPORTED_NODES, "recurrent graph")
        seen.add(cur)
        order.append((cur, nodes[cur]))
        nxt = succ.get(cur, [])
        cur = nxt[0] if nxt else None
    if len(order) != len(nodes):
        missing = sorted(set(nodes) - seen)
        raise UnsupportedLayerError(
            missing[0], type(nodes[missing[0]]).__name__, SUPPORTED_NODES, "node not reachable from the input"
        )
    return order


@dataclass
class _State:
    cfg: NirImportConfig
    shape: tuple[int, ...] | None = None  #: current activity shape (C,H,W) or (N,)
    input_shape: tuple[int, ...] | None = None
    pending: dict[str, Any] | None = None  #: synapse waiting for its neuron
    pool: tuple[int, int, bool] | None = None  #: (kernel, stride, average) waiting
    flatten: bool = False
    delay: np.ndarray | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    mappings: list[LayerMapping] = field(default_factory=list)
    pending_nodes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def as_pair(v: Any) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).astype(int).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _input(name: str, node: Any, st: _State) -> None:
    t = node.input_type
    shape = tuple(int(s) for s in np.asarray(next(iter(t.values()))).reshape(-1))
    if len(shape) in (2, 4) and shape[0] == 1:  # a batch dimension some exporters keep (norse)
        shape = shape[1:]
    st.shape = st.input_shape = shape


def _output(name: str, node: Any, st: _State) -> None:
    if st.pending is not None:
        raise UnsupportedLayerError(
            name,
            "Output after a synapse",
            SUPPORTED_NODES,
            "every synapse needs a neuron after it (netx layers are synapse+neuron)",
        )


def _flatten(name: str, node: Any, st: _State) -> None:
    st.flatten = True


def _pool(avg: bool) -> Callable[[str, Any, _State], None]:
    def conv(name: str, node: Any, st: _State) -> None:
        k, s, p = as_pair(node.kernel_size), as_pair(node.stride), as_pair(node.padding)
        if k[0] != k[1] or s != k or p != (0, 0):
            raise UnsupportedLayerError(
                name,
                type(node).__name__,
                SUPPORTED_NODES,
                "only square, non-overlapping pooling (stride = kernel, no padding) "
                "can be folded exactly into the next synapse",
            )
        st.pool = (k[0], s[0], avg)
        st.pending_nodes.append(name)
        c, h, w = st.shape
        st.shape = (c, h // k[0], w // k[0])

    return conv


def _delay(name: str, node: Any, st: _State) -> None:
    st.delay = _arr(node.delay)
    st.pending_nodes.append(name)


def _affine(name: str, node: Any, st: _State) -> None:
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2:
        raise BadInputError(f"NIR node {name!r}: weight must be 2-D, got {w.shape}")
    bias = np.asarray(getattr(node, "bias", np.zeros(w.shape[0])), dtype=np.float64)
    if st.pool is not None:
        k, _, avg = st.pool
        if not st.flatten:
            raise UnsupportedLayerError(name, "Affine after pooling without Flatten", SUPPORTED_NODES)
        c, h, ww = st.shape
        w4 = w.reshape(w.shape[0], c, h, ww)
        w4 = np.repeat(np.repeat(w4, k, axis=2), k, axis=3) / (k * k if avg else 1)
        w = w4.reshape(w.shape[0], -1)
        st.shape = (c, h * k, ww * k)
        st.pool = None
    n_in = int(np.prod(st.shape)) if st.shape else w.shape[1]
    if n_in != w.shape[1]:
        raise BadInputError(f"NIR node {name!r}: weight takes {w.shape[1]} inputs, upstream gives {n_in}")
    st.pending = {"type": "dense", "weight": w, "bias": bias, "flatten": st.flatten, "delay": st.delay}
    st.flatten, st.delay = False, None
    st.pending_nodes.append(name)
    st.shape = (w.shape[0],)


def _conv(name: str, node: Any, st: _State) -> None:
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 4:
        raise UnsupportedLayerError(name, f"Conv with a {w.ndim - 2}-D kernel", SUPPORTED_NODES)
    stride, dil = as_pair(node.stride), as_pair(node.dilation)
    pad = node.padding
    if isinstance(pad, str):
        if pad != "same" or stride != (1, 1):
            raise UnsupportedLayerError(name, f"Conv2d padding {pad!r}", SUPPORTED_NODES)
        pad = ((w.shape[2] - 1) * dil[0] // 2, (w.shape[3] - 1) * dil[1] // 2)
    pad = as_pair(pad)
    groups = int(node.groups)
    if st.pool is not None:
        k, _, avg = st.pool
        if dil != (1, 1):
            raise UnsupportedLayerError(name, "dilated Conv2d after pooling", SUPPORTED_NODES)
        w = np.repeat(np.repeat(w, k, axis=2), k, axis=3) / (k * k if avg else 1)
        stride, pad = (stride[0] * k, stride[1] * k), (pad[0] * k, pad[1] * k)
        c, h, ww = st.shape
        st.shape = (c, h * k, ww * k)
        st.pool = None
    c, h, ww = st.shape
    bias = np.asarray(node.bias, dtype=np.float64) if node.bias is not None else np.zeros(w.shape[0])
    oh = (h + 2 * pad[0] - dil[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
    ow = (ww + 2 * pad[1] - dil[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
    st.pending = {
        "type": "conv",
        "weight": w,
        "bias": bias,
        "stride": stride,
        "padding": pad,
        "dilation": dil,
        "groups": groups,
        "in_shape": st.shape,
    }
    st.pending_nodes.append(name)
    st.shape = (w.shape[0], oh, ow)


def neuron_params(name: str, node: Any, n: int, dt: float) -> dict[str, Any]:
    """decays (12-bit), gain from input to voltage, threshold, leak, spiking."""
    import nir

    def dec(tau: np.ndarray) -> np.ndarray:
        return np.clip(np.round(UNITY * dt / tau), 0, UNITY)

    reset = getattr(node, "v_reset", None)
    if reset is not None and np.any(_arr(reset) != 0):
        raise UnsupportedLayerError(
            name, f"{type(node).__name__} with v_reset != 0", SUPPORTED_NODES, "Loihi's CUBA neuron resets v to 0"
        )
    if isinstance(node, nir.CubaLIF):
        ts, tm = _scalar_or_vec(node.tau_syn, n, "tau_syn", name), _scalar_or_vec(node.tau_mem, n, "tau_mem", name)
        r, w_in = _scalar_or_vec(node.r, n, "r", name), _scalar_or_vec(node.w_in, n, "w_in", name)
        return {
            "i_decay": dec(ts),
            "v_decay": dec(tm),
            "gain": r * w_in * (dt / ts) * (dt / tm),
            "bias_gain": r * w_in * (dt / tm),
            "leak_gain": dt / tm,
            "v_leak": _scalar_or_vec(node.v_leak, n, "v_leak", name),
            "vth": _scalar_or_vec(node.v_threshold, n, "v_threshold", name),
            "spiking": True,
        }
    if isinstance(node, (nir.LIF, nir.LI)):
        tau, r = _scalar_or_vec(node.tau, n, "tau", name), _scalar_or_vec(node.r, n, "r", name)
        spiking = isinstance(node, nir.LIF)
        return {
            "i_decay": np.full(n, float(UNITY)),
            "v_decay": dec(tau),
            "gain": r * dt / tau,
            "bias_gain": r * dt / tau,
            "leak_gain": dt / tau,
            "v_leak": _scalar_or_vec(node.v_leak, n, "v_leak", name),
            "vth": _scalar_or_vec(node.v_threshold, n, "v_threshold", name) if spiking else None,
            "spiking": spiking,
        }
    if isinstance(node, nir.IF):
        return {
            "i_decay": np.full(n, float(UNITY)),
            "v_decay": np.zeros(n),
            "gain": _scalar_or_vec(node.r, n, "r", name),
            "bias_gain": _scalar_or_vec(node.r, n, "r", name),
            "leak_gain": np.zeros(n),
            "v_leak": np.zeros(n),
            "vth": _scalar_or_vec(node.v_threshold, n, "v_threshold", name),
            "spiking": True,
        }
    raise UnsupportedLayerError(name, type(node).__name__, SUPPORTED_NODES)


def _uniform(name: str, what: str, values: np.ndarray) -> float:
    if not np.allclose(values, values.reshape(-1)[0]):
        raise UnsupportedLayerError(name, f"per-neuron {what}", SUPPORTED_NODES, f"netx stores one {what} per layer")
    return float(values.reshape(-1)[0])


def _layer_ints(
    name: str, syn: dict[str, Any], prm: dict[str, Any], cfg: NirImportConfig
) -> tuple[np.ndarray, np.ndarray, int, float, list[str]]:
    """Integer weights, bias and threshold mantissa with the layer scale S (module docstring)."""
    notes: list[str] = []
    gain = _uniform(name, "gain (r, tau)", prm["gain"])
    w_eff = syn["weight"] * gain
    # An Affine bias b is a constant input: on Loihi it is added to v every step, with the
    # steady-state gain of the current (r w_in dt/tau_mem for CubaLIF: exact once the
    # current has settled); v_leak enters v with dt/tau.
    bias_eff = syn["bias"] * _uniform(name, "bias gain", prm["bias_gain"])
    lg = _uniform(name, "leak", prm["leak_gain"] * prm["v_leak"]) if np.any(prm["v_leak"]) else 0.0
    vth = _uniform(name, "threshold", prm["vth"]) if prm["spiking"] else None
    wmax = float(np.abs(w_eff).max()) if w_eff.size else 0.0
    if cfg.scale is not None:
        s = float(cfg.scale)
    elif (
        wmax > 0
        and np.allclose(w_eff * SLAYER_SCALE, np.round(w_eff * SLAYER_SCALE), atol=1e-6)
        and wmax * SLAYER_SCALE <= W_MAX + 2
    ):
        s = SLAYER_SCALE  # already SLAYER integers / 64: exact
    else:
        s = W_MAX / wmax if wmax > 0 else SLAYER_SCALE
        if vth is not None and vth > 0:
            s = min(s, VTH_MAX / vth)
    w_int = np.clip(np.round(w_eff * s), W_MIN, W_MAX)
    if np.any(np.round(w_eff * s) != w_int):
        notes.append(f"weights clipped to [{W_MIN}, {W_MAX}]")
    b = np.round((bias_eff + lg) * s)
    if np.any(np.abs(b) > BIAS_MAX):
        notes.append("bias saturated to 13 bits")
        b = np.clip(b, -BIAS_MAX - 1, BIAS_MAX)
    vth_mant = VTH_MAX if vth is None else int(np.clip(np.round(vth * s), 0, VTH_MAX))
    if vth is not None and vth * s > VTH_MAX:
        notes.append("threshold saturated to 17 bits")
    return w_int, b, vth_mant, s, notes


def _spiking_neuron(name: str, node: Any, st: _State) -> None:
    if st.pending is None:
        raise UnsupportedLayerError(
            name,
            f"{type(node).__name__} without a synapse before it",
            SUPPORTED_NODES,
            "netx layers are a synapse followed by neurons",
        )
    syn = st.pending
    n = int(np.prod(st.shape))
    prm = neuron_params(name, node, n if syn["type"] == "dense" else int(np.prod(st.shape)), st.cfg.dt)
    w_int, b, vth_mant, s, notes = _layer_ints(name, syn, prm, st.cfg)
    i_dec = int(_uniform(name, "tau_syn", prm["i_decay"]))
    v_dec = int(_uniform(name, "tau_mem", prm["v_decay"]))
    if v_dec >= UNITY and not isinstance(node, type(None)) and type(node).__name__ in ("LIF", "CubaLIF", "LI"):
        notes.append(
            "time constant <= dt: the membrane keeps no memory between steps (check the exporter's time units)"
        )
    neuron = {
        "type": "CUBA",
        "iDecay": i_dec,
        "vDecay": v_dec,
        "vThMant": vth_mant,
        "refDelay": 1,
        "gradedSpike": False,
    }
    layer: dict[str, Any] = {"type": syn["type"], "weight": w_int, "neuron": neuron}
    if np.any(b):
        layer["bias"] = b
    if syn["type"] == "conv":
        layer.update(stride=syn["stride"], padding=syn["padding"], dilation=syn["dilation"], groups=syn["groups"])
        if not st.layers:
            st.layers.append({"type": "input", "shape": syn["in_shape"]})
    else:
        if syn.get("flatten"):
            if st.layers and st.layers[-1]["type"] in ("conv", "input"):
                st.layers.append({"type": "flatten"})
        if not st.layers and st.input_shape and len(st.input_shape) == 3:
            st.layers.append({"type": "input", "shape": st.input_shape})
            st.layers.append({"type": "flatten"})
        if syn.get("delay") is not None:
            steps = np.round(syn["delay"] / st.cfg.dt).astype(int)
            if steps.size not in (1, w_int.shape[1]):
                raise BadInputError(f"NIR Delay before {name!r}: {steps.size} delays for {w_int.shape[1]} inputs")
            layer["delay"] = np.broadcast_to(steps, (w_int.shape[1],)).astype(float)
            if steps.max() > LOIHI2.max_delay:
                notes.append(f"delays up to {int(steps.max())} steps exceed Loihi's {LOIHI2.max_delay}")
    rel = float(
        np.abs(w_int / s - syn["weight"] * prm["gain"].reshape(-1)[0]).mean()
        / max(1e-12, np.abs(syn["weight"] * prm["gain"].reshape(-1)[0]).mean())
    )
    st.layers.append(layer)
    index = sum(l["type"] != "flatten" and (l["type"] != "input" or "neuron" in l) for l in st.layers) - 1
    st.mappings.append(
        LayerMapping(
            name=f"layer{index}",
            nodes=st.pending_nodes + [name],
            kind=syn["type"],
            neuron=type(node).__name__,
            scale=s,
            i_decay=i_dec,
            v_decay=v_dec,
            vth_mant=vth_mant,
            weight_int_range=(int(w_int.min()), int(w_int.max())),
            weight_rel_error=rel,
            notes=notes,
            weight_rmse=float(np.sqrt(np.mean((syn["weight"] * prm["gain"].reshape(-1)[0] * s - w_int) ** 2)))
            if w_int.size
            else 0.0,
            zero_fraction=float(np.mean(w_int == 0)) if w_int.size else 0.0,
        )
    )
    st.warnings += [f"{name}: {m}" for m in notes]
    st.pending, st.pending_nodes = None, []


def _node_types() -> dict[type, Callable[[str, Any, _State], None]]:
    import nir

    return {
        nir.Input: _input,
        nir.Output: _output,
        nir.Affine: _affine,
        nir.Linear: _affine,
        nir.Conv2d: _conv,
        nir.Flatten: _flatten,
        nir.SumPool2d: _pool(False),
        nir.AvgPool2d: _pool(True),
        nir.LIF: _spiking_neuron,
        nir.CubaLIF: _spiking_neuron,
        nir.IF: _spiking_neuron,
        nir.LI: _spiking_neuron,
        nir.Delay: _delay,
    }


SUPPORTED_NODES = (
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Conv2d",
    "Flatten",
    "SumPool2d",
    "AvgPool2d",
    "LIF",
    "CubaLIF",
    "IF",
    "LI",
    "Delay",
)


def nir_to_netx(graph_or_path: Any, out: str | Path, cfg: NirImportConfig | None = None) -> ConversionReport:
    """Convert a NIR graph (file or ``nir.NIRGraph``) to netx HDF5 at ``out`` (atomic);
    ``cfg`` defaults to :class:`NirImportConfig` ()."""
    cfg = cfg if cfg is not None else NirImportConfig()
    from neuro_deploy.netx.writer import write_netx

    graph = load_graph(graph_or_path)
    if cfg.dt <= 0:
        raise BadInputError(f"dt must be positive, got {cfg.dt}")
    converters = _node_types()
    st = _State(cfg)
    for name, node in chain(graph):
        conv = next((fn for typ, fn in converters.items() if type(node) is typ), None)
        if conv is None:
            raise UnsupportedLayerError(name, type(node).__name__, SUPPORTED_NODES)
        if type(node).__name__ == "Linear":
            node = type(
                "LinearAsAffine", (), {"weight": node.weight, "bias": np.zeros(np.asarray(node.weight).shape[0])}
            )()
        conv(name, node, st)
    if st.pending is not None:
        raise UnsupportedLayerError(
            st.pending_nodes[-1],
            "synapse without neurons",
            SUPPORTED_NODES,
            "the graph ends with a synapse; add a neuron (e.g. LI) after it",
        )
    if not any(l["type"] in ("dense", "conv") for l in st.layers):
        raise BadInputError("NIR graph has no synapse + neuron layer to convert")
    from neuro_deploy.netx.meta import binning_meta, split_meta

    gm = dict(getattr(graph, "metadata", {}) or {})
    binning = binning_meta(
        int(gm.get("dt_us") or round(cfg.dt * 1e6)), gm.get("num_steps"), str(gm.get("time_origin") or "zero")
    )
    write_netx(
        out,
        st.layers,
        attrs={
            "schema": "neuro-deploy-netx/1",
            "source": "nir",
            "dt_s": cfg.dt,
            "input_shape_chw": np.asarray(st.input_shape or ()),
            **binning,
            **split_meta(gm),
        },
    )
    return ConversionReport(str(out), cfg.dt, st.mappings, tuple(st.input_shape or ()), st.warnings)
