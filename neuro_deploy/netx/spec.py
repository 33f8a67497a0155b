"""Read a lava-dl netx HDF5 file into plain, typed layer descriptions.

The reader follows ``lava.lib.dl.netx.hdf5.Network`` (lava-dl 0.6.0) rule for rule, so
that the fast backend, the fit check and the cost model see the network exactly as
Lava builds it:

* layer groups ``layer/0 ... layer/N-1`` are read in order; an ``input`` layer without a
  ``neuron`` group only sets the input shape; ``flatten`` only marks the next dense
  layer as connected through ``out.transpose([2, 1, 0]).flatten()``;
* shapes are stored C,H,W and used by Lava reversed (W,H,C = x,y,z): both are kept;
* ``weight``/``bias`` are cast to ``int`` (``NetDict``), a 1-D dense weight is reshaped
  to ``(out, -1)``; delays are clamped to 62 and broadcast per output or per input;
* a dense layer without neuron group gets netx's default non-spiking integrator
  (``iDecay=0, vDecay=4096, vThMant=1 << 18 - 1`` = 131072 by operator precedence);
* CUBA/LOIHI neurons map to Lava's LIF with ``du = iDecay - 1``, ``dv = vDecay``,
  ``vth = vThMant``, ``bias_exp = 6``.

Layer kinds are dispatched through :data:`LAYER_READERS`; an unknown kind raises
:class:`~neuro_deploy.errors.UnsupportedLayerError` naming the layer index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy.errors import NetxFormatError, ShapeError, UnsupportedLayerError
from neuro_deploy.events.tensor import from_lava_layout, to_lava_layout
from neuro_deploy.loihi_format import LOIHI2

#: netx's neuron group used for a dense layer that has none (hdf5.py, create_dense).
DEFAULT_DENSE_NEURON = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 18 - 1, "refDelay": 1}
MAX_DELAY = LOIHI2.max_delay  #: netx clamps delays to this (hdf5.py)


@dataclass(frozen=True)
class NeuronSpec:
    """A neuron model as Lava's fixed-point process receives it."""

    kind: str  #: ``cuba`` (LIF/LIFReset), ``delta``, ``sigma_delta``, ``sigma`` (SDNN)
    vth: int  #: threshold mantissa (``vThMant``); CUBA uses ``vth << 6``, SDNN ``vth << 12``
    du: int = 0  #: ``iDecay - 1`` (Lava adds ``ds_offset = 1`` back)
    dv: int = 0  #: ``vDecay``
    bias_exp: int = 6
    message_bits: int = 0  #: 0 means binary spikes; SDNN messages are graded (16 bits)
    source_type: str = "CUBA"
    spike_exp: int = 6  #: SDNN: graded spike exponent (netx ``spike_exp``)
    state_exp: int = 6  #: SDNN: state exponent


