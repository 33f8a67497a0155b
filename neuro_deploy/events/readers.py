"""Event-file readers into :data:`~neuro_deploy.events.types.EVENT_DTYPE`, by format.

Readers live in :mod:`neuro_deploy.events.formats` and register here with the
extensions they claim and a content sniffer; :func:`open_events` picks one (by name,
else by extension, then content) and returns an
:class:`~neuro_deploy.events.formats.common.EventStream` whose ``chunks()`` stream the
file in bounded memory; :func:`read_events` reads it whole into a :class:`Recording`.
Truncated or corrupt input raises
:class:`~neuro_deploy.errors.CorruptRecordingError` (file, byte offset, reason); an
unknown format raises :class:`~neuro_deploy.errors.UnknownFormatError` listing the
supported ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from neuro_deploy.errors import CorruptRecordingError, UnknownFormatError, UnknownNameError
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize


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
    open: Callable[[Path], "object"]
    sniff: Callable[[bytes], bool] | None = None
    description: str = ""


READERS: dict[str, ReaderInfo] = {}


def register_reader(name: str, extensions: tuple[str, ...], description: str = "",
                    sniff: Callable[[bytes], bool] | None = None):
    def deco(fn):
        READERS[name] = ReaderInfo(name, extensions, fn, sniff, description)
        return fn
    return deco


def _load_formats() -> None:
    from neuro_deploy.events.formats import arrays, atis, es, inivation, prophesee  # noqa: F401


def supported_formats() -> list[str]:
    _load_formats()
    return [f"{r.name} ({', '.join(r.extensions)})" for r in READERS.values()]


def choose_reader(path: Path, fmt: str | None = None) -> ReaderInfo:
    _load_formats()
    if fmt is not None:
        if fmt not in READERS:
            raise UnknownNameError("event format", fmt, READERS)
        return READERS[fmt]
    ext = path.suffix.lower()
    candidates = [r for r in READERS.values() if ext in r.extensions]
    if not candidates:
        raise UnknownFormatError(path, supported_formats())
    if len(candidates) == 1:
        return candidates[0]
    with open(path, "rb") as f:
        head = f.read(4096)
    sniffed = [r for r in candidates if r.sniff is not None and r.sniff(head)]
    if sniffed:
        return sniffed[0]
    plain = [r for r in candidates if r.sniff is None]
    return (plain or candidates)[0]


def open_events(path: str | Path, fmt: str | None = None, **options: str):
    """Open a recording for streaming (see module docstring). ``options`` go to the
    reader (e.g. ``evt3_timing``); readers ignore options they do not know."""
    path = Path(path)
    if not path.is_file():
        raise CorruptRecordingError(path, None, "no such file")
    return choose_reader(path, fmt).open(path, **options)


def read_events(path: str | Path, fmt: str | None = None, **options: str) -> Recording:
    """Read a whole recording."""
    stream = open_events(path, fmt, **options)
    ev = stream.read_all()
    size = stream.sensor_size
    if size is None and len(ev):
        from neuro_deploy.events.formats.common import guessed_size

        size = guessed_size(ev)
    return Recording(stream.path, stream.format, ev.astype(EVENT_DTYPE, copy=False), size, stream.meta)


def decode_atis_bin(raw: np.ndarray, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode N-MNIST 40-bit bytes (see :mod:`neuro_deploy.events.formats.atis`)."""
    from neuro_deploy.events.formats.atis import decode_atis_words

    if raw.size % 5:
        raise CorruptRecordingError(path, raw.size - raw.size % 5,
                                    f"truncated: {raw.size % 5} trailing byte(s) of a 5-byte event")
    return decode_atis_words(raw.reshape(-1, 5))[0]


__all__ = ["EVENT_DTYPE", "READERS", "Recording", "decode_atis_bin", "open_events", "read_events",
           "register_reader", "supported_formats"]
