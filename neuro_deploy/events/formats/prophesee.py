"""Prophesee RAW EVT 2.0 / EVT 3.0 and DAT decoders (numpy / numba, chunked).

EVT 3.0 (16-bit words, type in the 4 MSBs): ``0x0`` ADDR_Y (y in bits 0-10), ``0x2``
ADDR_X (x, polarity in bit 11: one event), ``0x3`` VECT_BASE_X (base x, polarity),
``0x4`` VECT_12 / ``0x5`` VECT_8 (bit masks of events at base x + i; base x advances by
12 / 8), ``0x6`` TIME_LOW and ``0x8`` TIME_HIGH (12 bits each: t = high << 12 | low; a
decreasing TIME_HIGH is a 2^24 µs wrap), ``0xA`` EXT_TRIGGER (value bit 0, channel
bits 8-11: exposed in ``meta['triggers']``, never an error), ``0xE`` OTHERS and ``0x7`` /
``0xF`` CONTINUED (skipped). Events before the first TIME_HIGH have no absolute time and
are dropped, as Prophesee's decoder does.

EVT 3.0 timing follows Prophesee's specification (and OpenEB / faery):
``t = wraps * 2^24 + TIME_HIGH << 12 | TIME_LOW``. expelliarmus (1.1) additionally adds
4096 µs every time TIME_LOW decreases - also right after a TIME_HIGH already advanced -
which double-counts: on the pedestrians fixture every other 4.1 ms slot is left empty and
the recording appears twice as long. ``evt3_timing="expelliarmus"`` reproduces that
decode exactly, for comparison with data sets decoded by it.

EVT 2.0 (32-bit words, type in the 4 MSBs): ``0x0`` CD_OFF / ``0x1`` CD_ON (t low 6 bits
at 22-27, x at 11-21, y at 0-10), ``0x8`` TIME_HIGH (t >> 6 in bits 0-27; a TIME_HIGH
more than half its range below the previous one is a 2^34 us wrap, as OpenEB counts it),
``0xA`` EXT_TRIGGER (value bit 0, channel bits 8-12: ``meta['triggers']``), ``0xE``
OTHERS, ``0xF`` CONTINUED.

DAT: ``%`` header, then 2 bytes (event type, event size = 8), then (uint32 t, uint32
data) with x in bits 0-13, y in 14-27, polarity in 28-31; t wraps at 2^32 us (unwrapped).

Identification (:mod:`neuro_deploy.events.readers`): RAW by its ``% evt X.Y`` or ``% format
EVTn`` header line (EVT 2.1 and 4.0 are recognised and refused); DAT by a ``%`` header
with no RAW-only key, followed by the event type byte and an event size byte of 8 (or by
nothing: a header-only DAT is an empty recording). Triggers are in
``meta['triggers']`` as an (N, 3) int64 array of (t_us, value, channel).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.formats.common import (
    EventStream,
    decode_words,
    geometry_from_header,
    percent_header_lines,
    read_percent_header,
)
from neuro_deploy.events.plausibility import FormatLimits, Tally
from neuro_deploy.events.readers import HEAD_BYTES, register_reader


def _raw_version(lines: list[str]) -> str | None:
    """ "2", "3", "2.1", "4" ... from ``% evt X.Y`` or ``% format EVTn;...``; None if absent."""
    for line in lines:
        low = line.lower().replace(" ", "")
        if not low.startswith(("evt", "format")):
            continue
        m = re.match(r"evt(\d+(?:\.\d+)?)", low)
        if m:
            v = m.group(1)
            return v[:-2] if v.endswith(".0") else v
        m = re.match(r"format(?:=|:)?evt(\d)(\d?)", low)
        if m:
            return m.group(1) + (f".{m.group(2)}" if m.group(2) and m.group(2) != "0" else "")
    return None


#: header keys only RAW files carry (a ``%`` header with one of them is not a DAT)
RAW_KEYS = (
    "evt",
    "format",
    "plugin_name",
    "integrator_name",
    "camera_integrator_name",
    "firmware_version",
    "serial_number",
    "system_id",
    "geometry",
    "generation",
    "sensor_generation",
    "end",
)


def sniff_raw(version: str):
    def sniff(head: bytes) -> bool:
        lines, _ = percent_header_lines(head)
        return _raw_version(lines) == version

    return sniff


def sniff_dat(head: bytes) -> bool:
    """A ``%`` header without RAW keys, then (event type, size 8) or the end of the file."""
    if not head.startswith(b"%"):
        return False
    lines, end = percent_header_lines(head)
    if end is None or any(l.lower().split(" ")[0] in RAW_KEYS for l in lines if l):
        return False
    if end == len(head):
        return len(head) < HEAD_BYTES
    return end + 1 < len(head) and head[end + 1] == 8


#: largest sensor writing Prophesee RAW / DAT (IMX636, Gen4.1: 1280x720)
PROPHESEE_LIMITS = FormatLimits(bound=(1280, 720), bound_source="the largest Prophesee sensor, 1280x720")


EVT3_TIMINGS = ("spec", "expelliarmus")
NO_TRIGGERS = np.zeros((0, 3), np.int64)


def _evt3_chunks(
    path: Path, offset: int, meta: dict, chunk_bytes: int, tally: Tally, timing: str = "spec", head: bytes | None = None
) -> Iterator[np.ndarray]:
    """EVT 3.0 decoded by :func:`neuro_deploy.events.kernels.evt3_decode`."""
    from neuro_deploy.events.kernels import evt3_decode

    if timing not in EVT3_TIMINGS:
        from neuro_deploy.errors import UnknownNameError

        raise UnknownNameError("EVT3 timing", timing, EVT3_TIMINGS)
    compat = timing == "expelliarmus"
    state = np.zeros(10, dtype=np.int64)
    st, w, h = tally.fused()
    triggers: list[np.ndarray] = []
    trig = np.empty((256, 3), np.int64)

    def decode(words: np.ndarray, out: np.ndarray) -> tuple[int, int]:
        nonlocal trig
        n, i = 0, 0
        while True:
            state[8] = 0
            k, i = evt3_decode(words, i, state, out[n:], trig, compat, st, w, h)
            tally.add(k)
            n += k
            if state[8]:
                triggers.append(trig[: state[8]].copy())
            if i >= len(words) or state[8] < len(trig):
                return n, i  # done, or out of room for events
            trig = np.empty((2 * len(trig), 3), np.int64)

    yield from decode_words(path, offset, np.dtype("<u2"), chunk_bytes, "EVT3 word", head, decode)
    meta["triggers"] = np.concatenate(triggers) if triggers else NO_TRIGGERS.copy()


def _evt2_chunks(
    path: Path, offset: int, meta: dict, chunk_bytes: int, tally: Tally, head: bytes | None = None
) -> Iterator[np.ndarray]:
    """EVT 2.0 decoded by :func:`neuro_deploy.events.kernels.evt2_decode` (one event per word at most)."""
    from neuro_deploy.events.kernels import evt2_decode

    state = np.array([-1, 0, 0], dtype=np.int64)  # TIME_HIGH and wraps carried across blocks
    st, w, h = tally.fused()
    triggers: list[np.ndarray] = []
    trig = np.empty((1024, 3), np.int64)

    def decode(words: np.ndarray, out: np.ndarray) -> tuple[int, int]:
        nonlocal trig
        before, st_before = state.copy(), st.copy()
        n = evt2_decode(words, state, out, trig, st, w, h)
        if state[1] > len(trig):  # more triggers than room: once more, with room
            trig = np.empty((int(state[1]), 3), np.int64)
            state[:], st[:] = before, st_before
            n = evt2_decode(words, state, out, trig, st, w, h)
        tally.add(n)
        if state[1]:
            triggers.append(trig[: state[1]].copy())
        return n, len(words)

    yield from decode_words(path, offset, np.dtype("<u4"), chunk_bytes, "EVT2 word", head, decode)
    meta["triggers"] = np.concatenate(triggers) if triggers else NO_TRIGGERS.copy()


def _open_raw(path: Path, version: str, head: bytes | None = None, **opts: str) -> EventStream:
    lines, offset = read_percent_header(path, head=head)
    found = _raw_version(lines)
    if found is not None and found != version:
        raise CorruptRecordingError(path, 0, f"header says EVT {found}, reader is EVT {version}")
    meta: dict = {"header": lines}
    size = geometry_from_header(lines)
    fmt = f"evt{version}"
    if version == "3":
        timing = opts.get("evt3_timing", "spec")
        meta["evt3_timing"] = timing
        return EventStream(
            str(path),
            fmt,
            size,
            lambda cb, tally: _evt3_chunks(path, offset, meta, cb, tally, timing, head),
            meta,
            tallies=True,
        )
    return EventStream(
        str(path), fmt, size, lambda cb, tally: _evt2_chunks(path, offset, meta, cb, tally, head), meta, tallies=True
    )


@register_reader("evt3", (".raw",), "Prophesee RAW EVT 3.0", sniff=sniff_raw("3"), limits=PROPHESEE_LIMITS)
def open_evt3(path: Path, evt3_timing: str = "spec", head: bytes | None = None, **_: str) -> EventStream:
    return _open_raw(path, "3", head, evt3_timing=evt3_timing)


@register_reader("evt2", (".raw",), "Prophesee RAW EVT 2.0", sniff=sniff_raw("2"), limits=PROPHESEE_LIMITS)
def open_evt2(path: Path, head: bytes | None = None, **_: str) -> EventStream:
    return _open_raw(path, "2", head)


@register_reader("dat", (".dat",), "Prophesee DAT (CD events)", sniff=sniff_dat, limits=PROPHESEE_LIMITS)
def open_dat(path: Path, head: bytes | None = None, **_: str) -> EventStream:
    lines, offset = read_percent_header(path, head=head)
    if head is not None and len(head) < HEAD_BYTES:
        size_b, first = len(head), head[offset : offset + 2]
    else:
        size_b = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(offset)
            first = f.read(2)
    if size_b < offset + 2:
        if size_b == offset:
            return EventStream(str(path), "dat", geometry_from_header(lines), lambda cb: iter(()), {"header": lines})
        raise CorruptRecordingError(path, offset, "truncated: missing event type/size bytes")
    ev_type, ev_size = first
    if ev_size != 8:
        raise CorruptRecordingError(path, offset + 1, f"unsupported DAT event size {ev_size} (expected 8)")

    def chunks(cb: int, tally: Tally) -> Iterator[np.ndarray]:
        from neuro_deploy.events.kernels import dat_decode

        state = np.array([-1, 0], np.int64)  # last raw t, wraps of the uint32 us timer
        st, w, h = tally.fused()

        def decode(words: np.ndarray, out: np.ndarray) -> tuple[int, int]:
            dat_decode(words, state, out, st, w, h)
            tally.add(len(words))
            return len(words), len(words)

        yield from decode_words(path, offset + 2, np.dtype(("<u4", (2,))), cb, "DAT event", head, decode)

    return EventStream(
        str(path),
        "dat",
        geometry_from_header(lines),
        chunks,
        {"header": lines, "event_type": int(ev_type)},
        tallies=True,
    )