@dataclass
class LayerSpec:
    """One Lava block (input, dense or conv) with its synapse and neurons."""

    index: int  #: position in ``Network.layers`` (0-based)
    hdf5_index: int  #: the ``layer/<i>`` group it came from
    kind: str  #: ``input`` | ``dense`` | ``conv``
    shape_chw: tuple[int, ...]  #: output shape as stored (C,H,W) or (N,)
    in_shape_chw: tuple[int, ...]  #: input shape (C,H,W) or (N,)
    neuron: NeuronSpec
    weight: np.ndarray | None = None  #: int64; dense (out, in); conv (out, in/groups, kH, kW)
    bias: np.ndarray | None = None  #: int64 broadcastable to the neuron shape (C,H,W)/(N,)
    delay: np.ndarray | None = None  #: dense only: int (out, in), clamped to 62
    stride: tuple[int, int] = (1, 1)  #: (y, x)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    flatten_input: bool = False  #: dense fed through netx's flatten
    input_message_bits: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"layer{self.index}"

    @property
    def lava_shape(self) -> tuple[int, ...]:
        """Shape of the Lava block's ``out`` port (W,H,C for 3-D, (N,) for dense)."""
        return tuple(self.shape_chw[::-1]) if self.kind != "dense" else (int(np.prod(self.shape_chw)),)

    @property
    def lava_in_shape(self) -> tuple[int, ...]:
        if self.kind == "dense":
            return (int(np.prod(self.in_shape_chw)),)
        return tuple(self.in_shape_chw[::-1])

    @property
    def num_neurons(self) -> int:
        return int(np.prod(self.shape_chw))

    @property
    def num_inputs(self) -> int:
        return int(np.prod(self.in_shape_chw))

    @property
    def synaptic_weight(self) -> np.ndarray:
        """The synapse weights of a dense or conv layer (an input layer has none: ValueError)."""
        if self.weight is None:
            raise ValueError(f"{self.name} ({self.kind}) has no synaptic weights")
        return self.weight

    def bias_chw(self, override: np.ndarray | None = None) -> np.ndarray | None:
        """The neurons' bias mantissas as (N,) int32 in C,H,W order, broadcast as netx's
        ``_neuron`` does (a per-channel bias of a 3-D layer covers its H,W); ``None``: no bias.

        ``override`` replaces the stored bias with one given in Lava's layout (W,H,C, or
        broadcastable to it), as ``--input-bias`` sets the input layer's ``bias_mant``."""
        shape_chw = self.shape_chw
        if override is not None:
            b = np.broadcast_to(np.asarray(override), self.lava_shape)
            if len(shape_chw) == 3:
                b = from_lava_layout(b, time_axis=False)
            return np.asarray(b, dtype=np.int64).astype(np.int32).reshape(-1)
        if self.bias is None:
            return None
        b = np.asarray(self.bias)
        if len(shape_chw) == 3 and b.ndim == 1 and b.size == shape_chw[0]:
            b = np.broadcast_to(b.reshape(-1, 1, 1), shape_chw)
        return np.broadcast_to(b, shape_chw).astype(np.int32).reshape(-1)


@dataclass
class NetSpec:
    """A whole netx network: the layers Lava would create, in order."""

    path: str
    layers: list[LayerSpec]
    input_shape_chw: tuple[int, ...]

    @property
    def input_lava_shape(self) -> tuple[int, ...]:
        """Shape of ``net.inp`` as Lava's netx exposes it."""
        return self.layers[0].lava_in_shape

    @property
    def output_lava_shape(self) -> tuple[int, ...]:
        return self.layers[-1].lava_shape

    def __len__(self) -> int:
        return len(self.layers)


