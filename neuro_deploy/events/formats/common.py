"""Shared pieces of the format readers: the stream type, header parsing, chunked reads."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize

DEFAULT_CHUNK_BYTES = 8 * 2 ** 20


@dataclass
class EventStream:
    """An opened recording: geometry and metadata now, events chunk by chunk.

    ``chunks()`` yields :data:`EVENT_DTYPE` arrays; memory is bounded by the chunk size
    (``chunk_bytes`` of the file at a time), so hour-long recordings can be streamed.
    """

    path: str
    format: str
    sensor_size: SensorSize | None
    _chunks: Callable[[int], Iterator[np.ndarray]]
    meta: dict = field(default_factory=dict)

    def chunks(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[np.ndarray]:
        yield from self._chunks(chunk_bytes)

    def read_all(self) -> np.ndarray:
        parts = list(self.chunks())
        return np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)


def read_percent_header(path: Path, max_bytes: int = 1 << 20) -> tuple[list[str], int]:
    """Prophesee-style ``%``-prefixed ASCII header lines and the byte offset after them."""
    lines: list[str] = []
    with open(path, "rb") as f:
        pos = 0
        while pos < max_bytes:
            first = f.read(1)
            if first != b"%":
                break
            line = first + f.readline()
            pos += len(line)
            text = line.decode("latin-1").rstrip("\r\n")
            lines.append(text[1:].strip())
            if text.strip().lower() == "% end":
                break
        else:
            raise CorruptRecordingError(path, pos, "header does not end")
    return lines, pos


#: Prophesee sensor generations named by the HAL plugin in RAW headers without geometry.
PLUGIN_GEOMETRY = (("gen41", (1280, 720)), ("imx636", (1280, 720)), ("imx646", (1280, 720)),
                   ("imx8", (1280, 720)), ("gen4", (1280, 720)), ("imx646", (1280, 720)),
                   ("gen31", (640, 480)), ("gen3", (640, 480)), ("genx320", (320, 320)),
                   ("imx8", (1280, 720)))


def geometry_from_header(lines: list[str]) -> SensorSize | None:
    """``% geometry WxH``, ``% format EVT3;height=H;width=W``, ``% Width W`` / ``% Height H``,
    or - for RAW headers without a geometry line - the sensor generation named by
    ``% plugin_name`` (e.g. ``hal_plugin_gen41_evk3`` -> 1280x720)."""
    w = h = None
    for line in lines:
        m = re.match(r"geometry\s+(\d+)\s*x\s*(\d+)", line, re.I)
        if m:
            return SensorSize(int(m.group(1)), int(m.group(2)))
        if line.lower().startswith("format"):
            kv = dict(p.split("=", 1) for p in line.split(";")[1:] if "=" in p)
            if "width" in kv and "height" in kv:
                return SensorSize(int(kv["width"]), int(kv["height"]))
        m = re.match(r"width\s+(\d+)", line, re.I)
        if m:
            w = int(m.group(1))
        m = re.match(r"height\s+(\d+)", line, re.I)
        if m:
            h = int(m.group(1))
    if w and h:
        return SensorSize(w, h)
    for line in lines:
        if line.lower().startswith("plugin_name"):
            name = line.lower()
            for key, (pw, ph) in PLUGIN_GEOMETRY:
                if key in name:
                    return SensorSize(pw, ph, f"header (plugin {key})")
    return None


def iter_words(path: Path, offset: int, dtype: np.dtype, chunk_bytes: int,
               what: str) -> Iterator[tuple[int, np.ndarray]]:
    """Fixed-size words after ``offset``, in chunks: yields (byte offset, words)."""
    size = path.stat().st_size
    body = size - offset
    if body % dtype.itemsize:
        raise CorruptRecordingError(path, offset + body - body % dtype.itemsize,
                                    f"truncated: {body % dtype.itemsize} trailing byte(s) of a "
                                    f"{dtype.itemsize}-byte {what}")
    per = max(1, chunk_bytes // dtype.itemsize)
    pos = offset
    with open(path, "rb") as f:
        f.seek(offset)
        while pos < size:
            words = np.fromfile(f, dtype=dtype, count=per)
            if len(words) == 0:
                break
            yield pos, words
            pos += len(words) * dtype.itemsize


def guessed_size(events: np.ndarray) -> SensorSize | None:
    if not len(events):
        return None
    return SensorSize(int(events["x"].max()) + 1, int(events["y"].max()) + 1,
                      "guessed from coordinates")
