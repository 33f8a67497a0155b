"""iniVation / jAER formats: AEDAT 2.0, AEDAT 3.1 and AEDAT 4.0.

AEDAT 2.0 (jAER): ``#`` header lines, then big-endian (uint32 address, int32 timestamp)
pairs. The address layout depends on the camera: DVS128 (x = bits 1-7, y = bits 8-14,
polarity = bit 0) or DAVIS (bit 31 = APS/IMU, skipped; bit 10 = special event, skipped;
x = bits 12-21, y = bits 22-30, polarity = bit 11), chosen from the header's chip name or,
failing that, from the addresses. jAER's 32-bit signed timestamps wrap; every backwards
jump of more than 2^31 µs adds 2^32 µs. Identified by the ``#!AER-DAT2`` first line
jAER always writes (AEDAT 3.1 and 4.0 likewise by theirs).

AEDAT 3.1: ``#!AER-DAT3.1`` header up to ``#!END-HEADER``, then packets: a 28-byte
little-endian header (type, source, event size, ts offset, ts overflow, capacity,
number, valid) and ``number * size`` bytes. Polarity packets (type 1, 8 bytes/event:
uint32 data with valid bit 0, polarity bit 1, y bits 2-16, x bits 17-31; int32 31-bit
timestamp) are decoded with ``t = overflow << 31 | timestamp``; other packets are skipped.

AEDAT 4.0: decoded with the ``aedat`` package (Rust); the first event stream is read,
frames/IMU/trigger streams are counted in ``meta``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.formats.common import EventStream, iter_words, unwrap_counter
from neuro_deploy.events.plausibility import FormatLimits
from neuro_deploy.events.readers import register_reader
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize, make_events

CHIPS = {  # header keyword -> (layout, width, height)
    "dvs128": ("dvs128", 128, 128), "tmpdiff128": ("dvs128", 128, 128),
    "davis346": ("davis", 346, 260), "davis240": ("davis", 240, 180),
    "davis640": ("davis", 640, 480), "dvs346": ("davis", 346, 260),
}


def _hash_header(path: Path, end_marker: bytes | None = None) -> tuple[list[str], int]:
    lines, pos = [], 0
    with open(path, "rb") as f:
        while True:
            start = f.tell()
            first = f.read(1)
            if first != b"#":
                f.seek(start)
                break
            line = first + f.readline()
            pos = f.tell()
            lines.append(line.decode("latin-1").rstrip("\r\n"))
            if end_marker and line.strip().startswith(end_marker):
                break
    return lines, pos


def sniff_aedat(version: str):
    def sniff(head: bytes) -> bool:
        return head.startswith(f"#!AER-DAT{version}".encode())
    return sniff


#: the largest jAER DAVIS sensor (DAVIS640); a DVS128 layout cannot exceed 128x128
JAER_LIMITS = FormatLimits(bound=(640, 480), bound_source="the largest jAER sensor, DAVIS640")


@register_reader("aedat2", (".aedat", ".dat"), "jAER AEDAT 2.0 (DVS128, DAVIS)", sniff=sniff_aedat("2"),
                 limits=JAER_LIMITS)
def open_aedat2(path: Path, **_: str) -> EventStream:
    lines, offset = _hash_header(path)
    text = " ".join(lines).lower()
    chip = next((v for k, v in CHIPS.items() if k in text), None)
    meta = {"header": lines}
    dt = np.dtype([("a", ">u4"), ("t", ">i4")])
    layout = chip[0] if chip else None
    if layout is None:
        first = np.fromfile(path, dtype=dt, count=1000, offset=offset)
        layout = "davis" if len(first) and (first["a"] >= (1 << 15)).any() else "dvs128"
        meta["layout_guessed"] = layout

    def chunks(cb: int) -> Iterator[np.ndarray]:
        wrap: list = [None, 0]          # jAER's int32 timestamps wrap at 2^32 us
        for _, w in iter_words(path, offset, dt, cb, "AEDAT 2.0 event"):
            a = w["a"].astype(np.int64)
            tt = unwrap_counter(w["t"], 1 << 32, wrap)
            if layout == "dvs128":
                yield make_events((a >> 1) & 0x7F, (a >> 8) & 0x7F, tt, a & 1)
            else:
                keep = ((a >> 31) & 1 == 0) & ((a >> 10) & 1 == 0)
                a, tt = a[keep], tt[keep]
                yield make_events((a >> 12) & 0x3FF, (a >> 22) & 0x1FF, tt, (a >> 11) & 1)

    size = SensorSize(chip[1], chip[2]) if chip else None
    return EventStream(str(path), "aedat2", size, chunks, meta)


PACKET_HEADER = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
                          ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
POLARITY = np.dtype([("data", "<u4"), ("t", "<i4")])


@register_reader("aedat3", (".aedat", ".aedat3"), "iniVation AEDAT 3.1 (polarity packets)",
                 sniff=sniff_aedat("3"))
def open_aedat3(path: Path, **_: str) -> EventStream:
    lines, offset = _hash_header(path, b"#!END-HEADER")
    if not lines or not lines[0].startswith("#!AER-DAT3"):
        raise CorruptRecordingError(path, 0, "not an AEDAT 3.x file (no #!AER-DAT3 line)")
    size = None
    for line in lines:
        m = re.search(r"(?:sizeX|width)\D+(\d+).*?(?:sizeY|height)\D+(\d+)", line, re.I)
        if m:
            size = SensorSize(int(m.group(1)), int(m.group(2)))
    total = path.stat().st_size

    def chunks(cb: int) -> Iterator[np.ndarray]:
        pos = offset
        with open(path, "rb") as f:
            while pos < total:
                f.seek(pos)
                raw = f.read(PACKET_HEADER.itemsize)
                if len(raw) < PACKET_HEADER.itemsize:
                    raise CorruptRecordingError(path, pos, "truncated packet header")
                h = np.frombuffer(raw, PACKET_HEADER)[0]
                n, esize = int(h["number"]), int(h["size"])
                if n < 0 or esize <= 0 or n > total:
                    raise CorruptRecordingError(path, pos, f"corrupt packet header (number {n}, size {esize})")
                body = n * esize
                if pos + PACKET_HEADER.itemsize + body > total:
                    raise CorruptRecordingError(path, pos, f"truncated packet: needs {body} bytes")
                if int(h["type"]) == 1 and esize == 8:
                    ev = np.frombuffer(f.read(body), POLARITY)
                    d = ev["data"].astype(np.int64)
                    ok = (d & 1) == 1
                    d = d[ok]
                    t = (np.int64(h["ts_overflow"]) << 31) | (ev["t"][ok].astype(np.int64) & 0x7FFFFFFF)
                    yield make_events((d >> 17) & 0x7FFF, (d >> 2) & 0x7FFF, t, (d >> 1) & 1)
                pos += PACKET_HEADER.itemsize + body

    return EventStream(str(path), "aedat3", size, chunks, {"header": lines})


def _decode_aedat4(path: str):
    """Whole-file decode with ``aedat`` (runs in an isolated child process). A decoder
    error part-way is returned (with the events before it), not raised."""
    import aedat

    decoder = aedat.Decoder(path)
    streams = {int(i): dict(s) for i, s in decoder.id_to_stream().items()}
    ev_ids = sorted(i for i, s in streams.items() if s["type"] == "events")
    parts, counts = [], {}
    error = None
    try:
        for packet in decoder:
            sid = int(packet["stream_id"])
            kind = streams.get(sid, {}).get("type", "unknown")
            if kind != "events" or not ev_ids or sid != ev_ids[0]:
                counts[kind] = counts.get(kind, 0) + 1
                continue
            e = packet["events"]
            parts.append(make_events(e["x"], e["y"], e["t"], e["on"]))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a corrupt file
        error = f"{type(exc).__name__}: {exc}"
    events = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
    return events, streams, ev_ids, counts, error


@register_reader("aedat4", (".aedat4",), "iniVation AEDAT 4.0 (polarity events; IMU/trigger/frame "
                 "streams counted)", sniff=lambda head: head.startswith(b"#!AER-DAT4"))
def open_aedat4(path: Path, **_: str) -> EventStream:
    """AEDAT 4.0 via the ``aedat`` package, decoded in a child process
    (:func:`~neuro_deploy.events.formats.common.run_isolated`): the Rust decoder aborts the
    interpreter on some corrupt files. Events are read whole, then served in chunks."""
    try:
        import aedat  # noqa: F401
    except ImportError:  # pragma: no cover
        from neuro_deploy.errors import EnvironmentProblem

        raise EnvironmentProblem("AEDAT 4 needs the 'aedat' package: pip install aedat") from None
    with open(path, "rb") as f:
        if not f.read(12).startswith(b"#!AER-DAT4"):
            raise CorruptRecordingError(path, 0, "missing '#!AER-DAT4' signature")
    from neuro_deploy.events.formats.common import run_isolated

    events, streams, ev_ids, counts, error = run_isolated(_decode_aedat4, (str(path),), path, "AEDAT 4")
    size = None
    if ev_ids:
        s = streams[ev_ids[0]]
        if s.get("width") and s.get("height"):
            size = SensorSize(int(s["width"]), int(s["height"]))
    meta = {"streams": {i: s["type"] for i, s in streams.items()}, "other_packets": counts}

    def chunks(cb: int) -> Iterator[np.ndarray]:
        per = max(1, cb // EVENT_DTYPE.itemsize)
        for i in range(0, len(events), per):
            yield events[i:i + per]
        if error is not None:
            raise CorruptRecordingError(path, None, f"AEDAT 4: {error}")

    return EventStream(str(path), "aedat4", size, chunks, meta)
