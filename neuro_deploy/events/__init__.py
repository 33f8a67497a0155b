"""Events: readers for DVS recordings, the saccade emulator and spike-tensor binning."""

from neuro_deploy.events.readers import READERS, Recording, read_events
from neuro_deploy.events.tensor import bin_events, flatten_chw, from_lava_layout, to_lava_layout
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize, make_events

__all__ = [
    "EVENT_DTYPE",
    "READERS",
    "Recording",
    "SensorSize",
    "bin_events",
    "flatten_chw",
    "from_lava_layout",
    "make_events",
    "read_events",
    "to_lava_layout",
]
