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
from neuro_deploy.events.plausibility import FormatLimits, Tally
from neuro_deploy.events.readers import HEAD_BYTES, register_reader
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize, make_events

CHIPS = {  # header keyword -> (layout, width, height)
    "dvs128": ("dvs128", 128, 128),
    "tmpdiff128": ("dvs128", 128, 128),
    "davis346": ("davis", 346, 260),
    "davis240": ("davis", 240, 180),
    "davis640": ("davis", 640, 480),
    "dvs346": ("davis", 346, 260),
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


@register_reader(
    "aedat2", (".aedat", ".dat"), "jAER AEDAT 2.0 (DVS128, DAVIS)", sniff=sniff_aedat("2"), limits=JAER_LIMITS
)
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
        wrap: list = [None, 0]  # jAER's int32 timestamps wrap at 2^32 us
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


PACKET_HEADER = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
POLARITY = np.dtype([("data", "<u4"), ("t", "<i4")])


@register_reader("aedat3", (".aedat", ".aedat3"), "iniVation AEDAT 3.1 (polarity packets)", sniff=sniff_aedat("3"))
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


AEDAT4_SIGNATURE = b"#!AER-DAT4.0\r\n"
#: IOHeader compression codes (dv-processing's ``Compression`` enum)
AEDAT4_COMPRESSION = {0: "none", 1: "lz4", 2: "lz4-high", 3: "zstd", 4: "zstd-high"}
#: stream type identifiers -> the names ``aedat`` gives them, and their kind codes
AEDAT4_KINDS = {"EVTS": "events", "FRME": "frame", "IMUS": "imus", "TRIG": "triggers"}
KIND_NAMES = list(AEDAT4_KINDS.values())


def _fb_u32(buf: bytes, pos: int, path: Path) -> int:
    if pos < 0 or pos + 4 > len(buf):
        raise CorruptRecordingError(path, None, "AEDAT 4: the file header's table is damaged")
    return int.from_bytes(buf[pos : pos + 4], "little")


def _io_header(path: Path, fb: bytes) -> tuple[int, int, bytes]:
    """(compression, data-table position, description bytes) of the IOHeader flatbuffer
    (table fields: compression int32 = 0, file data position int64 = -1, description string)."""
    root = _fb_u32(fb, 0, path)
    vt = root - int.from_bytes(fb[root : root + 4], "little", signed=True) if root + 4 <= len(fb) else -1
    if vt < 0 or vt + 4 > len(fb):
        raise CorruptRecordingError(path, None, "AEDAT 4: the file header's table is damaged")
    vt_size = int.from_bytes(fb[vt : vt + 2], "little")

    def field(k: int) -> int:
        return int.from_bytes(fb[vt + 4 + 2 * k : vt + 6 + 2 * k], "little") if 4 + 2 * k + 2 <= vt_size else 0

    compression, position, desc = 0, -1, b""
    if field(0):
        compression = int.from_bytes(fb[root + field(0) : root + field(0) + 4], "little", signed=True)
    if field(1):
        position = int.from_bytes(fb[root + field(1) : root + field(1) + 8], "little", signed=True)
    if field(2):
        at = root + field(2)
        start = at + _fb_u32(fb, at, path)
        length = _fb_u32(fb, start, path)
        if start + 4 + length > len(fb):
            raise CorruptRecordingError(path, None, "AEDAT 4: the header's description runs past the header")
        desc = fb[start + 4 : start + 4 + length]
    return compression, position, desc


def _streams(path: Path, desc: bytes) -> dict[int, dict]:
    """Streams declared by the header's XML description, as ``aedat`` reads them:
    ``<dv><node name="outInfo"><node name="ID">`` with a ``typeIdentifier`` attr and, for
    events and frames, ``sizeX`` / ``sizeY`` in its ``info`` node."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(desc.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorruptRecordingError(path, None, f"AEDAT 4: the header's description is not UTF-8 ({exc})") from None
    except ET.ParseError as exc:
        raise CorruptRecordingError(path, None, f"AEDAT 4: the header's description is not XML ({exc})") from None

    def child(node, tag: str, key: str, value: str):
        return next((c for c in node if c.tag == tag and c.get(key) == value), None)

    out = child(root, "node", "name", "outInfo") if root.tag == "dv" else None
    if out is None:
        raise CorruptRecordingError(path, None, "AEDAT 4: the header's description has no outInfo node")
    streams: dict[int, dict] = {}
    for node in out:
        if node.tag != "node":
            continue
        try:
            sid = int(node.get("name", ""))
            ident = child(node, "attr", "key", "typeIdentifier").text
            stream = {"type": AEDAT4_KINDS[ident]}
            if ident in ("EVTS", "FRME"):
                info = child(node, "node", "name", "info")
                stream["width"] = int(child(info, "attr", "key", "sizeX").text)
                stream["height"] = int(child(info, "attr", "key", "sizeY").text)
            if not 0 <= sid < 2**32 or sid in streams:
                raise ValueError(f"stream id {sid}")
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise CorruptRecordingError(
                path,
                None,
                f"AEDAT 4: unreadable stream {node.get('name')!r} in the header ({type(exc).__name__}: {exc})",
            ) from None
        streams[sid] = stream
    if not streams:
        raise CorruptRecordingError(path, None, "AEDAT 4: the header declares no stream")
    return streams


def _decode_aedat4(path: str):
    """Whole-file decode with ``aedat`` (runs in the guarded decoder process, for the
    Zstandard-compressed files the in-process decoder does not read). A decoder error
    part-way is returned (with the events before it), not raised."""
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


def _aedat4_guarded(path: Path, meta: dict) -> Iterator[np.ndarray]:
    """Zstandard files: ``aedat`` in the guarded decoder process (it aborts on some damage)."""
    try:
        import aedat  # noqa: F401
    except ImportError:  # pragma: no cover
        from neuro_deploy.errors import EnvironmentProblem

        raise EnvironmentProblem("Zstandard-compressed AEDAT 4 needs the 'aedat' package: pip install aedat") from None
    from neuro_deploy.events.formats.common import run_isolated

    events, streams, ev_ids, counts, error = run_isolated(_decode_aedat4, (str(path),), path, "AEDAT 4")
    meta["other_packets"] = counts
    if len(events):
        yield events
    if error is not None:
        raise CorruptRecordingError(path, None, f"AEDAT 4: {error}")


@register_reader(
    "aedat4",
    (".aedat4",),
    "iniVation AEDAT 4.0 (polarity events; IMU/trigger/frame streams counted)",
    sniff=lambda head: head.startswith(b"#!AER-DAT4"),
)
def open_aedat4(path: Path, head: bytes | None = None, **_: str) -> EventStream:
    """AEDAT 4.0: signature ``#!AER-DAT4.0\r\n``, a uint32 length and the IOHeader
    flatbuffer (compression, data-table position, XML description of the streams), then
    packets (uint32 stream id, uint32 size, size-prefixed flatbuffer - LZ4 frames when the
    header says LZ4). The first event stream's polarity events are decoded in-process by
    :func:`neuro_deploy.events.kernels.aedat4_decode` (bounds-checked: damage is a
    :class:`~neuro_deploy.errors.CorruptRecordingError`, never a crash); packets of other
    streams are counted in ``meta["other_packets"]``. Zstandard files go to ``aedat`` in
    the guarded decoder process (:func:`~neuro_deploy.events.formats.common.run_isolated`)."""
    if head is None:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    if not head.startswith(AEDAT4_SIGNATURE):
        raise CorruptRecordingError(path, 0, "missing '#!AER-DAT4.0' signature")
    whole = len(head) < HEAD_BYTES
    size_b = len(head) if whole else path.stat().st_size
    at = len(AEDAT4_SIGNATURE)
    if size_b < at + 4:
        raise CorruptRecordingError(path, at, "AEDAT 4: truncated before the header length")
    length = int.from_bytes(head[at : at + 4], "little")
    if at + 4 + length > size_b:
        raise CorruptRecordingError(path, at, f"AEDAT 4: the header ({length} bytes) runs past the end of the file")
    if at + 4 + length <= len(head):
        fb = head[at + 4 : at + 4 + length]
    else:
        with open(path, "rb") as f:
            f.seek(at + 4)
            fb = f.read(length)
    compression, stop, desc = _io_header(path, fb)
    streams = _streams(path, desc)
    if compression not in AEDAT4_COMPRESSION:
        raise CorruptRecordingError(path, None, f"AEDAT 4: unknown compression code {compression}")
    ev_ids = sorted(i for i, s in streams.items() if s["type"] == "events")
    size = None
    if ev_ids:
        s = streams[ev_ids[0]]
        if s.get("width") and s.get("height"):
            size = SensorSize(int(s["width"]), int(s["height"]))
    meta = {
        "streams": {i: s["type"] for i, s in streams.items()},
        "other_packets": {},
        "compression": AEDAT4_COMPRESSION[compression],
    }
    data_start = at + 4 + length

    def chunks(cb: int, tally: Tally) -> Iterator[np.ndarray]:
        if AEDAT4_COMPRESSION[compression].startswith("zstd"):
            for ev in _aedat4_guarded(path, meta):
                tally.update(ev)
                yield ev
            return
        from neuro_deploy.events.formats.common import BLOCK_BYTES, FileBlocks
        from neuro_deploy.events.kernels import ERRORS, NEED_DATA, NEED_ROOM, OK, aedat4_decode

        ids = np.array(list(streams), np.int64)
        kinds = np.array([KIND_NAMES.index(s["type"]) for s in streams.values()], np.int64)
        counts = np.zeros(len(KIND_NAMES), np.int64)
        lz4 = compression in (1, 2)
        scratch = np.empty(1 << 16, np.uint8)
        st, w, h = tally.fused()
        pos = data_start
        # events per chunk: about cb bytes of file (LZ4 packs an event in ~8 bytes; plain 16)
        per_byte = 5 if lz4 else 16
        with FileBlocks(path, head) as blocks:
            buf, base = blocks.read(pos, BLOCK_BYTES), pos
            while True:
                room = max(1024, min(blocks.size - pos, cb) // per_byte + 64)
                ev = np.empty(room, EVENT_DTYPE)
                n = 0
                while True:
                    k, pos, status, epos, scratch = aedat4_decode(
                        buf,
                        base,
                        pos,
                        blocks.size,
                        stop,
                        lz4,
                        ids,
                        kinds,
                        ev_ids[0] if ev_ids else -1,
                        ev[n:],
                        counts,
                        scratch,
                        st,
                        w,
                        h,
                    )
                    tally.add(k)
                    n += k
                    if status == NEED_DATA:  # next packet not in the buffer: read on
                        buf, base = blocks.read(pos, max(BLOCK_BYTES, epos)), pos
                        continue
                    if status == NEED_ROOM and (n == 0 or cb >= blocks.size):
                        grown = np.empty(2 * len(ev), EVENT_DTYPE)  # whole file: one array
                        grown[:n] = ev[:n]
                        ev = grown
                        continue
                    break
                meta["other_packets"] = {KIND_NAMES[i]: int(c) for i, c in enumerate(counts) if c}
                if n:
                    yield ev[:n]
                if status == NEED_ROOM:
                    continue
                if status != OK:
                    raise CorruptRecordingError(path, epos, f"AEDAT 4: {ERRORS[status]}")
                return

    return EventStream(str(path), "aedat4", size, chunks, meta, tallies=True)
