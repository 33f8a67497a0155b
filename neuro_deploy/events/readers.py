"""Event-file readers into :data:`~neuro_deploy.events.types.EVENT_DTYPE`, by format.

Readers live in :mod:`neuro_deploy.events.formats` and register here with the
extensions they claim, a ``signature`` test over the file's first bytes and the
:class:`~neuro_deploy.events.plausibility.FormatLimits` of their content.

**Formats by content, not by extension.** :func:`choose_reader` picks a reader

1. by name when ``fmt`` (``--format``) is given - refused if the file's own header or
   signature names a different format;
2. else by signature: the header or magic bytes that the format's writers always put first
   (``% evt 2.0`` / ``% evt 3.0`` / ``% format EVTn`` lines of Prophesee RAW, DAT's ``%``
   header followed by its event type and size bytes, ``#!AER-DAT2`` / ``3`` / ``4``,
   ``Event Stream``, numpy's ``\x93NUMPY``, zip's ``PK``, HDF5's ``\x89HDF``), whatever the
   extension;
3. else, for the two formats that have no header at all - N-MNIST ``.bin``/``.bs2`` and
   text ``.csv``/``.txt`` - by extension, after which the content decides: the text must
   parse as four columns, and the binary must pass the plausibility checks strictly (whole
   5-byte records, y below 240, time never decreasing, coordinates inside the declared sensor);
4. else :class:`~neuro_deploy.errors.UnidentifiedRecordingError`, saying what the file looks
   like (:func:`neuro_deploy.events.sniff.looks_like`).

**Empty files** (0 bytes) are the same in every format: a recording with no events (format
from ``fmt``, else from the extension), with the warning "empty file" - never an error, never
a guess from content.

:func:`open_events` returns an :class:`~neuro_deploy.events.formats.common.EventStream`
whose ``chunks()`` stream the file in bounded memory and run the plausibility checks;
:func:`read_events` reads it whole into a :class:`Recording`. Truncated or corrupt input
raises :class:`~neuro_deploy.errors.CorruptRecordingError` (file, byte offset, reason),
or - with ``keep_partial`` - keeps the complete events before the damage
(``meta["partial"]``). Warnings are in ``Recording.meta["warnings"]``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from neuro_deploy.errors import CorruptRecordingError, UnidentifiedRecordingError, UnknownFormatError, UnknownNameError
from neuro_deploy.events.plausibility import FormatLimits
from neuro_deploy.events.types import EVENT_DTYPE, HEAD_BYTES, SensorSize


@dataclass
class Recording:
    """Decoded events plus what the file said about itself."""

    path: str
    format: str
    events: np.ndarray
    sensor_size: SensorSize | None
    meta: dict = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return list(self.meta.get("warnings", []))


@dataclass(frozen=True)
class ReaderInfo:
    name: str
    extensions: tuple[str, ...]
    open: Callable[..., "object"]
    sniff: Callable[[bytes], bool] | None = None
    description: str = ""
    limits: FormatLimits = FormatLimits()
    #: no header or signature exists: identified by extension, then by content plausibility
    headerless: bool = False


READERS: dict[str, ReaderInfo] = {}


def register_reader(
    name: str,
    extensions: tuple[str, ...],
    description: str = "",
    sniff: Callable[[bytes], bool] | None = None,
    limits: FormatLimits = FormatLimits(),
    headerless: bool = False,
):
    """Register a reader. ``sniff(head)`` is True when the first bytes carry the format's
    signature; a reader without one must say ``headerless=True``."""

    def deco(fn):
        READERS[name] = ReaderInfo(name, extensions, fn, sniff, description, limits, headerless)
        return fn

    return deco


#: The modules that register readers, imported on first use (entry-point style: they import
#: :func:`register_reader` from here; this module never imports them, so no import circle).
FORMAT_MODULES = tuple(f"neuro_deploy.events.formats.{m}" for m in ("arrays", "atis", "es", "inivation", "prophesee"))


_FORMATS_LOADED: list[bool] = []


def _load_formats() -> None:
    if _FORMATS_LOADED:  # once per process (this runs for every file opened)
        return
    import importlib

    for module in FORMAT_MODULES:
        importlib.import_module(module)
    _FORMATS_LOADED.append(True)


def supported_formats() -> list[str]:
    _load_formats()
    return [f"{r.name} ({', '.join(r.extensions)})" for r in READERS.values()]


def reader_names() -> list[str]:
    """Names ``--format`` accepts."""
    _load_formats()
    return list(READERS)


def _head(path: Path) -> bytes:
    """The first :data:`HEAD_BYTES` of a regular file (one open, no buffered reader); a
    missing file, a directory, a FIFO or a device is "no such file" (O_NONBLOCK: opening a
    FIFO does not wait for a writer)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError):
        raise CorruptRecordingError(path, None, "no such file") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CorruptRecordingError(path, None, "no such file")
        head = os.read(fd, HEAD_BYTES)
        while len(head) < HEAD_BYTES:  # a short read before the end (rare): read on
            more = os.read(fd, HEAD_BYTES - len(head))
            if not more:
                break
            head += more
        return head
    finally:
        os.close(fd)


