"""Activity counts from simulated spikes, and (later) energy and latency from them."""

from neuro_deploy.energy.counts import LayerCounts, count_activity

__all__ = ["LayerCounts", "count_activity"]
