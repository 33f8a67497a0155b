"""The ``lava`` backend: lava-dl netx + Lava's ``Loihi2SimCfg(select_tag='fixed_pt')``.

This is the reference oracle. One Lava network is built per sample; every probed
layer gets an ``io.sink.RingBuffer`` on its ``out`` port. Inputs come from an
``io.source.RingBuffer``: into ``net.inp`` when the first block is a synapse layer, and
into the input neuron's ``a_in`` when the first block is a netx ``Input`` (whose ``inp``
port netx leaves unconnected; lava-dl's tutorials wire encoders there the same way).
The network is always stopped, also on errors; on Ctrl-C (or SIGTERM) its worker
processes are killed instead of sent STOP (which can wait forever on a channel cut
mid-message), and while it runs they ignore SIGINT and die with their parent
(:mod:`neuro_deploy._process`), so no worker is left behind - also when the worker running Lava is killed (a
cancelled Ray task, a lost node).
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from neuro_deploy._compat.lava_compat import abandon_runtime
from neuro_deploy._process import child_policy
from neuro_deploy._progress import tick
from neuro_deploy.errors import EnvironmentProblem
from neuro_deploy.netx.spec import NetSpec
from neuro_deploy.sim.base import RunResult, RunSpec, register_backend, validate_run


def import_lava():
    """Import netx and Lava's run configuration, with the fix hint on failure."""
    from neuro_deploy._compat import lava_compat, quiet_imports

    lava_compat.install()  # the Python 3.11 shim for Lava (idempotent)

    try:
        with quiet_imports():
            from lava.lib.dl import netx
            from lava.magma.core.run_conditions import RunSteps
            from lava.magma.core.run_configs import Loihi2SimCfg
            from lava.proc import io
    except Exception as exc:  # pragma: no cover - depends on the environment
        raise EnvironmentProblem(
            f"Lava cannot be imported ({type(exc).__name__}: {exc}). Install it with "
            "`pip install --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0` "
            "(or `make install`)."
        ) from exc
    return netx, io, RunSteps, Loihi2SimCfg


#: Runs of at least this many steps go in :data:`PROGRESS_CHUNKS` consecutive ``run``
#: calls (the runtime continues where it paused: same result) to report progress.
CHUNK_MIN_STEPS = 1000
PROGRESS_CHUNKS = 10


