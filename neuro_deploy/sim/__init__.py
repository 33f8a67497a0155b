"""Simulators: the ``lava`` oracle and the bit-exact ``fast`` backend, by name."""
from neuro_deploy.sim.base import BACKENDS, RunResult, RunSpec, get_backend

__all__ = ["BACKENDS", "RunResult", "RunSpec", "get_backend", "run_network"]


def run_network(net, spec: RunSpec, backend: str = "fast") -> RunResult:
    """Run a :class:`~neuro_deploy.netx.NetSpec` (or a netx path) on a backend."""
    from neuro_deploy.netx import load_netx

    if not hasattr(net, "layers"):
        net = load_netx(net)
    return get_backend(backend).run(net, spec)
