"""The one event type used everywhere: tonic's structured layout (x, y, t, p).

``t`` is in microseconds; ``p`` is 1 for ON (brighter) and 0 for OFF events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])

#: bytes read from the start of a file to find its signature (and kept: small files are never re-read)
HEAD_BYTES = 1 << 16


def make_events(x, y, t, p) -> np.ndarray:
    """Pack coordinate, time (µs) and polarity arrays into :data:`EVENT_DTYPE`."""
    n = len(t)
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def empty_events() -> np.ndarray:
    return np.empty(0, dtype=EVENT_DTYPE)


@dataclass(frozen=True)
class SensorSize:
    """Sensor geometry; ``source`` says where it came from (header, user, guessed)."""

    width: int
    height: int
    source: str = "header"

    @classmethod
    def parse(cls, text: str) -> "SensorSize":
        """``"WxH"`` (e.g. ``"34x34"``) as given by ``--sensor-size``."""
        try:
            w, h = (int(v) for v in text.lower().split("x"))
        except ValueError:
            from neuro_deploy.errors import BadInputError

            raise BadInputError(f"sensor size must look like WxH (e.g. 34x34), got {text!r}") from None
        if w < 1 or h < 1:
            from neuro_deploy.errors import BadInputError

            raise BadInputError(f"sensor size {text!r}: width and height must be >= 1")
        return cls(w, h, "user")

    def check_contains(self, events: np.ndarray, where: str = "recording") -> None:
        """Raise when an event lies outside ``width x height`` (a sensor size given by the
        user must hold the data: a file claiming 34x34 with x up to 53 is wrong)."""
        if not len(events):
            return
        x_lo, x_hi = int(events["x"].min()), int(events["x"].max())
        y_lo, y_hi = int(events["y"].min()), int(events["y"].max())
        if x_lo < 0 or y_lo < 0 or x_hi >= self.width or y_hi >= self.height:
            from neuro_deploy.errors import BadInputError

            raise BadInputError(
                f"{where}: events reach x {x_lo}..{x_hi}, y {y_lo}..{y_hi}, outside the sensor size "
                f"{self.width}x{self.height} ({self.source}); the data need at least "
                f"{x_hi + 1}x{y_hi + 1}"
            )
