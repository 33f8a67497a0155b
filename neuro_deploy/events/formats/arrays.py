"""Array containers: numpy ``.npy``/``.npz``, HDF5 ``.h5``/``.hdf5`` and ``.csv``/``.txt``.

Accepted layouts: a structured array with fields x, y, t, p (``on``/``polarity`` also
accepted for p; ``ts``/``timestamp`` for t); an (N, 4) array in t, x, y, p column order;
in ``.npz``/``.h5`` either one such array (``events``) or separate x, y, t, p arrays
(optionally under an ``events`` group). CSV/TXT: t, x, y, p columns, with or without a
header line naming them (any order when named).

Identified by numpy's ``\x93NUMPY`` magic, a zip's ``PK`` (``.npz``) and HDF5's
``\x89HDF\r\n\x1a\n`` signature; text has none, so ``.csv``/``.txt`` go by extension and
must then parse. ``.npz``/``.h5`` may carry a ``triggers`` array, (N, 3) int64 of
(t_us, value, channel), as :mod:`neuro_deploy.events.writers` writes it (EXT_TRIGGER events
kept by ``events convert``); it comes back in ``meta["triggers"]``. Containers are made by
users, so unsorted time is a warning here, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError, NeuroDeployError, UnidentifiedRecordingError
from neuro_deploy.events.formats.common import EventStream
from neuro_deploy.events.plausibility import ARRAY_LIMITS
from neuro_deploy.events.readers import HEAD_BYTES, register_reader
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize, make_events

ALIASES = {"x": ("x",), "y": ("y",), "t": ("t", "ts", "timestamp", "timestamps"), "p": ("p", "on", "polarity", "pol")}


def _pick(names: Any, field: str) -> str | None:
    for alias in ALIASES[field]:
        if alias in names:
            return alias
    return None


#: column order of (N, 4) arrays and header-less text
COLUMNS = ("t", "x", "y", "p")
#: (lowest, highest) value each field of EVENT_DTYPE holds
FIELD_RANGE = {"x": (-(1 << 15), (1 << 15) - 1), "y": (-(1 << 15), (1 << 15) - 1), "t": (-(1 << 62), 1 << 62)}


def _column(path: Path, name: str, values: Any) -> np.ndarray:
    """A real numeric column, finite and inside its field's range (never silently wrapped)."""
    col = np.asarray(values)
    if col.ndim != 1:
        raise CorruptRecordingError(path, None, f"field {name!r} has shape {col.shape}, not (N,)")
    if not (np.issubdtype(col.dtype, np.integer) or np.issubdtype(col.dtype, np.floating) or col.dtype == np.bool_):
        raise CorruptRecordingError(path, None, f"field {name!r} is {col.dtype}, not a real number type")
    if name in FIELD_RANGE and len(col):
        lo, hi = FIELD_RANGE[name]
        if np.issubdtype(col.dtype, np.floating) and not np.isfinite(col).all():
            raise CorruptRecordingError(path, None, f"field {name!r} holds NaN or infinite values")
        if col.min() < lo or col.max() > hi:
            raise CorruptRecordingError(
                path, None, f"field {name!r} spans {col.min()}..{col.max()}, beyond what an event can hold ({lo}..{hi})"
            )
    return col


def from_columns(path: Path, get: Any, names: Any) -> np.ndarray:
    keys = {f: _pick(names, f) for f in "xytp"}
    missing = [f for f, k in keys.items() if k is None]
    if missing:
        raise CorruptRecordingError(path, None, f"no {', '.join(missing)} field(s) (have {sorted(names)})")
    cols = {f: _column(path, f, get(k)) for f, k in keys.items()}
    n = {len(c) for c in cols.values()}
    if len(n) != 1:
        raise CorruptRecordingError(path, None, f"x, y, t, p have different lengths {sorted(n)}")
    return make_events(cols["x"], cols["y"], cols["t"], (cols["p"] > 0).astype(np.int8))


