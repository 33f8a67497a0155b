"""Event-file readers into :data:`~neuro_deploy.events.types.EVENT_DTYPE`, by format.

Readers are registered in :data:`READERS` with the file extensions they claim and an
optional content sniffer; :func:`read_events` picks one and returns a
:class:`Recording`. Every reader raises
:class:`~neuro_deploy.errors.CorruptRecordingError` (file, byte offset, reason) for
truncated or corrupt input rather than returning garbage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from neuro_deploy.errors import CorruptRecordingError, UnknownFormatError
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize, make_events


@dataclass
class Recording:
    """Decoded events plus what the file said about itself."""

    path: str
    format: str
    events: np.ndarray
    sensor_size: SensorSize | None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReaderInfo:
    name: str
    extensions: tuple[str, ...]
    read: Callable[[Path], Recording]
    sniff: Callable[[bytes], bool] | None = None
    description: str = ""


READERS: dict[str, ReaderInfo] = {}


def register_reader(name: str, extensions: tuple[str, ...], description: str = "",
                    sniff: Callable[[bytes], bool] | None = None):
    def deco(fn: Callable[[Path], Recording]) -> Callable[[Path], Recording]:
        READERS[name] = ReaderInfo(name, extensions, fn, sniff, description)
        return fn
    return deco


def decode_atis_bin(raw: np.ndarray, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode the N-MNIST / ATIS 40-bit event layout, vectorized.

    Each event is 5 bytes: ``x`` (8 b), ``y`` (8 b), then polarity (1 b, MSB of byte 2)
    and a 23-bit timestamp in µs. Words with ``y == 240`` are timestamp-overflow markers
    (the N-MNIST convention, as tonic reads it): each adds ``2^13`` µs to all later events.
    """
    if raw.size % 5:
        whole = raw.size - raw.size % 5
        raise CorruptRecordingError(path, whole, f"truncated: {raw.size % 5} trailing byte(s) "
                                                 "of a 5-byte event")
    ev = raw.reshape(-1, 5).astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    p = ev[:, 2] >> 7
    t = ((ev[:, 2] & 127) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    overflow = y == 240
    if overflow.any():
        t = t + np.cumsum(overflow) * (1 << 13)
        keep = ~overflow
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    return make_events(x, y, t, p)


@register_reader("nmnist-bin", (".bin", ".bs2"),
                 "N-MNIST / ATIS 40-bit binary (also SLAYER .bs2, DVS Gesture clips)")
def read_atis_bin(path: Path) -> Recording:
    raw = np.fromfile(path, dtype=np.uint8)
    ev = decode_atis_bin(raw, path)
    size = None
    if len(ev):
        w, h = int(ev["x"].max()) + 1, int(ev["y"].max()) + 1
        for known in ((34, 34), (128, 128)):
            if w <= known[0] and h <= known[1]:
                size = SensorSize(*known, source="guessed from coordinates")
                break
    return Recording(str(path), "nmnist-bin", ev, size)


def read_events(path: str | Path, fmt: str | None = None) -> Recording:
    """Read a recording, by explicit ``fmt`` name or by extension (then content)."""
    path = Path(path)
    if not path.is_file():
        raise CorruptRecordingError(path, None, "no such file")
    if fmt is not None:
        if fmt not in READERS:
            from neuro_deploy.errors import UnknownNameError

            raise UnknownNameError("event format", fmt, READERS)
        return READERS[fmt].read(path)
    ext = path.suffix.lower()
    candidates = [r for r in READERS.values() if ext in r.extensions]
    if len(candidates) > 1:
        head = path.open("rb").read(4096)
        sniffed = [r for r in candidates if r.sniff is not None and r.sniff(head)]
        candidates = sniffed or candidates
    if not candidates:
        raise UnknownFormatError(path, [f"{r.name} ({', '.join(r.extensions)})"
                                        for r in READERS.values()])
    return candidates[0].read(path)


__all__ = ["EVENT_DTYPE", "READERS", "Recording", "decode_atis_bin", "read_events",
           "register_reader"]
