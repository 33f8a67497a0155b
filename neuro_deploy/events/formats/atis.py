"""N-MNIST / ATIS 40-bit binary (``.bin``; SLAYER's ``.bs2``; the DVS Gesture clips here).

Each event is 5 bytes: ``x`` (8 b), ``y`` (8 b), polarity (MSB of byte 2) and a 23-bit
timestamp in µs. Words with ``y == 240`` are timestamp-overflow markers (the N-MNIST
convention, as tonic reads it): each adds ``2^13`` µs to all later events.

The format has no header, no signature and no geometry. A file is taken for one only when
its extension says so (``.bin``/``.bs2``) or ``--format nmnist-bin`` is given, and its
content then has to be plausible, strictly (any break is an error, see
:mod:`neuro_deploy.events.plausibility`): whole 5-byte records; y below 240 (240 marks an
overflow word, nothing above it exists) and, when a sensor is declared (``--sensor-size``),
every coordinate inside it - without one, x < 256 / y < 240 only, because the same layout
carries 34x34 N-MNIST, 128x128 DVS Gesture clips and N-Caltech101's ATIS frames; time never
decreasing; no more events in one microsecond than the (guessed) sensor has pixels.
Random bytes fail (about 6 % of records have y > 240 and half the timestamps go back), as
do runs of zeros (thousands of events at one pixel in one microsecond).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.formats.common import EventStream, iter_words
from neuro_deploy.events.plausibility import FormatLimits
from neuro_deploy.events.readers import register_reader
from neuro_deploy.events.types import SensorSize, make_events

OVERFLOW_Y = 240
OVERFLOW_US = 1 << 13


def decode_atis_words(words: np.ndarray, overflows_before: int = 0) -> tuple[np.ndarray, int]:
    """(N, 5) uint8 -> events, and the overflow count after these words."""
    ev = words.astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    p = ev[:, 2] >> 7
    t = ((ev[:, 2] & 127) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    overflow = y == OVERFLOW_Y
    count = overflows_before + int(overflow.sum())
    if overflow.any() or overflows_before:
        t = t + (np.cumsum(overflow) + overflows_before) * OVERFLOW_US
        keep = ~overflow
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    return make_events(x, y, t, p), count


def decode_atis_bin(raw: np.ndarray, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode N-MNIST 40-bit bytes (a whole file's ``uint8`` array) into events."""
    if raw.size % 5:
        raise CorruptRecordingError(path, raw.size - raw.size % 5,
                                    f"truncated: {raw.size % 5} trailing byte(s) of a 5-byte event")
    return decode_atis_words(raw.reshape(-1, 5))[0]


#: x is 8 bits, y = 240 is the overflow marker: no record may exceed this without a declared sensor
ATIS_LIMITS = FormatLimits(bound=(256, OVERFLOW_Y), bound_source="8-bit x, y below the overflow "
                           "marker 240", strict=True)


@register_reader("nmnist-bin", (".bin", ".bs2"),
                 "N-MNIST / ATIS 40-bit binary (also SLAYER .bs2, DVS Gesture clips)",
                 limits=ATIS_LIMITS, headerless=True)
def open_atis_bin(path: Path, **_: str) -> EventStream:
    dt = np.dtype((np.uint8, 5))

    def chunks(cb: int) -> Iterator[np.ndarray]:
        over = 0
        for _, words in iter_words(path, 0, dt, cb, "40-bit event"):
            ev, over = decode_atis_words(words.reshape(-1, 5), over)
            yield ev

    size = None
    n = path.stat().st_size // 5
    if n:
        # geometry is not stored: the known datasets in this layout are 34x34 and 128x128
        head = np.fromfile(path, np.uint8, count=min(n, 200_000) * 5).reshape(-1, 5)
        head = head[head[:, 1] != OVERFLOW_Y]
        if len(head):
            w, h = int(head[:, 0].max()) + 1, int(head[:, 1].max()) + 1
            size = next((SensorSize(*k, source="guessed from coordinates") for k in ((34, 34), (128, 128))
                         if w <= k[0] and h <= k[1]), SensorSize(w, h, "guessed from coordinates"))
    return EventStream(str(path), "nmnist-bin", size, chunks)