def _decode(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":
        return value[0].decode("ascii") if value.size else ""
    if isinstance(value, bytes):
        return value.decode("ascii")
    return value


def _group_to_dict(group: Any) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _group_to_dict(item)
        else:
            out[key] = _decode(item[()])
    return out


def _scalar(value: Any) -> int:
    return int(np.asarray(value).ravel()[0])


def _pair(value: Any, default: int) -> tuple[int, int]:
    if value is None:
        return (default, default)
    arr = np.atleast_1d(np.asarray(value)).astype(int).ravel()
    return (int(arr[0]), int(arr[0])) if arr.size == 1 else (int(arr[0]), int(arr[1]))


def neuron_from_config(cfg: dict[str, Any] | None, index: int, *, dense: bool, is_input: bool = False) -> NeuronSpec:
    """Map a ``neuron`` group to Lava's process parameters (netx ``get_neuron_params``)."""
    if cfg is None:
        if not dense:
            raise UnsupportedLayerError(index, "no neuron", NEURON_TYPES)
        cfg = DEFAULT_DENSE_NEURON
    ntype = str(_decode(cfg.get("type", "")))
    reader = NEURON_READERS.get(ntype)
    if reader is None:
        raise UnsupportedLayerError(index, f"neuron {ntype}", NEURON_TYPES, "neuron model")
    return reader(cfg, index, is_input)


def _sdnn_neuron(cfg: dict[str, Any], index: int, is_input: bool = False) -> NeuronSpec:
    """netx: input layer -> Delta; ``sigma_output`` -> Sigma; else SigmaDelta (ReLU);
    ``spike_exp = state_exp = 6``; 16 message bits unless ``messageBits`` says otherwise."""
    bits = int(cfg.get("messageBits", 16) or 16)
    kind = "delta" if is_input else ("sigma" if "sigma_output" in cfg else "sigma_delta")
    act = str(_decode(cfg.get("activation", "relu")) or "relu").lower()
    if kind == "sigma_delta" and act not in ("relu", "unit", "identity", "none"):
        raise UnsupportedLayerError(index, f"SDNN activation {act}", ("relu",), "netx builds SigmaDelta with ReLU")
    vth = int(cfg.get("vThMant", 0)) if kind != "sigma" else 0
    return NeuronSpec(kind=kind, vth=vth, message_bits=bits, source_type="SDNN")


def _cuba_neuron(cfg: dict[str, Any], index: int, is_input: bool = False) -> NeuronSpec:
    try:
        return NeuronSpec(
            kind="cuba",
            vth=int(cfg["vThMant"]),
            du=int(cfg["iDecay"]) - 1,
            dv=int(cfg["vDecay"]),
            bias_exp=6,
            message_bits=int(cfg.get("messageBits", 0) or 0),
            source_type=str(_decode(cfg["type"])),
        )
    except KeyError as exc:
        raise UnsupportedLayerError(
            index, f"neuron {_decode(cfg.get('type'))}", NEURON_TYPES, f"missing field {exc.args[0]}"
        ) from None


#: Neuron models by netx ``neuron/type``.
NEURON_READERS: dict[str, Callable[..., NeuronSpec]] = {
    "CUBA": _cuba_neuron,
    "LOIHI": _cuba_neuron,
    "SDNN": _sdnn_neuron,
}
NEURON_TYPES = tuple(NEURON_READERS)


@dataclass
class _ReadState:
    path: str
    layers: list[LayerSpec] = field(default_factory=list)
    input_shape_chw: tuple[int, ...] | None = None
    flatten_next: bool = False
    message_bits: int = 0

    def upstream_shape(self, index: int) -> tuple[int, ...]:
        if self.layers:
            return self.layers[-1].shape_chw
        if self.input_shape_chw is not None:
            return self.input_shape_chw
        raise NetxFormatError(self.path, f"layer {index}: input shape cannot be inferred (no input layer before it)")


def _read_input(cfg: dict[str, Any], i: int, st: _ReadState) -> None:
    shape = tuple(int(s) for s in np.atleast_1d(cfg["shape"]))
    if "neuron" not in cfg:
        st.input_shape_chw = shape
        return
    neuron = neuron_from_config(cfg["neuron"], i, dense=False, is_input=True)
    st.layers.append(
        LayerSpec(
            index=len(st.layers),
            hdf5_index=i,
            kind="input",
            shape_chw=shape,
            in_shape_chw=shape,
            neuron=neuron,
            attrs={"transform_weight": _scalar(cfg.get("weight", 64)), "transform_bias": _scalar(cfg.get("bias", 0))},
        )
    )
    st.message_bits = neuron.message_bits


def _read_flatten(cfg: dict[str, Any], i: int, st: _ReadState) -> None:
    st.flatten_next = True


def _read_dense(cfg: dict[str, Any], i: int, st: _ReadState) -> None:
    out_n = int(np.prod(np.atleast_1d(cfg["shape"])))
    weight = np.asarray(cfg["weight"]).astype(int)
    if weight.ndim == 1:
        weight = weight.reshape(out_n, -1)
    if weight.ndim != 2 or weight.shape[0] != out_n:
        raise NetxFormatError(
            st.path, f"layer {i}: dense weight shape {weight.shape} does not match {out_n} output neurons"
        )
    in_shape = st.upstream_shape(i) if (st.layers or st.input_shape_chw) else (weight.shape[1],)
    if int(np.prod(in_shape)) != weight.shape[1]:
        raise NetxFormatError(
            st.path,
            f"layer {i}: dense weight has {weight.shape[1]} inputs, upstream layer gives {int(np.prod(in_shape))}",
        )
    if (
        st.layers
        and len(st.layers[-1].shape_chw) > 1
        and not st.flatten_next
        and int(np.prod(st.layers[-1].shape_chw[1:])) != 1
    ):
        raise UnsupportedLayerError(i, "dense", LAYER_TYPES, "a dense layer after a 3-D layer needs a flatten layer")
    neuron = neuron_from_config(cfg.get("neuron"), i, dense=True)
    delay = None
    if "delay" in cfg:
        raw = np.asarray(cfg["delay"])
        d = np.clip(raw, 0, MAX_DELAY).astype(int)
        if d.ndim == 0:
            d = d * np.ones_like(weight)
        elif d.ndim == 1:
            if d.size == weight.shape[0]:
                d = np.repeat(d.reshape(-1, 1), weight.shape[1], axis=1)
            elif d.size == weight.shape[1]:
                d = np.repeat(d.reshape(1, -1), weight.shape[0], axis=0)
            else:
                raise NetxFormatError(
                    st.path, f"layer {i}: delay of shape {d.shape} is incompatible with weight {weight.shape}"
                )
        d = d.reshape(weight.shape).copy()
        d[weight == 0] = 0
        delay = d
    bias = np.asarray(cfg["bias"]).astype(int) if "bias" in cfg else None
    st.layers.append(
        LayerSpec(
            index=len(st.layers),
            hdf5_index=i,
            kind="dense",
            shape_chw=(out_n,),
            in_shape_chw=tuple(in_shape),
            neuron=neuron,
            weight=weight,
            bias=bias,
            delay=delay,
            flatten_input=st.flatten_next,
            input_message_bits=st.message_bits,
            attrs={"raw_delay_max": int(np.floor(raw.max())) if delay is not None else 0},
        )
    )
    st.flatten_next = False
    st.message_bits = neuron.message_bits


def _read_conv(cfg: dict[str, Any], i: int, st: _ReadState) -> None:
    in_shape = st.upstream_shape(i)
    if len(in_shape) != 3:
        raise UnsupportedLayerError(i, "conv", LAYER_TYPES, f"conv needs a 3-D (C,H,W) input, upstream is {in_shape}")
    weight = np.asarray(cfg["weight"]).astype(int)
    weight = weight.reshape(weight.shape[:4])
    shape = tuple(int(s) for s in np.atleast_1d(cfg["shape"]))
    neuron = neuron_from_config(cfg.get("neuron"), i, dense=False)
    bias = np.asarray(cfg["bias"]).astype(int) if "bias" in cfg else None
    layer = LayerSpec(
        index=len(st.layers),
        hdf5_index=i,
        kind="conv",
        shape_chw=shape,
        in_shape_chw=in_shape,
        neuron=neuron,
        weight=weight,
        bias=bias,
        stride=_pair(cfg.get("stride"), 1),
        padding=_pair(cfg.get("padding"), 0),
        dilation=_pair(cfg.get("dilation"), 1),
        groups=_scalar(cfg.get("groups", 1)),
        input_message_bits=st.message_bits,
    )
    expected = conv_output_shape(layer)
    if expected != shape:
        raise NetxFormatError(
            st.path,
            f"layer {i}: conv output shape {shape} does not match {expected} computed from kernel/stride/padding",
        )
    if "delay" in cfg:
        raise UnsupportedLayerError(
            i, "conv with delay", LAYER_TYPES, "netx ignores conv delays; refusing to drop them silently"
        )
    st.layers.append(layer)
    st.message_bits = neuron.message_bits


def encode_for_net(net: NetSpec, tensors: np.ndarray) -> np.ndarray:
    """(N, C, H, W, T) spike tensors -> what ``net.inp`` takes per sample, batched:
    flattened C-order (N, C*H*W, T) for a dense first layer, (N, W, H, C, T) otherwise."""
    first = net.layers[0]
    want = first.lava_in_shape if first.kind != "input" else first.lava_shape
    n, t = tensors.shape[0], tensors.shape[-1]
    if len(want) == 1:
        flat = tensors.reshape(n, -1, t)
        if flat.shape[1] != want[0]:
            raise ShapeError("network input", want, tensors.shape[1:-1])
        return flat
    x = to_lava_layout(tensors)
    if tuple(x.shape[1:-1]) != tuple(want):
        raise ShapeError("network input (W,H,C)", want, x.shape[1:-1])
    return x


def fanout(layer: LayerSpec) -> np.ndarray:
    """Per-input fan-out ``F_j``: how many neurons of ``layer`` input *j* (C,H,W-flattened
    order) reaches through a nonzero weight. Dense: nonzero weights in column *j*; conv: the
    (output position, channel) pairs whose receptive field covers *j*, counted exactly with
    stride, padding, dilation and groups (a transposed convolution of ones); input layer: 0."""
    if layer.kind == "input":
        return np.zeros(layer.num_neurons, dtype=np.int64)
    if layer.kind == "dense":
        return np.count_nonzero(layer.weight, axis=0).astype(np.int64)
    import torch
    import torch.nn.functional as F

    c_out, oh, ow = layer.shape_chw
    nz = torch.from_numpy((layer.weight != 0).astype(np.float64))
    ones = torch.ones((1, c_out, oh, ow), dtype=torch.float64)
    c, h, w = layer.in_shape_chw
    fo = F.conv_transpose2d(
        ones, nz, stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups
    )
    full = np.zeros((c, h, w))
    hh, ww = min(h, fo.shape[2]), min(w, fo.shape[3])
    full[:, :hh, :ww] = fo[0, :, :hh, :ww].numpy()
    return np.rint(full).astype(np.int64).reshape(-1)


def conv_output_shape(layer: LayerSpec) -> tuple[int, int, int]:
    """``out = floor((in + 2p - d(k-1) - 1) / s) + 1`` per spatial axis."""
    _, h, w = layer.in_shape_chw
    assert layer.weight is not None
    kh, kw = layer.weight.shape[2:4]
    (sy, sx), (py, px), (dy, dx) = layer.stride, layer.padding, layer.dilation
    oh = (h + 2 * py - dy * (kh - 1) - 1) // sy + 1
    ow = (w + 2 * px - dx * (kw - 1) - 1) // sx + 1
    return (int(layer.weight.shape[0]), int(oh), int(ow))


#: Layer kinds by netx ``type``; a kind absent here is unsupported by netx too.
LAYER_READERS: dict[str, Callable[[dict[str, Any], int, _ReadState], None]] = {
    "input": _read_input,
    "flatten": _read_flatten,
    "dense": _read_dense,
    "conv": _read_conv,
}
LAYER_TYPES = tuple(LAYER_READERS)


def load_netx(path: str | Path) -> NetSpec:
    """Read a netx HDF5 file (``layer/<i>/...``) into a :class:`NetSpec`.

    Raises :class:`NetxFormatError` for unreadable or inconsistent files and
    :class:`UnsupportedLayerError` (with the layer index) for layer or neuron types
    that Lava's netx cannot build or that neuro-deploy does not simulate.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise NetxFormatError(path, "no such file")
    try:
        with h5py.File(path, "r") as h5:
            if "layer" not in h5:
                raise NetxFormatError(path, "no 'layer' group: not a netx HDF5 network")
            groups = h5["layer"]
            n = len(groups)
            configs = []
            for i in range(n):
                if str(i) not in groups:
                    raise NetxFormatError(path, f"layer group 'layer/{i}' missing ({n} layers)")
                configs.append(_group_to_dict(groups[str(i)]))
    except OSError as exc:
        raise NetxFormatError(path, f"not a readable HDF5 file ({exc})") from None
    st = _ReadState(path=str(path))
    for i, cfg in enumerate(configs):
        kind = str(cfg.get("type", ""))
        reader = LAYER_READERS.get(kind)
        if reader is None:
            raise UnsupportedLayerError(i, kind, LAYER_TYPES)
        try:
            reader(cfg, i, st)
        except KeyError as exc:
            raise NetxFormatError(path, f"layer {i} ({kind}): missing dataset {exc.args[0]!r}") from None
    if not st.layers:
        raise NetxFormatError(path, "no layers with neurons")
    first = st.layers[0]
    return NetSpec(path=str(path), layers=st.layers, input_shape_chw=st.input_shape_chw or first.in_shape_chw)