def identify(head: bytes) -> list[ReaderInfo]:
    """Readers whose signature the first bytes carry (normally one, or none)."""
    _load_formats()
    return [r for r in READERS.values() if r.sniff is not None and r.sniff(head)]


def choose_reader(path: Path, fmt: str | None = None, head: bytes | None = None) -> ReaderInfo:
    """The reader for ``path`` (see the module docstring for the rules); ``head``: its
    first :data:`HEAD_BYTES` when already read."""
    _load_formats()
    if fmt is not None and fmt not in READERS:
        raise UnknownNameError("event format", fmt, READERS)
    if head is None:
        head = _head(path)
    signed = identify(head)
    if fmt is not None:
        if signed and READERS[fmt] not in signed:
            raise CorruptRecordingError(
                path, 0, f"--format {fmt} given, but the file's header says {signed[0].name} ({signed[0].description})"
            )
        return READERS[fmt]
    if signed:
        return signed[0]
    ext = path.suffix.lower()
    headerless = [r for r in READERS.values() if r.headerless and ext in r.extensions]
    if headerless:
        return headerless[0]
    from neuro_deploy.events.sniff import looks_like

    raise UnidentifiedRecordingError(path, looks_like(head, path.stat().st_size), supported_formats())


def _empty_stream(path: Path, fmt: str | None):
    from neuro_deploy.events.formats.common import EventStream

    _load_formats()
    if fmt is not None:
        if fmt not in READERS:
            raise UnknownNameError("event format", fmt, READERS)
        names = [fmt]
    else:
        names = [r.name for r in READERS.values() if path.suffix.lower() in r.extensions]
    if not names:
        raise UnknownFormatError(path, supported_formats())
    return EventStream(
        str(path),
        "|".join(names),
        None,
        lambda cb: iter(()),
        {"empty_file": True},
        open_warnings=["empty file (0 bytes): a recording with no events"],
    )


def open_events(path: str | Path, fmt: str | None = None, sensor_size: SensorSize | None = None, **options: str):
    """Open a recording for streaming (see module docstring). ``sensor_size`` is the
    user's declared sensor (``--sensor-size``): the coordinates are checked against it.
    ``options`` go to the reader (e.g. ``evt3_timing``); readers ignore options they do not know."""
    if not isinstance(path, Path):
        path = Path(path)
    head = _head(path)  # read once: signature, header, and all of a small file
    if not head:
        stream = _empty_stream(path, fmt)
    else:
        reader = choose_reader(path, fmt, head)
        stream = reader.open(path, head=head, **options)
        stream.limits = reader.limits
    stream.declared_sensor = sensor_size
    return stream


def read_events(
    path: str | Path,
    fmt: str | None = None,
    *,
    sensor_size: SensorSize | None = None,
    keep_partial: bool = False,
    **options: str,
) -> Recording:
    """Read a whole recording (``keep_partial``: see :meth:`EventStream.chunks`)."""
    stream = open_events(path, fmt, sensor_size, **options)
    ev = stream.read_all(keep_partial=keep_partial)
    size = stream.sensor_size
    if size is None and len(ev):
        size = stream.extent()  # the coordinates' extent, from the plausibility pass
    return Recording(stream.path, stream.format, ev.astype(EVENT_DTYPE, copy=False), size, stream.meta)


__all__ = [
    "EVENT_DTYPE",
    "READERS",
    "Recording",
    "choose_reader",
    "identify",
    "open_events",
    "read_events",
    "reader_names",
    "register_reader",
    "supported_formats",
]
