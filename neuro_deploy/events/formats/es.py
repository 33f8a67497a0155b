"""Event Stream (``.es``, Sepia / neuromorphic-paris) decoded by ``faery`` (Rust)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.formats.common import EventStream
from neuro_deploy.events.readers import register_reader
from neuro_deploy.events.types import SensorSize, make_events


def _decode_es(path: str):
    """Whole-file decode with ``faery`` (runs in an isolated child process). A decoder
    error part-way is returned (with the events before it), not raised."""
    import faery

    from neuro_deploy.events.types import EVENT_DTYPE

    stream = faery.events_stream_from_file(path)
    w, h = stream.dimensions()
    parts, error = [], None
    try:
        for c in stream:
            parts.append(make_events(c["x"], c["y"], c["t"].astype(np.int64), c["on"]))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a corrupt file
        error = f"{type(exc).__name__}: {exc}"
    return (np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)), (int(w), int(h)), error


@register_reader("es", (".es",), "Event Stream 2.x (DVS / ATIS / generic)",
                 sniff=lambda head: head.startswith(b"Event Stream"))
def open_es(path: Path, **_: str) -> EventStream:
    with open(path, "rb") as f:
        head = f.read(12)
    if head != b"Event Stream":
        raise CorruptRecordingError(path, 0, "missing 'Event Stream' signature")
    try:
        import faery  # noqa: F401 - imported here, once, not in every decoding child (0.3 s each)
    except ImportError:  # pragma: no cover
        from neuro_deploy.errors import EnvironmentProblem

        raise EnvironmentProblem("Event Stream needs the 'faery' package: pip install faery") from None
    from neuro_deploy.events.formats.common import run_isolated

    events, (w, h), error = run_isolated(_decode_es, (str(path),), path, "Event Stream")

    def chunks(cb: int) -> Iterator[np.ndarray]:
        per = max(1, cb // 16)
        for i in range(0, len(events), per):
            yield events[i:i + per]
        if error is not None:
            raise CorruptRecordingError(path, None, f"Event Stream: {error}")

    return EventStream(str(path), "es", SensorSize(w, h), chunks)
