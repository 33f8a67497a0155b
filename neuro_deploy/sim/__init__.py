"""Simulators: the ``lava`` oracle, the bit-exact ``fast`` backend and the ``float``
model of a checkpoint, by name."""

from neuro_deploy.sim.base import BACKENDS, RunResult, RunSpec, get_backend

__all__ = ["BACKENDS", "RunResult", "RunSpec", "get_backend", "load_network", "run_network"]


def load_network(path):
    """A netx file (:class:`~neuro_deploy.netx.NetSpec`) or a checkpoint (``.pt``, run by
    the ``float`` backend)."""
    from neuro_deploy.sim.float_model import load_network as _load

    return _load(path)


def run_network(net, spec: RunSpec, backend: str = "fast") -> RunResult:
    """Run a :class:`~neuro_deploy.netx.NetSpec` (or a netx path) on a backend."""
    from neuro_deploy.netx import load_netx

    if not hasattr(net, "layers"):
        net = load_netx(net)
    return get_backend(backend).run(net, spec)
