"""Shared pieces of the format readers: the stream type, header parsing, chunked reads."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError, ImplausibleRecordingError
from neuro_deploy.events.plausibility import FormatLimits, Tally, verdict
from neuro_deploy.events.types import EVENT_DTYPE, HEAD_BYTES, SensorSize

DEFAULT_CHUNK_BYTES = 8 * 2**20
#: a chunk size larger than any file: the whole file is decoded as one chunk
WHOLE_FILE = 1 << 62


@dataclass
class EventStream:
    """An opened recording: geometry and metadata now, events chunk by chunk.

    ``chunks()`` yields :data:`EVENT_DTYPE` arrays; memory is bounded by the chunk size
    (``chunk_bytes`` of the file at a time), so hour-long recordings can be streamed.
    Every pass also runs the plausibility checks of
    :mod:`neuro_deploy.events.plausibility` against ``declared_sensor`` (the user's
    ``--sensor-size``), else a header-given ``sensor_size``, else the format's ``limits``;
    at the end of the pass their warnings land in ``meta["warnings"]`` and garbage raises
    :class:`~neuro_deploy.errors.ImplausibleRecordingError`.
    """

    path: str
    format: str
    sensor_size: SensorSize | None
    _chunks: Callable[[int], Iterator[np.ndarray]]
    meta: dict = field(default_factory=dict)
    limits: FormatLimits = FormatLimits()
    declared_sensor: SensorSize | None = None
    #: warnings known when the file was opened (e.g. an empty file)
    open_warnings: list[str] = field(default_factory=list)
    #: the reader's ``_chunks(chunk_bytes, tally)`` tallies the plausibility checks itself,
    #: in its compiled decoder (block by block, while the decoded events are in cache)
    tallies: bool = False
    #: the plausibility tally of the last full pass (extent, breaks), None before one
    tally: Tally | None = field(default=None, init=False, repr=False)

    def check_sensor(self) -> tuple[int, int, bool] | None:
        """(width, height, declared?) the coordinates are checked against, or None."""
        if self.declared_sensor is not None:
            return self.declared_sensor.width, self.declared_sensor.height, True
        if self.sensor_size is not None and self.sensor_size.source.startswith("header"):
            return self.sensor_size.width, self.sensor_size.height, True
        if self.limits.bound is not None:
            return self.limits.bound[0], self.limits.bound[1], False
        return None

    def chunks(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES, keep_partial: bool = False) -> Iterator[np.ndarray]:
        """Decoded events in file order. A decoder error mid-file is raised after the
        complete events before it were yielded; with ``keep_partial`` it is not raised but
        recorded in ``meta["partial"]`` (byte offset, reason) and as a warning."""
        tally = Tally(self.check_sensor())
        self.meta.pop("partial", None)
        warnings = list(self.open_warnings)
        try:
            if self.tallies:
                yield from self._chunks(chunk_bytes, tally)
            else:
                for chunk in self._chunks(chunk_bytes):
                    tally.update(chunk)
                    yield chunk
        except ImplausibleRecordingError:
            raise
        except CorruptRecordingError as exc:
            if not keep_partial:
                raise
            where = f" at byte {exc.offset}" if exc.offset is not None else ""
            self.meta["partial"] = {"offset": exc.offset, "reason": exc.reason, "events": tally.events}
            warnings.append(f"kept the {tally.events:,} complete events before the error{where}: {exc.reason}")
        self.tally = tally
        guess = (self.sensor_size.width, self.sensor_size.height) if self.sensor_size else None
        v = verdict(tally, self.limits, self.format, guess)
        self.meta["warnings"] = warnings + v.warnings
        if v.errors:
            raise ImplausibleRecordingError(
                self.path, None, f"not a plausible {self.format} recording: " + "; ".join(v.errors)
            )

    def extent(self) -> SensorSize | None:
        """The events' coordinate extent (max x + 1, max y + 1) after a full pass
        (:meth:`chunks` to the end, or :meth:`read_all`); None without events."""
        tally = self.tally
        if tally is None or not tally.events:
            return None
        return SensorSize(int(tally.state[6]) + 1, int(tally.state[7]) + 1, "guessed from coordinates")

    def read_all(self, keep_partial: bool = False) -> np.ndarray:
        """All events: one chunk spanning the whole file (no concatenation)."""
        parts = list(self.chunks(WHOLE_FILE, keep_partial=keep_partial))
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)


def unwrap_counter(t: np.ndarray, period: int, state: list[int]) -> np.ndarray:
    """Undo a free-running timer's wrap: every backwards jump of more than half the
    ``period`` adds one ``period``. ``state`` = [last raw value or None, wraps so far],
    carried across chunks and updated in place."""
    t = t.astype(np.int64)
    if not len(t):
        return t
    prev = np.empty(len(t), np.int64)
    prev[0] = t[0] if state[0] is None else state[0]
    prev[1:] = t[:-1]
    jumps = (t - prev) < -(period // 2)
    wraps = np.cumsum(jumps) + state[1]
    state[0], state[1] = int(t[-1]), int(wraps[-1])
    return t + wraps * period


_LAST_HEADER: tuple = (None, None)


def percent_header_lines(head: bytes) -> tuple[list[str], int | None]:
    """The ``%`` header lines at the start of ``head`` (without the ``%``) and the byte
    offset after the header, or None when ``head`` ends inside the header. The sniffers
    of several formats ask about the same ``head`` object: the last answer is kept."""
    global _LAST_HEADER
    last = _LAST_HEADER
    if last[0] is head:
        return list(last[1][0]), last[1][1]
    if not head.startswith(b"%"):
        return [], 0
    result = _percent_header_lines(head)
    _LAST_HEADER = (head, result)
    return list(result[0]), result[1]


def _percent_header_lines(head: bytes) -> tuple[list[str], int | None]:
    lines: list[str] = []
    pos = 0
    while head[pos : pos + 1] == b"%":
        nl = head.find(b"\n", pos)
        if nl < 0:
            lines.append(head[pos + 1 :].decode("latin-1").strip())
            return lines, None
        text = head[pos : nl + 1].decode("latin-1").rstrip("\r\n")
        lines.append(text[1:].strip())
        pos = nl + 1
        if text.strip().lower() == "% end":
            break
    return lines, pos


def read_percent_header(path: Path, max_bytes: int = 1 << 20, head: bytes | None = None) -> tuple[list[str], int]:
    """Prophesee-style ``%``-prefixed ASCII header lines and the byte offset after them.
    A file that ends inside a header line (no newline) is truncated inside its header.
    ``head``: the file's first bytes when already read (parsed from them when the header
    ends inside them, else the file is read)."""
    if head is not None:
        lines, end = percent_header_lines(head)
        if end is not None and (end < len(head) or len(head) < HEAD_BYTES):
            return lines, end
    lines = []
    with open(path, "rb") as f:
        pos = 0
        while pos < max_bytes:
            first = f.read(1)
            if first != b"%":
                break
            line = first + f.readline()
            if not line.endswith(b"\n"):
                raise CorruptRecordingError(
                    path,
                    pos,
                    f"truncated inside its '%' header (the file ends in the middle of header line {len(lines) + 1})",
                )
            pos += len(line)
            text = line.decode("latin-1").rstrip("\r\n")
            lines.append(text[1:].strip())
            if text.strip().lower() == "% end":
                break
        else:
            raise CorruptRecordingError(path, pos, "header does not end")
    return lines, pos


#: Prophesee sensor generations named by the HAL plugin in RAW headers without geometry.
PLUGIN_GEOMETRY = (
    ("gen41", (1280, 720)),
    ("imx636", (1280, 720)),
    ("imx646", (1280, 720)),
    ("imx8", (1280, 720)),
    ("gen4", (1280, 720)),
    ("imx646", (1280, 720)),
    ("gen31", (640, 480)),
    ("gen3", (640, 480)),
    ("genx320", (320, 320)),
    ("imx8", (1280, 720)),
)


def geometry_from_header(lines: list[str]) -> SensorSize | None:
    """``% geometry WxH``, ``% format EVT3;height=H;width=W``, ``% Width W`` / ``% Height H``,
    or - for RAW headers without a geometry line - the sensor generation named by
    ``% plugin_name`` (e.g. ``hal_plugin_gen41_evk3`` -> 1280x720)."""
    w = h = None
    for line in lines:
        low = line[:8].lower()  # the regexes only where the key can match
        if low.startswith("geometry"):
            m = re.match(r"geometry\s+(\d+)\s*x\s*(\d+)", line, re.I)
            if m:
                return SensorSize(int(m.group(1)), int(m.group(2)))
        elif low.startswith("format"):
            kv = dict(p.split("=", 1) for p in line.split(";")[1:] if "=" in p)
            if "width" in kv and "height" in kv:
                return SensorSize(int(kv["width"]), int(kv["height"]))
        elif low.startswith("width"):
            m = re.match(r"width\s+(\d+)", line, re.I)
            if m:
                w = int(m.group(1))
        elif low.startswith("height"):
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


def iter_words(
    path: Path, offset: int, dtype: np.dtype, chunk_bytes: int, what: str, head: bytes | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Fixed-size words after ``offset``, in chunks: yields (byte offset, words). A
    truncated last word raises :class:`CorruptRecordingError` after the whole words.
    ``head``: the file's first bytes when already read; a file that fits in them is not
    read again (its words are a view of ``head``). Words are always read-only arrays:
    one compiled specialization of each decoder serves files of every size."""
    size = len(head) if head is not None and len(head) < HEAD_BYTES else path.stat().st_size
    body = max(0, size - offset)
    whole_end = offset + body - body % dtype.itemsize
    per = max(1, chunk_bytes // dtype.itemsize)
    if head is not None and size == len(head):
        n = (whole_end - offset) // dtype.itemsize
        for start in range(0, n, per):
            yield (
                offset + start * dtype.itemsize,
                np.frombuffer(head, dtype, count=min(per, n - start), offset=offset + start * dtype.itemsize),
            )
    else:
        pos = offset
        with open(path, "rb") as f:
            f.seek(offset)
            while pos < whole_end:
                words = np.fromfile(f, dtype=dtype, count=min(per, (whole_end - pos) // dtype.itemsize))
                if len(words) == 0:
                    break
                words.flags.writeable = False
                yield pos, words
                pos += len(words) * dtype.itemsize
    if body % dtype.itemsize:
        raise CorruptRecordingError(
            path, whole_end, f"truncated: {body % dtype.itemsize} trailing byte(s) of a {dtype.itemsize}-byte {what}"
        )


#: bytes of file decoded per kernel call: small enough to stay in cache while it is
#: decoded, large enough that calls cost nothing
BLOCK_BYTES = 1 << 20


class FileBlocks:
    """A file's bytes for the compiled decoders, without copies: a read-only memory map
    of the file (its pages come straight from the page cache), or ``head`` when the whole
    file is in it (then nothing is read again). :meth:`read` returns read-only uint8
    views, so one compiled specialization of each decoder serves every file.

    (A file truncated by another process while it is mapped would fault; recordings
    being decoded are not expected to change underneath.)"""

    def __init__(self, path: Path, head: bytes | None = None, block_bytes: int | None = None):
        self.path = path
        self.block_bytes = block_bytes or BLOCK_BYTES
        if head is not None and len(head) < HEAD_BYTES:
            self.data = np.frombuffer(head, np.uint8)
        else:
            import mmap

            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self.data = (
                    np.frombuffer(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ), np.uint8)
                    if size
                    else np.zeros(0, np.uint8)
                )
            self.data.flags.writeable = False
        self.size = len(self.data)

    def read(self, pos: int, n: int) -> np.ndarray:
        """Up to ``n`` bytes from ``pos`` (fewer at the end of the file), uint8, read-only."""
        return self.data[pos : pos + max(0, n)]

    def close(self) -> None:
        self.data = np.zeros(0, np.uint8)  # the map closes when no view holds it

    def __enter__(self) -> "FileBlocks":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode_words(
    path: Path,
    offset: int,
    dtype: np.dtype,
    chunk_bytes: int,
    what: str,
    head: bytes | None,
    decode: Callable[[np.ndarray, np.ndarray], tuple[int, int]],
    room_per_word: int = 1,
) -> Iterator[np.ndarray]:
    """Fixed-size words after ``offset`` decoded into one events array per ``chunk_bytes``
    of file (the whole file: one array, no concatenation). The file is read by
    :data:`BLOCK_BYTES` blocks into a reused buffer; ``decode(words, out)`` writes events
    to ``out`` and returns (events written, words used) - fewer words when ``out`` is full,
    then the array grows. ``room_per_word`` events per word are allotted first. A
    truncated last word raises :class:`CorruptRecordingError` after the whole words."""
    size_w = dtype.itemsize
    base, sub = dtype.subdtype or (dtype, ())  # e.g. (uint8, (5,)): 2-D words
    with FileBlocks(path, head) as blocks:
        body = max(0, blocks.size - offset)
        whole_end = offset + body - body % size_w
        per_chunk = max(1, chunk_bytes // size_w) * size_w
        per_block = max(1, blocks.block_bytes // size_w) * size_w
        for c0 in range(offset, whole_end, per_chunk):
            c1 = min(whole_end, c0 + per_chunk)
            ev = np.empty(((c1 - c0) // size_w) * room_per_word + 16, EVENT_DTYPE)
            n = 0
            for b0 in range(c0, c1, per_block):
                words = blocks.read(b0, min(per_block, c1 - b0)).view(base).reshape((-1,) + sub)
                i = 0
                while i < len(words):
                    k, used = decode(words[i:], ev[n:])
                    n += k
                    i += used
                    if i < len(words):  # out of room: grow
                        grown = np.empty(2 * len(ev), EVENT_DTYPE)
                        grown[:n] = ev[:n]
                        ev = grown
            if n:
                yield ev[:n]
    if body % size_w:
        raise CorruptRecordingError(
            path, whole_end, f"truncated: {body % size_w} trailing byte(s) of a {size_w}-byte {what}"
        )


def guessed_size(events: np.ndarray) -> SensorSize | None:
    if not len(events):
        return None
    return SensorSize(int(events["x"].max()) + 1, int(events["y"].max()) + 1, "guessed from coordinates")


def _serve(conn, log: str) -> None:  # pragma: no cover - runs in the guarded child
    """The guarded decoder process: run (function, args) requests until the pipe closes."""
    import faulthandler
    import os

    faulthandler.disable()  # the parent (pytest) may have it on: no dump per crash
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)  # a crashing decoder's backtrace goes to a file
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if request is None:
            os._exit(0)
        func, args = request
        os.ftruncate(2, 0)
        os.lseek(2, 0, os.SEEK_SET)
        try:
            reply = (True, func(*args))
        except BaseException as exc:  # noqa: BLE001 - report anything
            reply = (False, f"{type(exc).__name__}: {exc}")
        conn.send(reply)


class GuardedDecoder:
    """One long-lived child process that runs third-party decoders for this process.

    The Rust AEDAT 4 / Event Stream decoders (``aedat``, ``faery``) abort the whole
    process on some corrupt inputs ("panic in a destructor during cleanup ... aborting"),
    which no ``try`` can catch. They run here instead: a crash kills only the child and
    becomes a :class:`~neuro_deploy.errors.CorruptRecordingError` naming the file; the
    next call starts a new child. The child is forked once and reused, so the guard costs
    one round trip per file, not a process per file. Thread-safe (one request at a time).
    """

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.proc = None
        self.conn = None
        self.log = ""
        self.pid = None  # the process that started the child
        self.registered = False

    def start(self) -> None:
        import atexit
        import multiprocessing as mp
        import tempfile

        fd, self.log = tempfile.mkstemp(prefix="nd-decode-", suffix=".stderr")
        os.close(fd)
        parent, child = mp.get_context("fork").Pipe()
        self.proc = mp.get_context("fork").Process(target=_serve, args=(child, self.log), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        self.pid = os.getpid()
        if not self.registered:
            atexit.register(self.stop)
            self.registered = True

    def stop(self) -> None:
        """End the child (it also ends when this process exits)."""
        if self.proc is None or self.pid != os.getpid():
            return
        try:
            self.conn.close()
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
        finally:
            self.proc = self.conn = None
            Path(self.log).unlink(missing_ok=True)

    def crash_reason(self, what: str) -> str:
        import signal

        self.proc.join(timeout=5)
        code = self.proc.exitcode
        sig = -code if code is not None and code < 0 else None
        reason = f"the {what} decoder crashed ({signal.Signals(sig).name if sig else f'exit {code}'}) on this input"
        log = Path(self.log)
        if log.exists():
            cause = [
                l
                for l in log.read_text(errors="replace").splitlines()
                if l and not l.startswith((" ", "thread", "note:", "stack")) and "Error" in l
            ]
            if cause:
                reason += f": {cause[0].strip()}"
        return reason

    def run(self, func, args: tuple, path: Path, what: str):
        with self.lock:
            if self.pid != os.getpid():  # forked since: the child belongs to the parent
                self.proc = self.conn = None
            if self.proc is None or not self.proc.is_alive():
                self.stop()
                self.start()
            try:
                self.conn.send((func, args))
                ok, result = self.conn.recv()
            except (EOFError, OSError):
                reason = self.crash_reason(what)
                self.stop()
                raise CorruptRecordingError(path, None, f"{what}: {reason}") from None
        if ok:
            return result
        raise CorruptRecordingError(path, None, f"{what}: {result}")


GUARDED = GuardedDecoder()


def run_isolated(func, args: tuple, path: Path, what: str):
    """Run a third-party decoder (a picklable function and arguments) in this process's
    :class:`GuardedDecoder` and return its (picklable) result."""
    return GUARDED.run(func, args, path, what)
