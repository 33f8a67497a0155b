"""What every simulator backend takes and returns, and the registry of backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from neuro_deploy.errors import BadInputError, ShapeError, UnknownNameError
from neuro_deploy.netx.spec import NetSpec


@dataclass
class RunSpec:
    """One simulation request.

    ``inputs`` is batched: ``(B,) + net.inp.shape + (T_in,)`` in Lava's layout (W,H,C
    for 3-D inputs), exactly what a Lava ``io.source.RingBuffer`` would send for each
    sample; like the ring buffer, input is replayed cyclically when ``steps > T_in``.
    ``input_bias`` sets the input layer's ``bias_mant`` (shape of that layer in Lava's
    layout, or broadcastable to it). ``reset_interval`` builds netx's ``LIFReset``
    neurons with ``reset_offset + 1 + layer`` phases.

    ``lengths`` (optional, one per sample, each ``1..steps``) gives every sample its own
    run length: sample *b* is simulated for ``lengths[b]`` steps and its recorded spikes
    after that are zero, exactly what a run of ``lengths[b]`` steps alone would give
    (the dynamics are causal, so the steps a longer batch-mate needs cannot change it).
    """

    steps: int
    inputs: np.ndarray | None = None
    input_bias: np.ndarray | None = None
    reset_interval: int | None = None
    reset_offset: int = 0
    probe: str = "all"  #: "all" or "output"
    lengths: np.ndarray | None = None  #: (B,) steps per sample (default: ``steps`` each)

    def batch_size(self) -> int:
        return 1 if self.inputs is None else int(self.inputs.shape[0])

    def sample_steps(self) -> np.ndarray:
        """(B,) steps each sample runs."""
        if self.lengths is None:
            return np.full(self.batch_size(), self.steps, dtype=np.int64)
        return np.asarray(self.lengths, dtype=np.int64)


def valid_steps(steps: int, batch: int, lengths: np.ndarray | None) -> np.ndarray:
    """(T, B) bool: step *t* belongs to sample *b*'s run (``t < lengths[b]``; all when ``None``)."""
    if lengths is None:
        return np.ones((steps, batch), dtype=bool)
    return np.arange(steps)[:, None] < np.asarray(lengths, dtype=np.int64)[None, :]


def mask_after_lengths(trains: list[np.ndarray], lengths: np.ndarray | None) -> list[np.ndarray]:
    """Zero every (T, B, N) train after its sample's length (in place; returns ``trains``)."""
    if lengths is None:
        return trains
    for t in trains:
        t[~valid_steps(t.shape[0], t.shape[1], lengths)] = 0
    return trains


@dataclass
class RunResult:
    """Spikes per probed layer, each ``(B,) + layer.out.shape + (steps,)`` (Lava layout)."""

    spikes: dict[str, np.ndarray]
    backend: str
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def run(self, net: NetSpec, spec: RunSpec) -> RunResult: ...


def validate_run(net: NetSpec, spec: RunSpec, check_values: bool = True) -> None:
    """Shape and value checks shared by every backend (named errors, before running);
    ``check_values=False`` leaves :func:`check_input_values` to a backend that checks the
    input while it reads it (the fast backend's dense kernel), before it returns anything."""
    if spec.steps < 1:
        raise BadInputError(f"steps must be >= 1, got {spec.steps}")
    if spec.probe not in ("all", "output"):
        raise UnknownNameError("probe", spec.probe, ["all", "output"])
    if spec.inputs is not None:
        expected = net.input_lava_shape
        given = tuple(spec.inputs.shape[1:-1])
        if given != expected or spec.inputs.ndim != len(expected) + 2:
            raise ShapeError("input (per sample, without time)", expected, given)
        if spec.inputs.shape[-1] < 1:
            raise ShapeError("input time axis", expected + (spec.steps,), spec.inputs.shape[1:])
        if check_values:
            check_input_values(net, spec.inputs)
    if spec.input_bias is not None:
        first = net.layers[0]
        if first.kind != "input" or first.neuron.kind != "cuba":
            raise BadInputError(
                "--input-bias needs a network whose first layer is an input "
                f"layer with CUBA/LOIHI neurons; {net.path} starts with "
                f"{first.kind} ({first.neuron.kind})"
            )
        try:
            np.broadcast_to(spec.input_bias, first.lava_shape)
        except ValueError:
            raise ShapeError("input bias", first.lava_shape, spec.input_bias.shape) from None
    if spec.lengths is not None:
        lengths = np.asarray(spec.lengths)
        if lengths.shape != (spec.batch_size(),):
            raise ShapeError("per-sample lengths", (spec.batch_size(),), lengths.shape)
        if lengths.size and (lengths.min() < 1 or lengths.max() > spec.steps):
            raise BadInputError(
                f"per-sample lengths must be in 1..{spec.steps} (the run's steps), "
                f"got {int(lengths.min())}..{int(lengths.max())}"
            )
    if spec.reset_interval is not None and spec.reset_interval < 1:
        raise BadInputError(f"reset interval must be >= 1, got {spec.reset_interval}")


