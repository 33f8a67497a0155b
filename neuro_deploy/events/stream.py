"""Streaming a recording in bounded memory: fixed event counts or fixed time windows."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from neuro_deploy.events.readers import open_events
from neuro_deploy.events.types import EVENT_DTYPE


def iter_event_chunks(
    path: str | Path,
    *,
    events: int | None = None,
    window_us: int | None = None,
    fmt: str | None = None,
    read_bytes: int = 8 * 2**20,
    **options: str,
) -> Iterator[np.ndarray]:
    """Yield consecutive slices of a recording.

    Exactly one of ``events`` (slices of that many events; the last may be shorter) or
    ``window_us`` (slices covering ``[t0 + k*w, t0 + (k+1)*w)``, ``t0`` = first event's
    time; empty windows are yielded as empty arrays so that slice k always means window k)
    must be given. Memory is bounded by ``read_bytes`` of file plus one slice.
    """
    if (events is None) == (window_us is None):
        raise ValueError("give exactly one of events= or window_us=")
    stream = open_events(path, fmt, **options)
    pending = np.empty(0, EVENT_DTYPE)
    if events is not None:
        for chunk in stream.chunks(read_bytes):
            pending = np.concatenate([pending, chunk]) if len(pending) else chunk
            while len(pending) >= events:
                yield pending[:events]
                pending = pending[events:]
        if len(pending):
            yield pending
        return
    start: int | None = None
    for chunk in stream.chunks(read_bytes):
        if not len(chunk):
            continue
        if start is None:
            start = int(chunk["t"][0])
        pending = np.concatenate([pending, chunk]) if len(pending) else chunk
        last = int(pending["t"][-1])
        while last >= start + window_us:
            cut = int(np.searchsorted(pending["t"], start + window_us, side="left"))
            yield pending[:cut]
            pending = pending[cut:]
            start += window_us
    if len(pending):
        yield pending
