"""Could a camera have produced these events? Garbage becomes an error or a loud warning.

A decoder turns any bytes into *some* events; these checks, run over every decoded
recording (in :meth:`~neuro_deploy.events.formats.common.EventStream.chunks`), say whether
a sensor could have produced them:

1. **Coordinates inside the sensor** - the *declared* one (the file's header, or the user's
   ``--sensor-size``); without one, the format's own coordinate limit
   (:attr:`FormatLimits.bound`: e.g. y < 240 in N-MNIST binaries, where y = 240 marks a
   timestamp-overflow word; 1280x720 for Prophesee RAW, the largest sensor writing it).
2. **Time order** - after the decoder has unwrapped the format's timer (EVT 3.0 TIME_HIGH
   2^24 us, EVT 2.0 TIME_HIGH 2^34 us, N-MNIST overflow words 2^13 us, jAER int32 2^32 us,
   AEDAT 3.1 31-bit + overflow, DAT uint32 2^32 us) timestamps never decrease.
3. **Event rate** - a DVS pixel fires at most once per microsecond (its refractory period
   is longer), so no timestamp holds more events than the sensor has pixels (declared,
   else the reader's guess, else the coordinate extent).

Verdict over the whole recording (so it never depends on chunk sizes):

* **error** (:class:`~neuro_deploy.errors.ImplausibleRecordingError`) when more than
  :data:`ERROR_FRACTION` of the events break rule 1 against a declared sensor or rule 2,
  or when rule 3 is broken at all. Formats with no header at all (``strict``: the N-MNIST
  ``.bin``, identified by nothing but this content check) error on *any* break of rule 1 or 2;
* a **warning** (``Recording.meta["warnings"]``, printed by the CLI) for fewer breaks, for
  coordinates beyond the format's limit when no sensor is declared, and for unsorted time
  in array containers (``.npy``/``.npz``/``.h5``/``.csv``: user-made, sorting is optional).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: more than this fraction of the events outside the declared sensor, or out of time
#: order, makes a recording an error instead of a warning
ERROR_FRACTION = 0.01


@dataclass(frozen=True)
class FormatLimits:
    """What a format's own definition says about plausible content."""

    #: (width, height) coordinates must stay below when no sensor is declared; None = no limit
    bound: tuple[int, int] | None = None
    #: what ``bound`` is, for messages
    bound_source: str = ""
    #: no header or signature: the content checks are the only identification -> any break errors
    strict: bool = False
    #: False for array containers, where unsorted time is only a warning
    time_ordered: bool = True


ARRAY_LIMITS = FormatLimits(time_ordered=False)


@dataclass
class Tally:
    """Running counts of one recording's plausibility breaks, updated chunk by chunk.

    ``sensor`` is (width, height, declared?) to test rule 1 against, or None. The counts
    live in ``state`` (:data:`neuro_deploy.events.kernels.TALLY_FIELDS`); the compiled
    decoders update it block by block as they decode (:meth:`fused`, :meth:`add`),
    anything else through :meth:`update` - the same function either way
    (:func:`neuro_deploy.events.kernels.tally_block`), whose result does not depend on
    the block boundaries.
    """

    sensor: tuple[int, int, bool] | None
    events: int = 0
    state: np.ndarray = field(default_factory=lambda: np.array([0, 0, 0, 0, 0, 0, -1, -1, 0], np.int64))

    def fused(self) -> tuple[np.ndarray, int, int]:
        """(state, width, height) for a decoder that tallies as it decodes (width 0: no sensor)."""
        w, h = (self.sensor[0], self.sensor[1]) if self.sensor else (0, 0)
        return self.state, w, h

    def add(self, n: int) -> None:
        """``n`` events were tallied by a fused decoder."""
        self.events += n

    def update(self, ev: np.ndarray) -> None:
        if not len(ev):
            return
        from neuro_deploy.events.kernels import scan

        st, w, h = self.fused()
        scan(ev, w, h, st)
        self.events += len(ev)

    @property
    def outside(self) -> int:
        return int(self.state[0])

    @property
    def backward(self) -> int:
        return int(self.state[1])


@dataclass(frozen=True)
class Verdict:
    errors: list[str]
    warnings: list[str]


def _pct(k: int, n: int) -> str:
    return f"{k:,} of {n:,} events ({100.0 * k / max(1, n):.2g} %)"


def verdict(tally: Tally, limits: FormatLimits, fmt: str, pixels_fallback: tuple[int, int] | None = None) -> Verdict:
    """Rules 1-3 of the module docstring over a finished :class:`Tally`.

    ``pixels_fallback``: the reader's (guessed) sensor, used by rule 3 when none is declared.
    """
    errors: list[str] = []
    warnings: list[str] = []
    n = tally.events
    if n == 0:
        return Verdict(errors, warnings)
    st = tally.state
    x_max, y_max = int(st[6]), int(st[7])
    if tally.sensor is not None and tally.outside:
        w, h, declared = tally.sensor
        what = (
            f"outside the declared {w}x{h} sensor"
            if declared
            else f"beyond {fmt}'s limit {w}x{h} ({limits.bound_source})"
        )
        msg = f"{_pct(tally.outside, n)} lie {what} (x up to {x_max}, y up to {y_max})"
        if (declared or limits.strict) and (limits.strict or tally.outside > ERROR_FRACTION * n):
            errors.append(msg)
        else:
            warnings.append(msg + "; binning drops them")
    if tally.backward:
        msg = f"time runs backwards at {_pct(tally.backward, n)}"
        if limits.time_ordered and (limits.strict or tally.backward > ERROR_FRACTION * n):
            errors.append(msg + f" (after {fmt}'s timer wrap is unwrapped)")
        else:
            warnings.append(msg + ("" if limits.time_ordered else " (an unsorted array)"))
    if tally.sensor is not None and tally.sensor[2]:
        w, h = tally.sensor[0], tally.sensor[1]
    elif pixels_fallback is not None:
        w, h = pixels_fallback
    else:
        w, h = x_max + 1, y_max + 1
    max_run = int(st[3])
    if max_run > max(1, w * h):
        errors.append(
            f"{max_run:,} events share the timestamp {int(st[8])} us but a {w}x{h} sensor "
            f"has {w * h:,} pixels, each firing at most once per microsecond"
        )
    return Verdict(errors, warnings)
