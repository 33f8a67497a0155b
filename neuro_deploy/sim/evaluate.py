"""Deployed accuracy: spike tensors through a netx network on a backend, by class."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from neuro_deploy.netx.spec import NetSpec


@dataclass
class DeployedEval:
    backend: str
    samples: int
    steps: int                         #: simulated steps per sample (input + pipeline)
    predictions: np.ndarray
    output_counts: np.ndarray          #: (N, classes) output spikes per sample
    accuracy: float | None
    counts: list = field(default_factory=list)     #: LayerCounts, summed over samples
    wall_s: float = 0.0
    trains_last: np.ndarray | None = None          #: (T, N, classes) output spikes


def evaluate_deployed(net: NetSpec, tensors: np.ndarray, labels: np.ndarray | None = None,
                      backend: str = "fast", batch_size: int = 128, progress: bool = False
                      ) -> DeployedEval:
    """Run (N, C, H, W, T) spike tensors, each padded with ``len(net)`` empty steps so the
    last input reaches the output; class = output neuron with the most spikes."""
    from neuro_deploy.energy.counts import count_activity, lava_to_trains
    from neuro_deploy.netx.export import encode_for_net
    from neuro_deploy.sim import RunSpec, get_backend
    from neuro_deploy.sim.fast import _source_spikes

    be = get_backend(backend)
    n, t_in = len(tensors), tensors.shape[-1]
    steps = t_in + len(net)
    t0 = time.perf_counter()
    preds, counts_out, agg, lasts = [], [], None, []
    chunks = range(0, n, batch_size)
    if progress:
        from neuro_deploy._progress import progress_bar

        chunks = progress_bar(chunks, desc=f"deploying on {backend}", unit="batch")
    for start in chunks:
        x = encode_for_net(net, tensors[start:start + batch_size])
        pad = np.zeros(x.shape[:-1] + (len(net),), dtype=x.dtype)
        spec = RunSpec(steps=steps, inputs=np.concatenate([x, pad], axis=-1), probe="all")
        res = be.run(net, spec)
        trains = res.extra.get("trains") or lava_to_trains(net, res.spikes)
        layer_counts = count_activity(net, trains, _source_spikes(spec, net, steps)
                                      if net.layers[0].kind != "input" else None)
        if agg is None:
            agg = layer_counts
        else:
            for a, c in zip(agg, layer_counts):
                a.input_spikes += c.input_spikes
                a.synops += c.synops
                a.output_spikes += c.output_spikes
                a.neuron_updates += c.neuron_updates
                a.samples += c.samples
        last = trains[-1]
        c = last.sum(0)
        counts_out.append(c)
        preds.append(c.argmax(-1))
        lasts.append(last)
    pred = np.concatenate(preds) if preds else np.zeros(0, int)
    acc = float(np.mean(pred == labels)) if labels is not None and len(labels) else None
    return DeployedEval(backend, n, steps, pred, np.concatenate(counts_out) if counts_out else
                        np.zeros((0, 0)), acc, agg or [], time.perf_counter() - t0,
                        np.concatenate(lasts, axis=1) if lasts else None)
