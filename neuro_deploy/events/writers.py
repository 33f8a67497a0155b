"""Event writers by extension: ``.npz`` / ``.npy`` (structured), ``.h5``, ``.csv``,
``.bin`` (N-MNIST 40-bit), ``.raw`` (Prophesee EVT 3.0; EVT 2.0 as ``fmt="evt2"``),
``.dat`` (Prophesee DAT), ``.es`` (Event Stream 2.0 DVS), ``.aedat4`` (AEDAT 4.0, LZ4).
All write atomically; each binary format is written as its reader in
:mod:`neuro_deploy.events.formats` (and the reference decoders) read it back.

External triggers (Prophesee EXT_TRIGGER, ``Recording.meta["triggers"]``: an (N, 3) int64
array of t_us, value, channel) are kept where the container can hold them - ``.npz`` (a
``triggers`` array) and ``.h5`` (a ``triggers`` dataset) - and read back by the array
readers; :func:`holds_triggers` says whether a destination keeps them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.errors import BadInputError, UnknownNameError
from neuro_deploy.events.types import EVENT_DTYPE


def encode_atis_bin(events: np.ndarray) -> bytes:
    """Inverse of :func:`~neuro_deploy.events.formats.atis.decode_atis_bin`: 5 bytes per event;
    timestamps >= 2^23 µs are written with ``y = 240`` overflow words (2^13 µs each)."""
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or np.any(np.diff(t) < 0)):
        raise BadInputError("N-MNIST binary needs sorted, non-negative timestamps")
    if len(events) and (
        events["x"].max() > 255 or events["y"].max() > 239 or events["x"].min() < 0 or events["y"].min() < 0
    ):
        raise BadInputError("N-MNIST binary holds x < 256 and y < 240 only")
    step = 1 << 13
    out = np.zeros((len(events), 5), dtype=np.uint8)
    rel = t.copy()
    over = np.zeros(len(t), dtype=np.int64)
    if len(t) and t.max() >= (1 << 23):
        over = np.maximum(0, (t - (1 << 23) + step) // step)
        rel = t - over * step
    out[:, 0] = events["x"]
    out[:, 1] = events["y"]
    out[:, 2] = ((events["p"] > 0).astype(np.uint8) << 7) | ((rel >> 16) & 127).astype(np.uint8)
    out[:, 3] = (rel >> 8) & 255
    out[:, 4] = rel & 255
    if not over.any():
        return out.tobytes()
    # event i follows over[i] overflow markers in all: rows of markers, events at i + over[i]
    words = np.tile(np.array([0, 240, 0, 0, 0], dtype=np.uint8), (len(t) + int(over[-1]), 1))
    words[np.arange(len(t)) + over] = out
    return words.tobytes()


def _sorted_columns(events: np.ndarray, what: str, x_bits: int, y_bits: int) -> tuple[np.ndarray, ...]:
    """x, y, t, p as int64 columns of time-sorted events that fit the format's fields."""
    ev = events if not len(events) or np.all(np.diff(events["t"]) >= 0) else np.sort(events, order="t", kind="stable")
    x, y, t = (ev[k].astype(np.int64) for k in "xyt")
    p = (ev["p"] > 0).astype(np.int64)
    if len(ev) and (t.min() < 0 or x.min() < 0 or y.min() < 0 or x.max() >= 1 << x_bits or y.max() >= 1 << y_bits):
        raise BadInputError(f"{what} holds non-negative times and coordinates x < {1 << x_bits}, y < {1 << y_bits}")
    return x, y, t, p


def _size(events: np.ndarray, sensor: tuple[int, int] | None) -> tuple[int, int]:
    if sensor:
        return int(sensor[0]), int(sensor[1])
    if not len(events):
        return 1, 1
    return int(events["x"].max()) + 1, int(events["y"].max()) + 1


