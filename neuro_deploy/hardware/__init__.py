"""Hardware profiles (limits and per-operation costs) and the fit/mapping check."""

from neuro_deploy.hardware.profile import HardwareProfile, load_profile

__all__ = ["HardwareProfile", "load_profile"]
