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


def _child(func, args, out: str, err: str) -> None:  # pragma: no cover - runs in the child
    import os
    import pickle

    import faulthandler

    faulthandler.disable()              # the parent (pytest) may have it on: no dump per crash
    fd = os.open(err + ".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)                      # a crashing decoder's backtrace goes to a file
    try:
        result = func(*args)
        with open(out, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os._exit(0)
    except BaseException as exc:                     # noqa: BLE001 - report anything
        try:
            with open(err, "w") as f:
                f.write(f"{type(exc).__name__}: {exc}")
        finally:
            os._exit(3)


def run_isolated(func, args: tuple, path: Path, what: str):
    """Run a third-party decoder in a forked child and return its (picklable) result.

    The Rust AEDAT 4 / Event Stream decoders (``aedat``, ``faery``) abort the whole
    process on some corrupt inputs ("panic in a destructor during cleanup ... aborting"),
    which no ``try`` can catch. In a child, a crash becomes a
    :class:`~neuro_deploy.errors.CorruptRecordingError` naming the file instead.
    """
    import multiprocessing as mp
    import pickle
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nd-decode-") as d:
        out, err = Path(d) / "out.pkl", Path(d) / "err.txt"
        proc = mp.get_context("fork").Process(target=_child, args=(func, args, str(out), str(err)))
        proc.start()
        proc.join()
        if proc.exitcode == 0 and out.exists():
            with open(out, "rb") as f:
                return pickle.load(f)
        if err.exists():
            reason = err.read_text()
        else:
            import signal

            sig = -proc.exitcode if proc.exitcode and proc.exitcode < 0 else None
            name = signal.Signals(sig).name if sig else f"exit {proc.exitcode}"
            reason = f"the {what} decoder crashed ({name}) on this input"
            log = Path(str(err) + ".stderr")
            if log.exists():
                cause = [l for l in log.read_text(errors="replace").splitlines()
                         if l and not l.startswith((" ", "thread", "note:", "stack")) and "Error" in l]
                if cause:
                    reason += f": {cause[0].strip()}"
        raise CorruptRecordingError(path, None, f"{what}: {reason}")