def encode_evt2(events: np.ndarray, sensor: tuple[int, int] | None = None) -> bytes:
    """Prophesee RAW EVT 2.0: ``% evt 2.0`` header with the geometry, then TIME_HIGH and
    CD words (:func:`neuro_deploy.events.kernels.evt2_encode`)."""
    from neuro_deploy.events.kernels import evt2_encode

    x, y, t, p = _sorted_columns(events, "EVT 2.0", 11, 11)
    w, h = _size(events, sensor)
    words = np.empty(2 * len(t), np.uint32)
    k = evt2_encode(x, y, t, p, words)
    return f"% evt 2.0\n% geometry {w}x{h}\n% end\n".encode() + words[:k].tobytes()


def encode_evt3(events: np.ndarray, sensor: tuple[int, int] | None = None) -> bytes:
    """Prophesee RAW EVT 3.0: ``% evt 3.0`` header with the geometry, then TIME_HIGH,
    TIME_LOW, ADDR_Y and ADDR_X words (:func:`neuro_deploy.events.kernels.evt3_encode`)."""
    from neuro_deploy.events.kernels import evt3_encode

    x, y, t, p = _sorted_columns(events, "EVT 3.0", 11, 11)
    w, h = _size(events, sensor)
    words = np.empty(4 * len(t), np.uint16)
    k = evt3_encode(x, y, t, p, words)
    header = f"% evt 3.0\n% format EVT3;height={h};width={w}\n% geometry {w}x{h}\n% end\n"
    return header.encode() + words[:k].tobytes()


def encode_dat(events: np.ndarray, sensor: tuple[int, int] | None = None) -> bytes:
    """Prophesee DAT: ``%`` header (version 2, width, height), event type 0 and size 8,
    then (uint32 t, uint32 x | y << 14 | p << 28) per event; t modulo 2^32 us."""
    x, y, t, p = _sorted_columns(events, "DAT", 14, 14)
    w, h = _size(events, sensor)
    rec = np.empty((len(t), 2), np.uint32)
    rec[:, 0] = t & 0xFFFFFFFF
    rec[:, 1] = x | (y << 14) | (p << 28)
    header = f"% Data file containing CD events.\n% Version 2\n% Width {w}\n% Height {h}\n".encode()
    return header + bytes([0, 8]) + rec.tobytes()


