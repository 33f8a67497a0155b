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
from neuro_deploy.events.formats.common import (EventStream, geometry_from_header, iter_words,
                                                percent_header_lines, read_percent_header, unwrap_counter)
from neuro_deploy.events.plausibility import FormatLimits
from neuro_deploy.events.readers import HEAD_BYTES, register_reader
from neuro_deploy.events.types import EVENT_DTYPE, make_events


def _raw_version(lines: list[str]) -> str | None:
    """"2", "3", "2.1", "4" ... from ``% evt X.Y`` or ``% format EVTn;...``; None if absent."""
    for line in lines:
        low = line.lower().replace(" ", "")
        m = re.match(r"evt(\d+(?:\.\d+)?)", low)
        if m:
            v = m.group(1)
            return v[:-2] if v.endswith(".0") else v
        m = re.match(r"format(?:=|:)?evt(\d)(\d?)", low)
        if m:
            return m.group(1) + (f".{m.group(2)}" if m.group(2) and m.group(2) != "0" else "")
    return None


#: header keys only RAW files carry (a ``%`` header with one of them is not a DAT)
RAW_KEYS = ("evt", "format", "plugin_name", "integrator_name", "camera_integrator_name", "firmware_version",
            "serial_number", "system_id", "geometry", "generation", "sensor_generation", "end")


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


