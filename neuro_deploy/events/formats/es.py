"""Event Stream (``.es``, Sepia / neuromorphic-paris), version 2.x, DVS and ATIS types.

Header: ``Event Stream``, version (major, minor, patch bytes; major must be 2), the event
type (0 generic, 1 DVS, 2 ATIS, 4 color), then for DVS/ATIS the sensor width and height
(little-endian uint16). Events are byte-coded time differences followed by x and y
(little-endian uint16 each); the exact coding and the y flip (rows are counted from the
bottom) are in :func:`neuro_deploy.events.kernels.es_decode`, which reproduces faery's
decoder (``faery.events_stream_from_file``; ATIS exposure measurements are skipped, as
faery does). Generic and color streams hold no polarity events and are refused.

Decoded in-process by a compiled kernel that checks every coordinate against the header's
sensor and never reads past the file: a damaged file is a
:class:`~neuro_deploy.errors.CorruptRecordingError` at the byte where it breaks, after the
events before it. An event cut off by the end of the file is dropped (as faery does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.formats.common import EventStream
from neuro_deploy.events.plausibility import Tally
from neuro_deploy.events.readers import HEAD_BYTES, register_reader
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize

SIGNATURE = b"Event Stream"
TYPES = {0: "generic", 1: "dvs", 2: "atis", 4: "color"}


def read_header(path: Path, head: bytes) -> tuple[str, SensorSize, int]:
    """(event type, sensor, byte offset of the first event) from the file's first bytes."""
    if not head.startswith(SIGNATURE):
        raise CorruptRecordingError(path, 0, "missing 'Event Stream' signature")
    if len(head) < 16:
        raise CorruptRecordingError(path, len(head), "truncated inside the Event Stream header")
    major, minor, patch, kind = head[12], head[13], head[14], head[15]
    if major != 2:
        raise CorruptRecordingError(path, 12, f"Event Stream version {major}.{minor}.{patch}; only 2.x is read")
    if kind not in TYPES:
        raise CorruptRecordingError(path, 15, f"unknown Event Stream event type {kind}")
    if TYPES[kind] not in ("dvs", "atis"):
        raise CorruptRecordingError(
            path,
            15,
            f"an Event Stream of {TYPES[kind]} events holds no polarity events (DVS and ATIS streams are read)",
        )
    if len(head) < 20:
        raise CorruptRecordingError(path, len(head), "truncated inside the Event Stream header")
    width = head[16] | (head[17] << 8)
    height = head[18] | (head[19] << 8)
    return TYPES[kind], SensorSize(width, height), 20


@register_reader("es", (".es",), "Event Stream 2.x (DVS / ATIS)", sniff=lambda head: head.startswith(SIGNATURE))
def open_es(path: Path, head: bytes | None = None, **_: str) -> EventStream:
    if head is None:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    kind, size, offset = read_header(path, head)

    def chunks(cb: int, tally: Tally) -> Iterator[np.ndarray]:
        from neuro_deploy.events.formats.common import BLOCK_BYTES, FileBlocks
        from neuro_deploy.events.kernels import ERRORS, es_decode

        st, w, h = tally.fused()
        pos, t = offset, 0
        with FileBlocks(path, head) as blocks:
            end = blocks.size
            while pos < end:
                c1 = min(end, pos + max(cb, BLOCK_BYTES))  # this chunk: up to c1, + one block
                ev = np.empty((min(end, c1 + BLOCK_BYTES) - pos) // 5 + 1, EVENT_DTYPE)
                n, cut = 0, False
                while pos < c1:
                    block = blocks.read(pos, BLOCK_BYTES)
                    k, stop, t, err, epos = es_decode(
                        block, 0, len(block), t, size.width, size.height, kind == "atis", ev[n:], st, w, h
                    )
                    tally.add(k)
                    n += k
                    if err:
                        if n:
                            yield ev[:n]
                        raise CorruptRecordingError(
                            path, pos + epos, f"Event Stream: {ERRORS[err]} {size.width}x{size.height} of its header"
                        )
                    if stop == 0:  # only an event cut off by the end of the file
                        cut = True
                        break
                    pos += stop
                if n:
                    yield ev[:n]
                if cut:
                    break

    return EventStream(str(path), "es", size, chunks, {"event_type": kind}, tallies=True)
