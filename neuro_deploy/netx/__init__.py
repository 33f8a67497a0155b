"""netx HDF5: read any lava-dl netx file into a typed :class:`NetSpec`, write our exports."""

from neuro_deploy.netx.spec import LayerSpec, NetSpec, NeuronSpec, load_netx

__all__ = ["LayerSpec", "NetSpec", "NeuronSpec", "load_netx"]
