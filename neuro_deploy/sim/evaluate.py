"""Deployed accuracy: spike tensors through a netx network on a backend, by class.

:func:`run_tensors` is the one way every path (``evaluate``, ``replay``, ``report``) runs
binned recordings: sample *b* gets its ``lengths[b]`` input steps, then ``len(net)``
empty steps so its last input reaches the output (one step per layer), and is simulated
and counted for exactly those ``lengths[b] + len(net)`` steps, whatever else is in its
batch. :func:`evaluate_deployed` runs its batches as tasks of the execution layer
(:mod:`neuro_deploy.cluster`: this process, local processes or Ray) and combines them in
sample order with :func:`neuro_deploy.energy.counts.merge_counts`, so neither the batch
size nor where the batches ran changes any figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuro_deploy.cluster import Execution, ShippedFile, open_session, progress_bar
from neuro_deploy.netx.spec import NetSpec

if TYPE_CHECKING:
    from neuro_deploy.netx.export import Agreement


@dataclass
class TensorRun:
    """One batch through :func:`run_tensors`."""

    trains: list[np.ndarray]  #: per layer (T, B, N), zero after each sample's run
    counts: list  #: LayerCounts of the batch
    run_steps: np.ndarray  #: (B,) simulated steps per sample (input + drain)
    simulate_s: float = 0.0  #: wall time of the backend run
    count_s: float = 0.0  #: wall time of counting the activity


@dataclass
class DeployedEval:
    backend: str
    samples: int
    steps: int  #: simulated steps of the longest sample (input + pipeline)
    predictions: np.ndarray
    output_counts: np.ndarray  #: (N, classes) output spikes per sample
    accuracy: float | None
    counts: list = field(default_factory=list)  #: LayerCounts, summed over samples
    wall_s: float = 0.0
    trains_last: np.ndarray | None = None  #: (T, N, classes) output spikes
    run_steps: np.ndarray | None = None  #: (N,) simulated steps per sample


def run_tensors(
    net: NetSpec, tensors: np.ndarray, lengths: np.ndarray | None = None, backend: str = "fast"
) -> TensorRun:
    """Simulate (B, C, H, W, T) spike tensors; sample *b* uses its first ``lengths[b]``
    input steps (default ``T``) and runs ``lengths[b] + len(net)`` steps (module docstring)."""
    from neuro_deploy.energy.counts import count_activity, lava_to_trains
    from neuro_deploy.netx.spec import encode_for_net
    from neuro_deploy.sim import RunSpec, get_backend
    from neuro_deploy.sim.fast import source_spikes

    b, t_in = tensors.shape[0], tensors.shape[-1]
    lens = np.full(b, t_in, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
    drain = len(net)
    steps = int(lens.max()) + drain if b else drain
    x = encode_for_net(net, tensors)
    inp = np.zeros(x.shape[:-1] + (steps,), dtype=x.dtype)  # then the drain steps: no input
    for i, n_i in enumerate(lens):  # a sample's input ends at its own length
        inp[i, ..., :n_i] = x[i, ..., :n_i]
    run_steps = lens + drain
    spec = RunSpec(steps=steps, inputs=inp, probe="all", lengths=None if (run_steps == steps).all() else run_steps)
    t0 = time.perf_counter()
    res = get_backend(backend).run(net, spec)
    trains = res.extra.get("trains") or lava_to_trains(net, res.spikes)
    t1 = time.perf_counter()
    counts = count_activity(
        net, trains, source_spikes(spec, net, steps) if net.layers[0].kind != "input" else None, lengths=spec.lengths
    )
    return TensorRun(trains, counts, run_steps, t1 - t0, time.perf_counter() - t1)


@dataclass(frozen=True)
class TaskNet:
    """A network as a task carries it: the :class:`NetSpec` to simulate (exactly the one the
    caller passed) and the bytes of its netx file, which the Lava backend reads - a worker
    on a machine without that file gets a copy (:class:`neuro_deploy.cluster.ShippedFile`)."""

    spec: NetSpec
    file: ShippedFile | None  #: None: no file behind the spec (an in-memory float model)

    @classmethod
    def of(cls, net: NetSpec) -> "TaskNet":
        path = Path(str(net.path))
        return cls(net, ShippedFile.read(path) if path.is_file() else None)

    def local(self) -> NetSpec:
        """The spec, its ``path`` pointing to the netx file on this machine."""
        from dataclasses import replace

        if self.file is None:
            return self.spec
        p = self.file.local_path()
        return self.spec if p == Path(self.spec.path) else replace(self.spec, path=str(p))


def evaluate_batch(args: tuple) -> tuple[list, np.ndarray]:
    """One task: a batch through :func:`run_tensors` -> (LayerCounts, output trains (T, B, classes))."""
    net, tensors, lengths, backend = args
    r = run_tensors(net.local(), tensors, lengths, backend)
    return r.counts, r.trains[-1]


def evaluate_deployed(
    net: NetSpec,
    tensors: np.ndarray,
    labels: np.ndarray | None = None,
    backend: str = "fast",
    batch_size: int = 128,
    progress: bool = False,
    lengths: np.ndarray | None = None,
    execution: Execution | None = None,
) -> DeployedEval:
    """Run (N, C, H, W, T) spike tensors through :func:`run_tensors` in batches of at most
    ``batch_size`` (one task each, on ``execution``; default this process); class = output
    neuron with the most spikes (ties: lowest index). ``lengths`` (N,) are the input steps
    of each sample (default: all ``T``)."""
    from neuro_deploy.energy.counts import merge_counts

    n, t_in = len(tensors), tensors.shape[-1]
    lens = np.full(n, t_in, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
    steps = (int(lens.max()) if n else t_in) + len(net)
    t0 = time.perf_counter()
    task_net = TaskNet.of(net)
    with open_session(execution) as session:
        parts = session.shards(n, batch_size)
        jobs = [(task_net, tensors[p.start : p.stop], lens[p.start : p.stop], backend) for p in parts]
        on_result = progress_bar(len(jobs), f"deploying on {backend}") if progress else None
        outs = session.run(
            evaluate_batch,
            jobs,
            [f"batch {k + 1}/{len(parts)} (samples {p.start}..{p.stop - 1})" for k, p in enumerate(parts)],
            on_result,
        )
    preds, counts_out, runs, lasts = [], [], [], []
    for counts, last in outs:
        runs.append(counts)
        c = last.sum(0)
        counts_out.append(c)
        preds.append(c.argmax(-1))
        lasts.append(np.concatenate([last, np.zeros((steps - len(last),) + last.shape[1:], last.dtype)]))
    pred = np.concatenate(preds) if preds else np.zeros(0, int)
    acc = float(np.mean(pred == labels)) if labels is not None and len(labels) else None
    return DeployedEval(
        backend,
        n,
        steps,
        pred,
        np.concatenate(counts_out) if counts_out else np.zeros((0, 0)),
        acc,
        merge_counts(runs),
        time.perf_counter() - t0,
        np.concatenate(lasts, axis=1) if lasts else None,
        lens + len(net),
    )


def verify_agreement(model: Any, net_path: str | Path, inputs: np.ndarray) -> Agreement:
    """The float model (backend ``float``) and the netx network (backend ``fast``) on the
    same (N, C, H, W, T) spikes, each padded with one empty step per layer
    (:func:`evaluate_deployed`, one function for both): their agreement in predicted class
    and output spike counts. This is the check every export runs before its file is kept."""
    from neuro_deploy.netx.export import Agreement
    from neuro_deploy.netx.spec import load_netx
    from neuro_deploy.sim.float_model import float_net

    fl = evaluate_deployed(float_net(model), inputs, None, backend="float")
    fx = evaluate_deployed(load_netx(net_path), inputs, None, backend="fast")
    fc, xc = fl.output_counts, fx.output_counts
    return Agreement(
        samples=len(inputs),
        steps=int(inputs.shape[-1]),
        class_agreement=float(np.mean(fl.predictions == fx.predictions)),
        output_count_exact=float(np.mean((fc == xc).all(-1))),
        output_count_mae=float(np.mean(np.abs(fc - xc))),
        float_predictions=fl.predictions.tolist(),
        fixed_predictions=fx.predictions.tolist(),
    )
