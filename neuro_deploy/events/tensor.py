"""Events to spike tensors: time binning with a given ``dt_us``.

:class:`Binning` is the one binning of the toolkit: training, ``evaluate``, ``replay``
and ``report`` all lay a recording's time axis out with it, so one model scores one
file the same way on every path. It is stored with the model (checkpoint
``ModelConfig`` and the netx ``neuro_deploy`` metadata: ``dt_us``, ``num_steps``,
``time_origin``):

* ``dt_us``: microseconds per step;
* ``time_origin`` (:data:`TIME_ORIGINS`): where step 0 starts. ``"zero"`` (the default,
  what every data set and checkpoint has used) is the recording's own clock: bin *k*
  holds ``k*dt <= t < (k+1)*dt``. This is right when the clock starts with the stimulus
  (N-MNIST, emulated saccades). ``"first-event"`` starts at the recording's first event,
  for recordings on an arbitrary clock (camera timestamps, cut files);
* ``num_steps``: a fixed window (every recording gets exactly that many steps, zero
  padded or cut), or ``None``: each recording's own length, from the origin through its
  last event.

The tensor layout is (C=2, H, W, T): channel 0 = OFF, 1 = ON, ``T = ceil(duration_us /
dt_us)``. :func:`flatten_chw` turns it into (C*H*W, T) in the C-order that lava-dl's
``slayer.io`` uses (``index = c*H*W + y*W + x``), which is what a dense netx network's
input expects; :func:`to_lava_layout` gives (W, H, C, T), what a netx conv/input layer
expects.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from neuro_deploy.errors import BadInputError, UnknownNameError

#: Where step 0 of a recording starts (see module docstring).
TIME_ORIGINS = {
    "zero": "t = 0 of the recording's own clock (N-MNIST, emulated data sets)",
    "first-event": "the recording's first event (recordings on an arbitrary clock)",
}
DEFAULT_TIME_ORIGIN = "zero"
#: A recording binned to more steps than this is taken to be on another clock.
MAX_STEPS = 1_000_000


def bin_events(
    events: np.ndarray,
    sensor: tuple[int, int],
    dt_us: int,
    num_steps: int,
    t0_us: int | None = None,
    binary: bool = True,
) -> np.ndarray:
    """Count events per (polarity, y, x, step) in ``num_steps`` bins of ``dt_us``.

    Bin ``k`` holds events with ``t0 + k*dt <= t < t0 + (k+1)*dt``; ``t0`` defaults to 0
    (the recording's own clock). Events outside the sensor or window are dropped. With
    ``binary`` a bin holds 1 if any event fell in it (a spike), else the count (uint8,
    saturating at 255).
    """
    width, height = sensor
    out = np.zeros((2, height, width, num_steps), dtype=np.uint8)
    if len(events) == 0:
        return out
    from neuro_deploy.events.kernels import bin_events as kernel
    from neuro_deploy.events.types import EVENT_DTYPE

    ev = events if events.dtype == EVENT_DTYPE else events.astype(EVENT_DTYPE)
    return kernel(
        ev, int(width), int(height), int(dt_us), int(num_steps), 0 if t0_us is None else int(t0_us), bool(binary), out
    )


def flatten_chw(tensor: np.ndarray) -> np.ndarray:
    """(C, H, W, T) -> (C*H*W, T)."""
    return tensor.reshape(-1, tensor.shape[-1])


def to_lava_layout(tensor: np.ndarray, time_axis: bool = True) -> np.ndarray:
    """(..., C, H, W, T) -> (..., W, H, C, T), the (x, y, z) order of Lava's netx ports, for
    any leading (batch) axes; ``time_axis=False``: (..., C, H, W) -> (..., W, H, C). A view.

    The one layout conversion between our tensors (C,H,W as netx files store shapes) and
    Lava's ports; it is its own inverse (:func:`from_lava_layout`)."""
    return np.swapaxes(tensor, -4, -2) if time_axis else np.swapaxes(tensor, -3, -1)


def from_lava_layout(tensor: np.ndarray, time_axis: bool = True) -> np.ndarray:
    """(..., W, H, C, T) -> (..., C, H, W, T) (``time_axis=False``: without T): the inverse of
    :func:`to_lava_layout` (the same axis swap)."""
    return to_lava_layout(tensor, time_axis)


@dataclass(frozen=True)
class Binning:
    """How recordings become spike tensors (module docstring): ``dt_us``, ``time_origin``
    and a fixed window ``num_steps`` (``None``: each recording's own length)."""

    dt_us: int
    time_origin: str = DEFAULT_TIME_ORIGIN
    num_steps: int | None = None

    def __post_init__(self) -> None:
        if int(self.dt_us) < 1:
            raise BadInputError(f"dt_us must be a positive number of microseconds, got {self.dt_us}")
        if self.time_origin not in TIME_ORIGINS:
            raise UnknownNameError("time origin", self.time_origin, TIME_ORIGINS)
        if self.num_steps is not None and int(self.num_steps) < 1:
            raise BadInputError(f"steps per recording must be >= 1, got {self.num_steps}")

    def origin_us(self, events: np.ndarray) -> int:
        """Timestamp of the start of step 0 for this recording."""
        if self.time_origin == "first-event" and len(events):
            return int(events["t"].min())
        return 0

    def length(self, events: np.ndarray, what: str = "recording") -> int:
        """Steps of this recording: the window, or origin through last event (>= 1)."""
        if self.num_steps is not None:
            return int(self.num_steps)
        if not len(events):
            return 1
        span = int(events["t"].max()) - self.origin_us(events) + 1
        steps = max(1, math.ceil(span / self.dt_us))
        if steps > MAX_STEPS:
            raise BadInputError(
                f"{what}: binned from t = {self.origin_us(events)} us (time origin {self.time_origin!r}) at "
                f"{self.dt_us} us per step it spans {steps} steps; its clock does not start near 0 "
                "(pass --time-origin first-event, or --steps)"
            )
        return steps

    def bin(
        self,
        events: np.ndarray,
        sensor: tuple[int, int],
        what: str = "recording",
        binary: bool = True,
        check: bool = True,
    ) -> np.ndarray:
        """(2, H, W, T) tensor of one recording (:func:`bin_events` from the origin).

        With ``check`` a recording none of whose events falls in its steps is an error
        and a long empty lead-in before the first event a warning (both mean the origin
        does not suit the recording's clock)."""
        t0 = self.origin_us(events)
        steps = self.length(events, what)
        if check and len(events):
            first = (int(events["t"].min()) - t0) // self.dt_us
            last = (int(events["t"].max()) - t0) // self.dt_us
            if first >= steps or last < 0:
                raise BadInputError(
                    f"{what}: no event falls in the {steps} steps of {self.dt_us} us from t = {t0} us "
                    f"(events at {int(events['t'].min())}..{int(events['t'].max())} us, time origin "
                    f"{self.time_origin!r}); pass --time-origin first-event or a longer --steps"
                )
            active = last - first + 1
            if self.time_origin == "zero" and first >= 10 and first > active:
                warnings.warn(
                    f"{what}: first event at t = {int(events['t'].min())} us; binned from t = 0 "
                    f"its first {first} steps are empty (--time-origin first-event bins from "
                    "the first event)",
                    stacklevel=2,
                )
        return bin_events(events, sensor, self.dt_us, steps, t0_us=t0, binary=binary)
