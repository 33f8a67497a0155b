"""The ``lava`` backend: lava-dl netx + Lava's ``Loihi2SimCfg(select_tag='fixed_pt')``.

This is the reference oracle. One Lava network is built per sample; every probed
layer gets an ``io.sink.RingBuffer`` on its ``out`` port. Inputs come from an
``io.source.RingBuffer``: into ``net.inp`` when the first block is a synapse layer, and
into the input neuron's ``a_in`` when the first block is a netx ``Input`` (whose ``inp``
port netx leaves unconnected; lava-dl's tutorials wire encoders there the same way).
The network is always stopped, also on errors and Ctrl-C, so no worker process is
left behind.
"""
from __future__ import annotations

import time

import numpy as np

from neuro_deploy.errors import EnvironmentProblem
from neuro_deploy.netx.spec import NetSpec
from neuro_deploy.sim.base import RunResult, RunSpec, register_backend, validate_run


def import_lava():
    """Import netx and Lava's run configuration, with the fix hint on failure."""
    import neuro_deploy  # noqa: F401  (installs the Python 3.11 shim)

    try:
        from lava.lib.dl import netx
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc import io
    except Exception as exc:  # pragma: no cover - depends on the environment
        raise EnvironmentProblem(
            f"Lava cannot be imported ({type(exc).__name__}: {exc}). Install it with "
            "`pip install --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0` "
            "(or `make install`).") from exc
    return netx, io, RunSteps, Loihi2SimCfg


def run_one(net_spec: NetSpec, spec: RunSpec, sample: int = 0) -> dict[str, np.ndarray]:
    """Run one sample of ``spec`` through Lava; spikes per probed layer (Lava layout, T last)."""
    import contextlib
    import io as _io
    import warnings

    netx, io, RunSteps, Loihi2SimCfg = import_lava()
    with contextlib.redirect_stdout(_io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = netx.hdf5.Network(net_config=net_spec.path, reset_interval=spec.reset_interval,
                                reset_offset=spec.reset_offset)
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
            spec.input_bias, net.in_layer.neuron.bias_mant.shape).astype(np.int32)
    if spec.inputs is not None:
        source = io.source.RingBuffer(data=np.asarray(spec.inputs[sample]).astype(np.int32))
        if net_spec.layers[0].kind == "input":
            source.s_out.connect(net.in_layer.neuron.a_in)
        else:
            source.s_out.connect(net.inp)
    out: dict[str, np.ndarray] = {}
    try:
        net.run(condition=RunSteps(num_steps=spec.steps),
                run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        for k, sink in sinks:
            out[f"layer{k}"] = np.asarray(sink.data.get())
    finally:
        try:
            net.stop()
        except Exception:  # pragma: no cover - stopping a failed runtime
            pass
    return out


@register_backend("lava")
class LavaBackend:
    """Reference backend: Lava's CPU simulator, one network instance per sample."""

    name = "lava"

    def run(self, net: NetSpec, spec: RunSpec) -> RunResult:
        validate_run(net, spec)
        t0 = time.perf_counter()
        per_sample = [run_one(net, spec, i) for i in range(spec.batch_size())]
        spikes = {k: np.stack([s[k] for s in per_sample]) for k in per_sample[0]}
        return RunResult(spikes=spikes, backend=self.name, wall_s=time.perf_counter() - t0)