def _evt3_kernel():
    """Compile (once, cached on disk) the EVT3 state machine with numba."""
    import numba

    @numba.njit(cache=True)
    def decode(words, state, xs, ys, ts, ps, trig, compat):
        # state: [y, base_x, pol, t_low, t_high, loops, have_high, last_high, n_trig, low_ovfs]
        y, base_x, pol, t_low, t_high, loops, have_high, last_high = (
            state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
        low_ovfs = state[9]
        n = 0
        nt = state[8]
        if compat:
            have_high = 1
        for i in range(words.shape[0]):
            w = np.int64(words[i])
            kind = w >> 12
            if kind == 0x0:
                y = w & 0x7FF
            elif kind == 0x2:
                if have_high:
                    xs[n] = w & 0x7FF
                    ys[n] = y
                    ts[n] = ((loops << 24) | (t_high << 12) | t_low)
                    ps[n] = (w >> 11) & 1
                    n += 1
            elif kind == 0x3:
                base_x = w & 0x7FF
                pol = (w >> 11) & 1
            elif kind == 0x4 or kind == 0x5:
                bits = 12 if kind == 0x4 else 8
                if have_high:
                    t = (loops << 24) | (t_high << 12) | t_low
                    for b in range(bits):
                        if (w >> b) & 1:
                            xs[n] = base_x + b
                            ys[n] = y
                            ts[n] = t
                            ps[n] = pol
                            n += 1
                base_x += bits
            elif kind == 0x6:
                lo = w & 0xFFF
                if compat and lo < t_low:
                    low_ovfs += 1
                t_low = lo
                if compat:
                    t_high = last_high + low_ovfs
            elif kind == 0x8:
                h = w & 0xFFF
                if compat:
                    if h < last_high:
                        loops += 1
                    last_high = h
                    t_high = h + low_ovfs
                else:
                    if have_high and h < last_high and last_high - h > 0x800:
                        loops += 1
                    t_high = h
                    last_high = h
                    have_high = 1
            elif kind == 0xA:
                if have_high and nt < trig.shape[0]:
                    trig[nt, 0] = (loops << 24) | (t_high << 12) | t_low
                    trig[nt, 1] = w & 1
                    trig[nt, 2] = (w >> 8) & 0xF
                    nt += 1
        state[0], state[1], state[2], state[3] = y, base_x, pol, t_low
        state[4], state[5], state[6], state[7], state[8] = t_high, loops, have_high, last_high, nt
        state[9] = low_ovfs
        return n

    return decode


_EVT3 = None


EVT3_TIMINGS = ("spec", "expelliarmus")


def _evt3_chunks(path: Path, offset: int, meta: dict, chunk_bytes: int,
                 timing: str = "spec") -> Iterator[np.ndarray]:
    global _EVT3
    if timing not in EVT3_TIMINGS:
        from neuro_deploy.errors import UnknownNameError

        raise UnknownNameError("EVT3 timing", timing, EVT3_TIMINGS)
    if _EVT3 is None:
        _EVT3 = _evt3_kernel()
    state = np.zeros(10, dtype=np.int64)
    triggers: list[np.ndarray] = []
    for _, words in iter_words(path, offset, np.dtype("<u2"), chunk_bytes, "EVT3 word"):
        kinds = np.bincount(words >> 12, minlength=16)
        cap = int(kinds[0x2] + 12 * kinds[0x4] + 8 * kinds[0x5])      # exact upper bound
        xs = np.empty(cap, np.int64)
        ys = np.empty(cap, np.int64)
        ts = np.empty(cap, np.int64)
        ps = np.empty(cap, np.int64)
        trig = np.empty((int(kinds[0xA]), 3), np.int64)
        state[8] = 0
        n = _EVT3(words, state, xs, ys, ts, ps, trig, timing == "expelliarmus")
        if state[8]:
            triggers.append(trig[: state[8]].copy())
        if n:
            yield make_events(xs[:n], ys[:n], ts[:n], ps[:n])
    meta["triggers"] = np.concatenate(triggers) if triggers else np.zeros((0, 3), np.int64)


def _evt2_kernel():
    import numba

    @numba.njit(cache=True)
    def decode(words, state, ev, trig):
        # state: [t_high (-1 = none yet), n_trig, wraps]
        t_high = state[0]
        loops = state[2]
        n = 0
        nt = 0
        for i in range(words.shape[0]):
            w = np.int64(words[i])
            kind = w >> 28
            if kind == 0x8:
                h = w & 0x0FFFFFFF
                if t_high >= 0 and h < t_high and t_high - h > 0x8000000:
                    loops += 1
                t_high = h
            elif (kind == 0x0 or kind == 0x1) and t_high >= 0:
                ev[n].x = (w >> 11) & 0x7FF
                ev[n].y = w & 0x7FF
                ev[n].t = (loops << 34) | (t_high << 6) | ((w >> 22) & 0x3F)
                ev[n].p = kind
                n += 1
            elif kind == 0xA and t_high >= 0:
                trig[nt, 0] = (loops << 34) | (t_high << 6) | ((w >> 22) & 0x3F)
                trig[nt, 1] = w & 1
                trig[nt, 2] = (w >> 8) & 0x1F
                nt += 1
        state[0] = t_high
        state[1] = nt
        state[2] = loops
        return n

    return decode


_EVT2 = None


def _evt2_chunks(path: Path, offset: int, meta: dict, chunk_bytes: int) -> Iterator[np.ndarray]:
    global _EVT2
    if _EVT2 is None:
        _EVT2 = _evt2_kernel()
    state = np.array([-1, 0, 0], dtype=np.int64)   # TIME_HIGH and wraps carried across chunks
    triggers: list[np.ndarray] = []
    for _, words in iter_words(path, offset, np.dtype("<u4"), chunk_bytes, "EVT2 word"):
        kinds = np.bincount(words >> 28, minlength=16)
        ev = np.empty(int(kinds[0] + kinds[1]), EVENT_DTYPE)
        trig = np.empty((int(kinds[0xA]), 3), np.int64)
        n = _EVT2(words, state, ev, trig)
        if state[1]:
            triggers.append(trig[: state[1]].copy())
        if n:
            yield ev[:n]
    meta["triggers"] = np.concatenate(triggers) if triggers else np.zeros((0, 3), np.int64)


def _open_raw(path: Path, version: str, **opts: str) -> EventStream:
    lines, offset = read_percent_header(path)
    found = _raw_version(lines)
    if found is not None and found != version:
        raise CorruptRecordingError(path, 0, f"header says EVT {found}, reader is EVT {version}")
    meta: dict = {"header": lines}
    size = geometry_from_header(lines)
    fmt = f"evt{version}"
    if version == "3":
        timing = opts.get("evt3_timing", "spec")
        meta["evt3_timing"] = timing
        return EventStream(str(path), fmt, size,
                           lambda cb: _evt3_chunks(path, offset, meta, cb, timing), meta)
    return EventStream(str(path), fmt, size, lambda cb: _evt2_chunks(path, offset, meta, cb), meta)


@register_reader("evt3", (".raw",), "Prophesee RAW EVT 3.0", sniff=sniff_raw("3"), limits=PROPHESEE_LIMITS)
def open_evt3(path: Path, evt3_timing: str = "spec", **_: str) -> EventStream:
    return _open_raw(path, "3", evt3_timing=evt3_timing)


@register_reader("evt2", (".raw",), "Prophesee RAW EVT 2.0", sniff=sniff_raw("2"), limits=PROPHESEE_LIMITS)
def open_evt2(path: Path, **_: str) -> EventStream:
    return _open_raw(path, "2")


@register_reader("dat", (".dat",), "Prophesee DAT (CD events)", sniff=sniff_dat, limits=PROPHESEE_LIMITS)
def open_dat(path: Path, **_: str) -> EventStream:
    lines, offset = read_percent_header(path)
    size_b = path.stat().st_size
    if size_b < offset + 2:
        if size_b == offset:
            return EventStream(str(path), "dat", geometry_from_header(lines), lambda cb: iter(()), {"header": lines})
        raise CorruptRecordingError(path, offset, "truncated: missing event type/size bytes")
    with open(path, "rb") as f:
        f.seek(offset)
        ev_type, ev_size = f.read(2)
    if ev_size != 8:
        raise CorruptRecordingError(path, offset + 1, f"unsupported DAT event size {ev_size} (expected 8)")
    dt = np.dtype([("t", "<u4"), ("d", "<u4")])

    def chunks(cb: int) -> Iterator[np.ndarray]:
        wrap: list = [None, 0]
        for _, words in iter_words(path, offset + 2, dt, cb, "DAT event"):
            d = words["d"].astype(np.int64)
            yield make_events(d & 0x3FFF, (d >> 14) & 0x3FFF, unwrap_counter(words["t"], 1 << 32, wrap),
                              (d >> 28) & 0xF)

    return EventStream(str(path), "dat", geometry_from_header(lines), chunks,
                       {"header": lines, "event_type": int(ev_type)})