def from_array(path: Path, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.names:
        return from_columns(path, lambda k: arr[k], arr.dtype.names)
    if arr.ndim == 2 and arr.shape[1] == 4:
        return from_columns(path, lambda k: arr[:, COLUMNS.index(k)], COLUMNS)
    if arr.size == 0:
        return np.empty(0, EVENT_DTYPE)
    raise CorruptRecordingError(
        path, None, f"array of shape {arr.shape} is neither structured (x, y, t, p) nor (N, 4) t, x, y, p"
    )


def _single(path: Path, events: np.ndarray, fmt: str, size: SensorSize | None, triggers: Any = None) -> EventStream:
    def chunks(cb: int) -> Iterator[np.ndarray]:
        per = max(1, cb // 16)
        for i in range(0, len(events), per):
            yield events[i : i + per]

    meta = {}
    if triggers is not None:
        trig = np.asarray(triggers)
        if trig.ndim != 2 or trig.shape[1] != 3 or not np.issubdtype(trig.dtype, np.integer):
            raise CorruptRecordingError(
                path, None, f"'triggers' must be (N, 3) integers (t_us, value, channel), got {trig.dtype} {trig.shape}"
            )
        meta["triggers"] = trig.astype(np.int64)
    return EventStream(str(path), fmt, size, chunks, meta)


def _size_from(path: Path, obj: Any) -> SensorSize | None:
    try:
        for wk, hk in (("width", "height"), ("sensor_width", "sensor_height")):
            if wk in obj and hk in obj:
                return SensorSize(int(np.asarray(obj[wk]).ravel()[0]), int(np.asarray(obj[hk]).ravel()[0]))
        if "sensor_size" in obj:
            s = np.asarray(obj["sensor_size"]).ravel()
            if len(s) >= 2 and s[0] > 0:
                return SensorSize(int(s[0]), int(s[1]))
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise CorruptRecordingError(path, None, f"unreadable sensor size ({exc})") from None
    return None


def _is_text(head: bytes) -> bool:
    """Decodes as UTF-8 (a cut multi-byte character at the end is fine) without control bytes."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r" for c in text)


def _magic(*prefixes: bytes):
    return lambda head: head.startswith(prefixes)


@register_reader(
    "npy",
    (".npy",),
    "numpy structured (x, y, t, p) or (N, 4) t, x, y, p",
    sniff=_magic(b"\x93NUMPY"),
    limits=ARRAY_LIMITS,
)
def open_npy(path: Path, **_: str) -> EventStream:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as exc:
        raise CorruptRecordingError(path, None, f"not a readable .npy ({exc})") from None
    return _single(path, from_array(path, np.asarray(arr)), "npy", None)


@register_reader(
    "npz",
    (".npz",),
    "numpy .npz with 'events' or x, y, t, p arrays",
    sniff=_magic(b"PK\x03\x04", b"PK\x05\x06"),
    limits=ARRAY_LIMITS,
)
def open_npz(path: Path, **_: str) -> EventStream:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("a plain .npy array, not an .npz archive")
            files = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - zipfile/zlib/numpy raise many types on damaged files
        raise CorruptRecordingError(path, None, f"not a readable .npz ({exc})") from None
    ev = (
        from_array(path, files["events"])
        if "events" in files
        else from_columns(path, files.__getitem__, [k for k in files if k != "triggers"])
    )
    return _single(path, ev, "npz", _size_from(path, files), files.get("triggers"))


@register_reader(
    "hdf5",
    (".h5", ".hdf5"),
    "HDF5 with an 'events' dataset or x, y, t, p datasets",
    sniff=_magic(b"\x89HDF\r\n\x1a\n"),
    limits=ARRAY_LIMITS,
)
def open_h5(path: Path, **_: str) -> EventStream:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            size = _size_from(path, dict(h5.attrs))
            node = h5["events"] if "events" in h5 else h5
            if isinstance(node, h5py.Dataset):
                ev = from_array(path, node[()])
            else:
                ev = from_columns(path, lambda k: node[k][()], [k for k in node.keys() if k != "triggers"])
            trig = h5["triggers"][()] if isinstance(h5.get("triggers"), h5py.Dataset) else None
    except NeuroDeployError:
        raise
    except KeyError as exc:
        raise CorruptRecordingError(path, None, f"missing dataset {exc}") from None
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on damaged files
        raise CorruptRecordingError(path, None, f"not a readable HDF5 file ({type(exc).__name__}: {exc})") from None
    return _single(path, ev, "hdf5", size, trig)


@register_reader(
    "csv", (".csv", ".txt"), "text columns t, x, y, p (header optional)", limits=ARRAY_LIMITS, headerless=True
)
def open_csv(path: Path, **_: str) -> EventStream:
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if head and not _is_text(head):
        from neuro_deploy.events.readers import supported_formats
        from neuro_deploy.events.sniff import looks_like

        raise UnidentifiedRecordingError(
            path, looks_like(head, path.stat().st_size) + ", not text", supported_formats()
        )
    with open(path, "r", errors="replace") as f:
        first = f.readline()
    has_header = any(c.isalpha() for c in first)
    delim = "," if "," in first else None
    try:
        data = np.loadtxt(path, delimiter=delim, skiprows=1 if has_header else 0, ndmin=2, dtype=np.float64)
    except (ValueError, IndexError, TypeError, OverflowError) as exc:
        raise CorruptRecordingError(path, None, f"malformed text ({exc})") from None
    if data.size == 0:
        return _single(path, np.empty(0, EVENT_DTYPE), "csv", None)
    if data.shape[1] != 4:
        raise CorruptRecordingError(path, None, f"expected 4 columns (t, x, y, p), got {data.shape[1]}")
    if has_header:
        names = [n.strip().lower() for n in first.replace(",", " ").split()]
        if len(names) != data.shape[1]:
            raise CorruptRecordingError(path, 0, f"header names {len(names)} columns, the rows have {data.shape[1]}")
        ev = from_columns(path, lambda k: data[:, names.index(k)], names)
    else:
        ev = from_columns(path, lambda k: data[:, COLUMNS.index(k)], COLUMNS)
    return _single(path, ev, "csv", None)
