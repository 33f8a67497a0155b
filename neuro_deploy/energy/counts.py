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
input layer (neurons driven by bias or direct input) has no synapses. Every neuron is updated every step. An update is "active" when the neuron receives
synaptic input that step (some presynaptic neuron connected to it by a nonzero weight
spiked on the previous step), has a nonzero bias, or spikes; otherwise it is "idle"
(approximation, stated in reports: a neuron whose state merely decays counts as idle).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuro_deploy.netx.spec import LayerSpec, NetSpec


@dataclass
class LayerCounts:
    """Counts of one layer for one run (summed over batch unless stated)."""

    name: str
    kind: str
    neurons: int
    steps: int
    samples: int
    input_spikes: np.ndarray          #: (T,) summed over batch
    synops: np.ndarray                #: (T,)
    output_spikes: np.ndarray         #: (T,)
    neuron_updates: int = 0
    active_updates: int = 0                            #: updates of neurons with input/spike/bias
    fanout_mean: float = 0.0
    synops_per_sample: np.ndarray | None = None        #: (B,)
    spikes_per_sample: np.ndarray | None = None        #: (B,)
    input_spikes_per_sample: np.ndarray | None = None  #: (B,)
    extra: dict = field(default_factory=dict)

    def totals(self) -> dict:
        return {"name": self.name, "kind": self.kind, "neurons": self.neurons,
                "input_spikes": int(self.input_spikes.sum()), "synops": int(self.synops.sum()),
                "spikes": int(self.output_spikes.sum()), "neuron_updates": self.neuron_updates,
                "active_neuron_updates": self.active_updates,
                "spike_rate": float(self.output_spikes.sum() / max(1, self.neurons * self.steps * self.samples))}


def fanout(layer: LayerSpec) -> np.ndarray:
    """Per-input fan-out ``F_j`` (C,H,W-flattened input order), see module docstring."""
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
    fo = F.conv_transpose2d(ones, nz, stride=layer.stride, padding=layer.padding,
                            dilation=layer.dilation, groups=layer.groups)
    full = np.zeros((c, h, w))
    hh, ww = min(h, fo.shape[2]), min(w, fo.shape[3])
    full[:, :hh, :ww] = fo[0, :, :hh, :ww].numpy()
    return np.rint(full).astype(np.int64).reshape(-1)


def receives_input(layer: LayerSpec, active: np.ndarray) -> np.ndarray:
    """(T, B, N_in) presynaptic activity -> (T, B, N) bool: some nonzero synapse delivers."""
    t, b, n_in = active.shape
    if layer.kind == "dense":
        mask = (layer.weight != 0).astype(np.float32)
        hit = active.reshape(-1, n_in).astype(np.float32) @ mask.T
        return (hit > 0).reshape(t, b, -1)
    import torch
    import torch.nn.functional as F

    c, h, w = layer.in_shape_chw
    x = torch.from_numpy(active.reshape(t * b, c, h, w).astype(np.float32))
    k = torch.from_numpy((layer.weight != 0).astype(np.float32))
    with torch.no_grad():
        y = F.conv2d(x, k, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                     groups=layer.groups)
    return (y.numpy() > 0).reshape(t, b, -1)


def count_activity(net: NetSpec, trains: list[np.ndarray], inputs: np.ndarray | None = None,
                   input_bias: np.ndarray | None = None) -> list[LayerCounts]:
    """Counts for every layer from the spike trains of a run.

    ``trains`` are the per-layer (T, B, N) spikes (C,H,W order) as the fast backend
    produces them, or converted from Lava sinks with :func:`lava_to_trains`; ``inputs``
    is what the source sent to the first synapse layer (T, B, N_in) when it has one;
    ``input_bias`` the input layer's bias override, if the run had one.
    """
    out: list[LayerCounts] = []
    upstream = inputs
    for layer, s_out in zip(net.layers, trains):
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
        fired = s_out != 0                      # graded (SDNN) messages count when nonzero
        out_tb = fired.sum(axis=2).astype(np.int64)
        from neuro_deploy.sim.fast import _layer_bias, _sdnn_bias

        act = fired.copy()
        bias = np.asarray(_layer_bias(layer, input_bias if layer.kind == "input" else None)
                          if layer.neuron.kind == "cuba" else _sdnn_bias(layer))
        if np.any(bias):
            act |= np.broadcast_to(bias != 0, (n,))[None, None, :]
        if layer.kind != "input" and upstream is not None:
            got = receives_input(layer, upstream.astype(bool) if layer.input_message_bits == 0 else upstream != 0)
            act[1:] |= got[:-1]
        out.append(LayerCounts(layer.name, layer.kind, n, steps, batch, in_tb.sum(1), syn_tb.sum(1),
                               out_tb.sum(1), neuron_updates=int(steps * batch * n),
                               active_updates=int(act.sum()),
                               fanout_mean=float(fo.mean()) if fo.size else 0.0,
                               synops_per_sample=syn_tb.sum(0), spikes_per_sample=out_tb.sum(0),
                               input_spikes_per_sample=in_tb.sum(0)))
        upstream = s_out
    return out


def lava_to_trains(net: NetSpec, spikes: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Lava-layout recordings ``(B,) + out.shape + (T,)`` -> (T, B, N) C,H,W-order trains."""
    from neuro_deploy.sim.fast import lava_to_internal

    trains = []
    for layer in net.layers:
        x = np.asarray(spikes[layer.name])
        internal = lava_to_internal(x, len(layer.lava_shape))
        t = np.transpose(internal, (2, 0, 1))
        trains.append(t.astype(bool) if layer.neuron.kind == "cuba" else t.astype(np.int32))
    return trains
