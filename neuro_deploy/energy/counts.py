"""Activity counts per layer and time step - pure functions of spikes and connectivity.

For a layer fed by binary spikes :math:`s_j(t)` through synapses with fan-out
:math:`F_j` (the number of neurons of this layer that input *j* reaches):

.. math::

    \\mathrm{synops}(t) = \\sum_j s_j(t)\\,F_j, \\qquad
    \\mathrm{updates}(t) = N, \\qquad \\mathrm{spikes}(t) = \\sum_i s_i^{out}(t)

Dense: :math:`F_j` = number of nonzero weights in column *j* (a zero weight is not
stored on the chip). Conv: :math:`F_j` = number of (output position, channel) pairs
whose receptive field covers input *j*, counted exactly with the layer's stride,
padding, dilation and groups (computed once by a transposed convolution of ones). An
input layer (neurons driven by bias or direct input) has no synapses. Every neuron is updated
every step. An update is "active" when the neuron receives
synaptic input that step (some presynaptic neuron connected to it by a nonzero weight
spiked on the previous step), has a nonzero bias, or spikes; otherwise it is "idle"
(approximation, stated in reports: a neuron whose state merely decays counts as idle).

A run may give each sample its own length (``lengths``, steps): sample *b* is counted for
its first ``lengths[b]`` steps only, whatever the other samples of its batch need, so a
sample's counts never depend on the batch it ran in. Counts of several runs are summed
with :func:`merge_counts`, the one merge every path (evaluate, replay, report) uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuro_deploy.netx.spec import LayerSpec, NetSpec, fanout
from neuro_deploy.sim.base import valid_steps
from neuro_deploy.sim.fast import lava_to_internal, neuron_bias

__all__ = ["LayerCounts", "count_activity", "fanout", "lava_to_trains", "merge_counts", "receives_input"]


@dataclass
class LayerCounts:
    """Counts of one layer for one run (summed over batch unless stated)."""

    name: str
    kind: str
    neurons: int
    steps: int
    samples: int
    input_spikes: np.ndarray  #: (T,) summed over batch
    synops: np.ndarray  #: (T,)
    output_spikes: np.ndarray  #: (T,)
    neuron_updates: int = 0
    active_updates: int = 0  #: updates of neurons with input/spike/bias
    fanout_mean: float = 0.0
    synops_per_sample: np.ndarray | None = None  #: (B,)
    spikes_per_sample: np.ndarray | None = None  #: (B,)
    input_spikes_per_sample: np.ndarray | None = None  #: (B,)
    samples_per_step: np.ndarray | None = None  #: (T,) samples still running at step t
    extra: dict = field(default_factory=dict)

    def totals(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "neurons": self.neurons,
            "input_spikes": int(self.input_spikes.sum()),
            "synops": int(self.synops.sum()),
            "spikes": int(self.output_spikes.sum()),
            "neuron_updates": self.neuron_updates,
            "active_neuron_updates": self.active_updates,
            "spike_rate": float(self.output_spikes.sum() / max(1, self.neuron_updates)),
        }


def receives_input(layer: LayerSpec, active: np.ndarray) -> np.ndarray:
    """(T, B, N_in) presynaptic activity -> (T, B, N) bool: some nonzero synapse delivers."""
    t, b, n_in = active.shape
    if layer.kind == "dense":
        mask = (layer.synaptic_weight != 0).astype(np.float32)
        hit = active.reshape(-1, n_in).astype(np.float32) @ mask.T
        return (hit > 0).reshape(t, b, -1)
    import torch
    import torch.nn.functional as F

    c, h, w = layer.in_shape_chw
    x = torch.from_numpy(active.reshape(t * b, c, h, w).astype(np.float32))
    k = torch.from_numpy((layer.synaptic_weight != 0).astype(np.float32))
    with torch.no_grad():
        y = F.conv2d(x, k, stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
    return (y.numpy() > 0).reshape(t, b, -1)


def count_activity(
    net: NetSpec,
    trains: list[np.ndarray],
    inputs: np.ndarray | None = None,
    input_bias: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> list[LayerCounts]:
    """Counts for every layer from the spike trains of a run.

    ``trains`` are the per-layer (T, B, N) spikes (C,H,W order) as the fast backend
    produces them, or converted from Lava sinks with :func:`lava_to_trains`; ``inputs``
    is what the source sent to the first synapse layer (T, B, N_in) when it has one;
    ``input_bias`` the input layer's bias override, if the run had one; ``lengths`` the
    steps each sample ran (see module docstring; default: all ``T``).
    """
    out: list[LayerCounts] = []
    t_all, b_all = trains[0].shape[:2] if trains else (0, 0)
    valid = valid_steps(t_all, b_all, lengths)
    upstream = inputs
    for layer, s_out in zip(net.layers, trains):
        if layer.kind == "dense" and upstream is not None:
            out.append(dense_counts(layer, upstream, s_out, valid))
        else:
            out.append(matrix_counts(layer, upstream, s_out, valid, input_bias))
        upstream = s_out
    return out


def matrix_counts(
    layer: LayerSpec,
    upstream: np.ndarray | None,
    s_out: np.ndarray,
    valid: np.ndarray,
    input_bias: np.ndarray | None = None,
) -> LayerCounts:
    """One layer's counts (module docstring) by whole-batch array operations: input and
    output spikes (T, B, N), ``valid`` (T, B) steps; ``upstream`` None for an input layer
    or a layer without synaptic input. Any layer kind; :func:`dense_counts` is the
    compiled equivalent for dense layers (tested against this)."""

    def mask(a: np.ndarray) -> np.ndarray:
        return a if valid.all() else np.where(valid[:, :, None], a, np.zeros((), a.dtype))

    s_out = mask(s_out)
    upstream = None if upstream is None else mask(upstream)
    steps, batch, n = s_out.shape
    if layer.kind == "input" or upstream is None:
        in_tb = np.zeros((steps, batch), dtype=np.int64)
        syn_tb = np.zeros((steps, batch), dtype=np.int64)
        fo = np.zeros(0)
    else:
        active = upstream.astype(bool) if layer.input_message_bits == 0 else upstream != 0
        fo = fanout(layer)
        in_tb = active.sum(axis=2).astype(np.int64)
        syn_tb = (active.reshape(-1, active.shape[-1]).astype(np.int64) @ fo).reshape(steps, batch)
    fired = s_out != 0  # graded (SDNN) messages count when nonzero
    out_tb = fired.sum(axis=2).astype(np.int64)
    act = fired.copy()
    bias = np.asarray(neuron_bias(layer, input_bias if layer.kind == "input" else None))
    if np.any(bias):
        act |= np.broadcast_to(bias != 0, (n,))[None, None, :]
    if layer.kind != "input" and upstream is not None:
        got = receives_input(layer, upstream.astype(bool) if layer.input_message_bits == 0 else upstream != 0)
        act[1:] |= got[:-1]
    act &= valid[:, :, None]
    return per_step_counts(layer, in_tb, syn_tb, out_tb, int(act.sum()), valid, fo)


def dense_counts(layer: LayerSpec, upstream: np.ndarray, s_out: np.ndarray, valid: np.ndarray) -> LayerCounts:
    """:func:`matrix_counts` of a dense layer with synaptic input, by the compiled kernel
    :func:`neuro_deploy.energy.kernels.dense_counts`: one pass over the spikes, any
    array strides (no copies, no matrix products)."""
    from neuro_deploy.energy.kernels import bits_of
    from neuro_deploy.energy.kernels import dense_counts as kernel

    steps, batch, n = s_out.shape
    fo = fanout(layer)
    bias = np.asarray(neuron_bias(layer))
    counts = np.empty((4, steps, batch), dtype=np.int64)
    kernel(
        upstream,
        s_out,
        np.ascontiguousarray(valid),
        fo,
        bits_of(np.asarray(layer.weight).T != 0),
        bits_of(np.broadcast_to(bias != 0, (n,))),
        counts,
    )
    in_tb, syn_tb, out_tb, act = counts
    return per_step_counts(layer, in_tb, syn_tb, out_tb, int(act.sum()), valid, fo)


def per_step_counts(
    layer: LayerSpec,
    in_tb: np.ndarray,
    syn_tb: np.ndarray,
    out_tb: np.ndarray,
    active_updates: int,
    valid: np.ndarray,
    fo: np.ndarray,
) -> LayerCounts:
    """A layer's :class:`LayerCounts` from its (T, B) input spikes, synops and output spikes,
    its active updates, the (T, B) valid steps and its fan-out: the one assembly both
    counting paths (:func:`matrix_counts`, :func:`dense_counts`) share."""
    steps, batch = valid.shape
    return LayerCounts(
        layer.name,
        layer.kind,
        layer.num_neurons,
        steps,
        batch,
        in_tb.sum(1),
        syn_tb.sum(1),
        out_tb.sum(1),
        neuron_updates=int(valid.sum()) * layer.num_neurons,
        active_updates=active_updates,
        fanout_mean=float(fo.mean()) if fo.size else 0.0,
        synops_per_sample=syn_tb.sum(0),
        spikes_per_sample=out_tb.sum(0),
        input_spikes_per_sample=in_tb.sum(0),
        samples_per_step=valid.sum(1).astype(np.int64),
    )


def merge_counts(runs: list[list[LayerCounts]], order: np.ndarray | None = None) -> list[LayerCounts]:
    """Sum the per-layer counts of several runs (batches) into one list, as if all their
    samples had run together: per-step arrays are aligned at step 0 and padded with zeros
    to the longest run, scalars are summed, per-sample arrays concatenated in run order
    (or, with ``order``, sample *k* of the result is sample ``order[k]`` of that
    concatenation, e.g. to restore file order after splitting over workers).

    The result does not depend on how the samples were split into runs (this is the one
    merge used by ``evaluate``, ``replay`` and ``report``).
    """
    runs = [r for r in runs if r]
    if not runs:
        return []
    from dataclasses import replace

    steps = max(r[0].steps for r in runs)

    def pad(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.zeros(steps - len(a), a.dtype)])

    def cat(arrays: list[np.ndarray | None]) -> np.ndarray | None:
        present = [a for a in arrays if a is not None]
        if len(present) < len(arrays):
            return None
        joined: np.ndarray = np.concatenate(present)
        return joined if order is None else joined[np.asarray(order, dtype=np.int64)]

    def per_step(c: LayerCounts) -> np.ndarray:
        if c.samples_per_step is not None:
            return c.samples_per_step
        return np.full(c.steps, c.samples, dtype=np.int64)

    merged = []
    for per_layer in zip(*runs):
        first = per_layer[0]
        if any(c.name != first.name for c in per_layer):
            raise ValueError(f"merge_counts: layers differ between runs ({[c.name for c in per_layer]})")
        merged.append(
            replace(
                first,
                steps=steps,
                samples=sum(c.samples for c in per_layer),
                input_spikes=sum(pad(c.input_spikes) for c in per_layer),
                synops=sum(pad(c.synops) for c in per_layer),
                output_spikes=sum(pad(c.output_spikes) for c in per_layer),
                neuron_updates=sum(c.neuron_updates for c in per_layer),
                active_updates=sum(c.active_updates for c in per_layer),
                synops_per_sample=cat([c.synops_per_sample for c in per_layer]),
                spikes_per_sample=cat([c.spikes_per_sample for c in per_layer]),
                input_spikes_per_sample=cat([c.input_spikes_per_sample for c in per_layer]),
                samples_per_step=sum(pad(per_step(c)) for c in per_layer),
                extra=dict(first.extra),
            )
        )
    return merged


def lava_to_trains(net: NetSpec, spikes: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Lava-layout recordings ``(B,) + out.shape + (T,)`` -> (T, B, N) C,H,W-order trains."""
    trains = []
    for layer in net.layers:
        x = np.asarray(spikes[layer.name])
        internal = lava_to_internal(x, len(layer.lava_shape))
        t = np.transpose(internal, (2, 0, 1))
        trains.append(t.astype(bool) if layer.neuron.kind == "cuba" else t.astype(np.int32))
    return trains
