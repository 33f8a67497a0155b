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
from neuro_deploy.events.formats.common import EventStream, decode_words
from neuro_deploy.events.plausibility import FormatLimits, Tally
from neuro_deploy.events.readers import HEAD_BYTES, register_reader
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize

OVERFLOW_Y = 240
OVERFLOW_US = 1 << 13
#: one 40-bit record
RECORD = np.dtype((np.uint8, 5))


def decode_atis_words(words: np.ndarray, overflows_before: int = 0) -> tuple[np.ndarray, int]:
    """(N, 5) uint8 -> events, and the overflow count after these words."""
    from neuro_deploy.events.kernels import atis_decode

    ev = np.empty(len(words), EVENT_DTYPE)
    recs = np.array(words, dtype=np.uint8).reshape(-1, 5)
    recs.flags.writeable = False
    n, over = atis_decode(recs, int(overflows_before), ev, np.zeros(9, np.int64), 0, 0)
    return ev[:n], int(over)


def decode_atis_bin(raw: np.ndarray, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode N-MNIST 40-bit bytes (a whole file's ``uint8`` array) into events."""
    if raw.size % 5:
        raise CorruptRecordingError(
            path, raw.size - raw.size % 5, f"truncated: {raw.size % 5} trailing byte(s) of a 5-byte event"
        )
    return decode_atis_words(raw.reshape(-1, 5))[0]


#: x is 8 bits, y = 240 is the overflow marker: no record may exceed this without a declared sensor
ATIS_LIMITS = FormatLimits(
    bound=(256, OVERFLOW_Y), bound_source="8-bit x, y below the overflow marker 240", strict=True
)
#: records read to guess the geometry (the format stores none)
GUESS_RECORDS = 200_000


@register_reader(
    "nmnist-bin",
    (".bin", ".bs2"),
    "N-MNIST / ATIS 40-bit binary (also SLAYER .bs2, DVS Gesture clips)",
    limits=ATIS_LIMITS,
    headerless=True,
)
def open_atis_bin(path: Path, head: bytes | None = None, **_: str) -> EventStream:
    dt = RECORD

    def chunks(cb: int, tally: Tally) -> Iterator[np.ndarray]:
        from neuro_deploy.events.kernels import atis_decode

        over = 0
        st, w, h = tally.fused()

        def decode(words: np.ndarray, out: np.ndarray) -> tuple[int, int]:
            nonlocal over
            n, over = atis_decode(words, over, out, st, w, h)
            tally.add(n)
            return n, len(words)

        yield from decode_words(path, 0, dt, cb, "40-bit event", head, decode)

    size = None
    whole = head is not None and len(head) < HEAD_BYTES
    n = (len(head) if whole else path.stat().st_size) // 5
    if n:
        # geometry is not stored: the known datasets in this layout are 34x34 and 128x128
        k = min(n, GUESS_RECORDS)
        recs = (
            np.frombuffer(head, np.uint8, count=k * 5) if whole else np.fromfile(path, np.uint8, count=k * 5)
        ).reshape(-1, 5)
        recs.flags.writeable = False  # as the view of head: one compiled kernel
        from neuro_deploy.events.kernels import atis_extent

        xm, ym = atis_extent(recs)
        if xm >= 0:
            w, h = int(xm) + 1, int(ym) + 1
            size = next(
                (
                    SensorSize(*k, source="guessed from coordinates")
                    for k in ((34, 34), (128, 128))
                    if w <= k[0] and h <= k[1]
                ),
                SensorSize(w, h, "guessed from coordinates"),
            )
    return EventStream(str(path), "nmnist-bin", size, chunks, tallies=True)