def encode_es(events: np.ndarray, sensor: tuple[int, int] | None = None) -> bytes:
    """Event Stream 2.0.0, DVS type, as :func:`neuro_deploy.events.kernels.es_encode` writes it."""
    from neuro_deploy.events.kernels import es_encode

    x, y, t, p = _sorted_columns(events, "Event Stream", 16, 16)
    w, h = _size(events, sensor)
    if len(t) and (x.max() >= w or y.max() >= h):
        raise BadInputError(f"Event Stream: events beyond the {w}x{h} sensor")
    room = 5 * len(t) + int((np.diff(t, prepend=t[:1]) // 127).sum()) if len(t) else 0
    out = np.empty(room, np.uint8)
    k = es_encode(x, y, t, p, h, out)
    return b"Event Stream" + bytes([2, 0, 0, 1]) + w.to_bytes(2, "little") + h.to_bytes(2, "little") + out[:k].tobytes()


#: events per AEDAT 4 packet written
AEDAT4_PACKET_EVENTS = 1024


def _lz4_frame(data: bytes) -> bytes:
    """One LZ4 frame (linked 64 KiB blocks, no checksums: FLG 0x40, BD 0x40, header
    checksum 0xC0), each block compressed, or stored when that is not smaller."""
    from neuro_deploy.events.kernels import lz4_compress

    out = [b"\x04\x22\x4d\x18\x40\x40\xc0"]
    src = np.frombuffer(data, np.uint8)
    for a in range(0, len(src), 1 << 16):
        block = src[a : a + (1 << 16)]
        dst = np.empty(len(block) + len(block) // 255 + 16, np.uint8)
        k = lz4_compress(block, dst)
        if k < len(block):
            out += [k.to_bytes(4, "little"), dst[:k].tobytes()]
        else:
            out += [(len(block) | 1 << 31).to_bytes(4, "little"), block.tobytes()]
    out.append(bytes(4))
    return b"".join(out)


def encode_aedat4(events: np.ndarray, sensor: tuple[int, int] | None = None) -> bytes:
    """AEDAT 4.0 with one event stream (id 0), LZ4-compressed packets of
    :data:`AEDAT4_PACKET_EVENTS` events (flatbuffer ``EventPacket``: int64 t, int16 x, y,
    bool on), no data table - laid out as iniVation's DV writes it."""
    x, y, t, p = _sorted_columns(events, "AEDAT 4", 15, 15)
    w, h = _size(events, sensor)
    xml = (
        '<dv version="2.0">\n    <node name="outInfo" path="/mainloop/Recorder/outInfo/">\n'
        '        <node name="0" path="/mainloop/Recorder/outInfo/0/">\n'
        '            <attr key="compression" type="string">LZ4</attr>\n'
        '            <attr key="typeIdentifier" type="string">EVTS</attr>\n'
        '            <node name="info" path="/mainloop/Recorder/outInfo/0/info/">\n'
        f'                <attr key="sizeX" type="int">{w}</attr>\n'
        f'                <attr key="sizeY" type="int">{h}</attr>\n'
        "            </node>\n        </node>\n    </node>\n</dv>\n"
    ).encode()
    desc = len(xml).to_bytes(4, "little") + xml + b"\x00"
    desc += bytes(-len(desc) % 4)
    # IOHeader flatbuffer: root at 24, vtable at 14 (compression +4, position +12, description +8)
    header = (
        b"\x18\x00\x00\x00IOHE"
        + bytes(6)
        + b"\x0a\x00\x14\x00\x04\x00\x0c\x00\x08\x00"
        + (10).to_bytes(4, "little")
        + (1).to_bytes(4, "little")
        + (12).to_bytes(4, "little")
        + (-1).to_bytes(8, "little", signed=True)
        + desc
    )
    out = [b"#!AER-DAT4.0\r\n", len(header).to_bytes(4, "little"), header]
    rec = np.zeros(len(t), np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("pad", "V3")]))
    rec["t"], rec["x"], rec["y"], rec["on"] = t, x, y, p
    for a in range(0, len(t), AEDAT4_PACKET_EVENTS):
        part = rec[a : a + AEDAT4_PACKET_EVENTS]
        body = (
            b"\x10\x00\x00\x00EVTS\x00\x00\x06\x00\x08\x00\x04\x00"
            + (6).to_bytes(4, "little")
            + (4).to_bytes(4, "little")
            + len(part).to_bytes(4, "little")
            + part.tobytes()
        )
        packet = _lz4_frame((len(body)).to_bytes(4, "little") + body)
        out += [(0).to_bytes(4, "little"), len(packet).to_bytes(4, "little"), packet]
    return b"".join(out)


#: columns of a triggers array
TRIGGER_COLUMNS = ("t_us", "value", "channel")


def _triggers(triggers: np.ndarray | None) -> np.ndarray | None:
    if triggers is None:
        return None
    trig = np.asarray(triggers, dtype=np.int64)
    if trig.ndim != 2 or trig.shape[1] != len(TRIGGER_COLUMNS):
        raise BadInputError(f"triggers must be (N, 3): {', '.join(TRIGGER_COLUMNS)}; got shape {trig.shape}")
    return trig


def _write_npz(
    events: np.ndarray, path: Path, sensor: tuple[int, int] | None, triggers: np.ndarray | None = None
) -> None:
    extra = {} if triggers is None else {"triggers": _triggers(triggers)}
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(tmp, events=events.astype(EVENT_DTYPE), sensor_size=np.asarray(sensor or (-1, -1)), **extra)


def _write_npy(events: np.ndarray, path: Path, sensor: tuple[int, int] | None) -> None:
    with atomic_path(path, ".npy") as tmp:
        np.save(tmp, events.astype(EVENT_DTYPE))


def _write_h5(
    events: np.ndarray, path: Path, sensor: tuple[int, int] | None, triggers: np.ndarray | None = None
) -> None:
    import h5py

    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            g = h5.create_group("events")
            for k in ("x", "y", "t", "p"):
                g.create_dataset(k, data=events[k], compression="gzip")
            if sensor:
                h5.attrs["width"], h5.attrs["height"] = sensor
            if triggers is not None:
                d = h5.create_dataset("triggers", data=_triggers(triggers))
                d.attrs["columns"] = ",".join(TRIGGER_COLUMNS)


def _write_csv(events: np.ndarray, path: Path, sensor: tuple[int, int] | None) -> None:
    with atomic_path(path, ".csv") as tmp:
        with open(tmp, "w") as f:
            f.write("t,x,y,p\n")
            np.savetxt(
                f, np.column_stack([events["t"], events["x"], events["y"], events["p"]]), fmt="%d", delimiter=","
            )


def _write_bin(events: np.ndarray, path: Path, sensor: tuple[int, int] | None) -> None:
    data = encode_atis_bin(np.sort(events, order="t"))
    with atomic_path(path, ".bin") as tmp:
        tmp.write_bytes(data)


def _encoded(encode: Callable[..., bytes], suffix: str) -> Callable[..., None]:
    def write(events: np.ndarray, path: Path, sensor: tuple[int, int] | None) -> None:
        data = encode(events, sensor)
        with atomic_path(path, suffix) as tmp:
            tmp.write_bytes(data)

    return write


WRITERS: dict[str, Callable[..., None]] = {
    ".npz": _write_npz,
    ".npy": _write_npy,
    ".h5": _write_h5,
    ".hdf5": _write_h5,
    ".csv": _write_csv,
    ".txt": _write_csv,
    ".bin": _write_bin,
    ".raw": _encoded(encode_evt3, ".raw"),
    ".dat": _encoded(encode_dat, ".dat"),
    ".es": _encoded(encode_es, ".es"),
    ".aedat4": _encoded(encode_aedat4, ".aedat4"),
}
#: writers by format name (``write_events(..., fmt=...)``), where one extension has several
FORMAT_WRITERS: dict[str, Callable[..., None]] = {
    "evt3": WRITERS[".raw"],
    "evt2": _encoded(encode_evt2, ".raw"),
    "dat": WRITERS[".dat"],
    "es": WRITERS[".es"],
    "aedat4": WRITERS[".aedat4"],
    "nmnist-bin": _write_bin,
}
#: extensions whose writer also stores triggers
TRIGGER_WRITERS = (".npz", ".h5", ".hdf5")


def holds_triggers(path: str | Path) -> bool:
    """Whether :func:`write_events` keeps triggers in a file of this name."""
    return Path(path).suffix.lower() in TRIGGER_WRITERS


def write_events(
    events: np.ndarray,
    path: str | Path,
    sensor: tuple[int, int] | None = None,
    triggers: np.ndarray | None = None,
    fmt: str | None = None,
) -> None:
    """Write ``events`` (and ``triggers`` where the format holds them, see
    :func:`holds_triggers`; elsewhere they are not written). The format follows the
    extension, or ``fmt`` (a :data:`FORMAT_WRITERS` name, e.g. ``"evt2"`` for a ``.raw``)."""
    path = Path(path)
    if fmt is not None:
        writer = FORMAT_WRITERS.get(fmt)
        if writer is None:
            raise UnknownNameError("output format", fmt, FORMAT_WRITERS)
        writer(events, path, sensor)
        return
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise UnknownNameError("output format", path.suffix or path.name, WRITERS)
    if triggers is not None and holds_triggers(path):
        writer(events, path, sensor, triggers)
    else:
        writer(events, path, sensor)
