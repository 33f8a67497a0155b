"""Event Stream (``.es``, Sepia / neuromorphic-paris) decoded by ``faery`` (Rust)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.formats.common import EventStream
from neuro_deploy.events.readers import register_reader
from neuro_deploy.events.types import SensorSize, make_events


def _faery_stream(path: Path):
    import faery

    return faery.events_stream_from_file(str(path))


@register_reader("es", (".es",), "Event Stream 2.x (DVS / ATIS / generic)",
                 sniff=lambda head: head.startswith(b"Event Stream"))
def open_es(path: Path, **_: str) -> EventStream:
    with open(path, "rb") as f:
        head = f.read(12)
    if head != b"Event Stream":
        raise CorruptRecordingError(path, 0, "missing 'Event Stream' signature")
    try:
        stream = _faery_stream(path)
        w, h = stream.dimensions()
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise CorruptRecordingError(path, 12, f"Event Stream header: {exc}") from None

    def chunks(cb: int) -> Iterator[np.ndarray]:
        try:
            for c in _faery_stream(path):
                yield make_events(c["x"], c["y"], c["t"].astype(np.int64), c["on"])
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            raise CorruptRecordingError(path, None, f"Event Stream body: {exc}") from None

    return EventStream(str(path), "es", SensorSize(int(w), int(h)), chunks)