#: Largest magnitude of a graded input message (Lava's 24-bit signed synaptic input).
GRADED_INPUT_LIMIT = 2**23


def takes_graded_input(net: NetSpec) -> bool:
    """True when the first block accepts graded (integer) input: a netx ``input`` layer
    (values go into its neurons' ``a_in``) or a synapse with ``num_message_bits > 0``;
    otherwise input is binary spikes."""
    first = net.layers[0]
    return first.kind == "input" or first.input_message_bits > 0


def check_input_values(net: NetSpec, x: np.ndarray, what: str = "input") -> None:
    """Input values the network can take: finite integers; 0/1 spikes where the first
    block takes binary spikes (Lava would turn any nonzero into a spike: a 2, a -3 or a
    NaN would silently become one)."""
    x = np.asarray(x)
    if x.dtype == bool or x.size == 0:
        return
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise BadInputError(f"{what}: values must be numbers, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            raise BadInputError(f"{what}: contains NaN or infinite values")
        if np.any(x != np.round(x)):
            raise BadInputError(f"{what}: values must be integers (spikes or graded messages)")
    binary = not takes_graded_input(net)
    if binary and x.dtype.kind in "iu":
        # one pass instead of min and max: seen as unsigned, a negative is large too
        if x.view(np.dtype(x.dtype.str.replace("i", "u"))).max() <= 1:
            return
    lo, hi = x.min(), x.max()
    if binary:
        if lo < 0 or hi > 1:
            raise BadInputError(
                f"{what}: the first layer ({net.layers[0].kind}) takes binary spikes; "
                f"values must be 0 or 1, got {lo:g}..{hi:g}"
            )
    elif lo < -GRADED_INPUT_LIMIT or hi >= GRADED_INPUT_LIMIT:
        raise BadInputError(f"{what}: graded values must lie in -2^23..2^23-1, got {lo:g}..{hi:g}")


INPUT_FIT = ("exact", "pad", "tile")


def fit_input_length(x: np.ndarray, steps: int, how: str = "exact", what: str = "input") -> np.ndarray:
    """An input's time axis (last) made ``steps`` long: ``exact`` requires it already is,
    ``pad`` appends zeros (a longer input is an error), ``tile`` repeats it cyclically as
    a Lava ``RingBuffer`` source does (a longer input is cut)."""
    t = x.shape[-1]
    if t == steps:
        return x
    if how == "pad" and t < steps:
        return np.concatenate([x, np.zeros(x.shape[:-1] + (steps - t,), x.dtype)], axis=-1)
    if how == "tile":
        return x[..., np.arange(steps) % t]
    hint = "--pad adds empty steps, --tile repeats the input" if how == "exact" else "--tile cuts it"
    raise ShapeError(f"{what}: {t} time steps for --steps {steps} ({hint})", x.shape[:-1] + (steps,), x.shape)


#: Backends by name: a factory, or a ``"module:attr"`` path imported on first use (entry-point
#: style: the implementations import this module and register themselves with
#: :func:`register_backend`; this module never imports them, so there is no import circle).
BACKENDS: dict[str, Callable[[], Backend] | str] = {
    "fast": "neuro_deploy.sim.fast:FastBackend",
    "lava": "neuro_deploy.sim.lava:LavaBackend",
    "float": "neuro_deploy.sim.float_model:FloatBackend",
}


def register_backend(name: str) -> Callable[[Callable[[], Backend]], Callable[[], Backend]]:
    def deco(factory: Callable[[], Backend]) -> Callable[[], Backend]:
        BACKENDS[name] = factory
        return factory

    return deco


def backend_names() -> list[str]:
    """Names of the backends (registered or listed as ``"module:attr"``; none is imported)."""
    return sorted(BACKENDS)


def get_backend(name: str) -> Backend:
    """A backend by name: ``fast`` (bit-exact numpy), ``lava`` (Loihi2SimCfg fixed_pt) or
    ``float`` (a checkpoint's SLAYER model in torch)."""
    import importlib

    if name not in backend_names():
        raise UnknownNameError("backend", name, BACKENDS)
    entry = BACKENDS[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        BACKENDS[name] = entry
    return entry()