def run_chunks(steps: int, min_steps: int = CHUNK_MIN_STEPS, chunks: int = PROGRESS_CHUNKS) -> list[int]:
    """Step counts of the consecutive Lava runs that make up one run of ``steps``."""
    if steps < min_steps:
        return [steps]
    size = -(-steps // chunks)
    return [min(size, steps - start) for start in range(0, steps, size)]


def run_one(net_spec: NetSpec, spec: RunSpec, sample: int = 0) -> dict[str, np.ndarray]:
    """Run one sample of ``spec`` through Lava; spikes per probed layer (Lava layout, T last)."""
    import io as _io
    import warnings

    netx, io, RunSteps, Loihi2SimCfg = import_lava()
    with contextlib.redirect_stdout(_io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = netx.hdf5.Network(
            net_config=net_spec.path, reset_interval=spec.reset_interval, reset_offset=spec.reset_offset
        )
    probes = list(enumerate(net.layers))
    if spec.probe == "output":
        probes = probes[-1:]
    sinks = []
    for k, layer in probes:
        sink = io.sink.RingBuffer(shape=layer.out.shape, buffer=spec.steps)
        layer.out.connect(sink.a_in)
        sinks.append((k, sink))
    if spec.input_bias is not None:
        net.in_layer.neuron.bias_mant.init = np.broadcast_to(
            spec.input_bias, net.in_layer.neuron.bias_mant.shape
        ).astype(np.int32)
    if spec.inputs is not None:
        source = io.source.RingBuffer(data=np.asarray(spec.inputs[sample]).astype(np.int32))
        if net_spec.layers[0].kind == "input":
            source.s_out.connect(net.in_layer.neuron.a_in)
        else:
            source.s_out.connect(net.inp)
    out: dict[str, np.ndarray] = {}
    with child_policy():
        try:
            run_cfg = Loihi2SimCfg(select_tag="fixed_pt")
            for n in run_chunks(spec.steps, CHUNK_MIN_STEPS, PROGRESS_CHUNKS):
                net.run(condition=RunSteps(num_steps=n), run_cfg=run_cfg)
                tick(n, "steps")
            for k, sink in sinks:
                out[f"layer{k}"] = np.asarray(sink.data.get())
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, SIGTERM: no STOP handshake
                abandon_runtime(net)
            else:
                with contextlib.suppress(Exception):
                    net.stop()
            raise
        with contextlib.suppress(Exception):
            net.stop()
    return out


def expanded_inputs(spec: RunSpec) -> np.ndarray | None:
    """Inputs repeated cyclically to ``spec.steps`` columns, as a ring buffer sends them."""
    if spec.inputs is None:
        return None
    x = np.asarray(spec.inputs)
    return x[..., np.arange(spec.steps) % x.shape[-1]]


def can_concatenate(net: NetSpec, spec: RunSpec) -> bool:
    """True when a batch can run as one Lava network with netx's staggered resets and
    give exactly what one network per sample gives.

    Sample k occupies steps ``k*R+1 .. (k+1)*R`` with ``R = steps``; layer j resets
    (u = v = 0) at ``k*R + 1 + j``, the step its first input of sample k can arrive.
    That equals an isolated run when nothing but the input drives the neurons before
    it (no bias), nothing is stored across steps outside u and v (no synaptic delays),
    the previous sample has left the one-step synapse buffers (the last input column
    of a sample is empty for a network that starts with a synapse), and the spikes a
    layer emits before its reset (left over from the previous sample) are dropped.
    """
    if spec.batch_size() < 2 or spec.reset_interval is not None or spec.input_bias is not None:
        return False
    if any(l.delay is not None or (l.bias is not None and np.any(l.bias)) for l in net.layers):
        return False
    if spec.steps <= len(net.layers):
        return False
    x = expanded_inputs(spec)
    if x is None:
        return True
    return net.layers[0].kind == "input" or not np.any(x[..., -1])


def run_concatenated(net: NetSpec, spec: RunSpec) -> dict[str, np.ndarray]:
    """Whole batch in one Lava run (see :func:`can_concatenate`), split per sample."""
    x = expanded_inputs(spec)
    b, r = spec.batch_size(), spec.steps
    joined = np.concatenate(list(x), axis=-1)[None] if x is not None else None
    one = RunSpec(steps=b * r, inputs=joined, reset_interval=r, reset_offset=0, probe=spec.probe)
    rec = run_one(net, one)
    out = {}
    for name, data in rec.items():
        j = int(name[len("layer") :])
        per = np.stack(np.split(data, b, axis=-1))
        per[..., :j] = 0
        out[name] = per
    return out


def _run_own_length(net: NetSpec, spec: RunSpec, sample: int) -> dict[str, np.ndarray]:
    """Sample ``sample`` alone for its own length, its record zero-padded to ``spec.steps``."""
    import dataclasses

    steps = int(spec.sample_steps()[sample])
    if steps == spec.steps:
        return run_one(net, spec, sample)
    x = None
    if spec.inputs is not None:
        data = np.asarray(spec.inputs)[sample : sample + 1]
        x = data[..., : min(data.shape[-1], steps)]  # the ring buffer's first `steps` columns
    one = dataclasses.replace(spec, steps=steps, inputs=x, lengths=None)
    out = run_one(net, one, 0)
    return {
        k: np.concatenate([v, np.zeros(v.shape[:-1] + (spec.steps - steps,), v.dtype)], axis=-1) for k, v in out.items()
    }


@register_backend("lava")
class LavaBackend:
    """Reference backend: Lava's CPU simulator.

    A batch runs as one network with staggered resets when that is provably the same
    as one network per sample (:func:`can_concatenate`), otherwise sample by sample.
    With per-sample ``lengths`` a sample run alone lasts exactly its length (the rest of
    its record is zero); in a concatenated run its spikes after its length are dropped,
    which is the same thing because the dynamics are causal.
    """

    name = "lava"

    def run(self, net: NetSpec, spec: RunSpec) -> RunResult:
        validate_run(net, spec)
        t0 = time.perf_counter()
        if can_concatenate(net, spec):
            spikes = run_concatenated(net, spec)
            for v in spikes.values():
                for b, n in enumerate(spec.sample_steps()):
                    v[b, ..., n:] = 0
            mode = "concatenated"
        else:
            per_sample = [_run_own_length(net, spec, i) for i in range(spec.batch_size())]
            spikes = {k: np.stack([s[k] for s in per_sample]) for k in per_sample[0]}
            mode = "per-sample"
        return RunResult(spikes=spikes, backend=self.name, wall_s=time.perf_counter() - t0, extra={"mode": mode})
