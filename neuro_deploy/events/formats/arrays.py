"""Array containers: numpy ``.npy``/``.npz``, HDF5 ``.h5``/``.hdf5`` and ``.csv``/``.txt``.

Accepted layouts: a structured array with fields x, y, t, p (``on``/``polarity`` also
accepted for p; ``ts``/``timestamp`` for t); an (N, 4) array in t, x, y, p column order;
in ``.npz``/``.h5`` either one such array (``events``) or separate x, y, t, p arrays
(optionally under an ``events`` group). CSV/TXT: t, x, y, p columns, with or without a
header line naming them (any order when named).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events.formats.common import EventStream
from neuro_deploy.events.readers import register_reader
from neuro_deploy.events.types import EVENT_DTYPE, SensorSize, make_events

ALIASES = {"x": ("x",), "y": ("y",), "t": ("t", "ts", "timestamp", "timestamps"),
           "p": ("p", "on", "polarity", "pol")}


def _pick(names: Any, field: str) -> str | None:
    for alias in ALIASES[field]:
        if alias in names:
            return alias
    return None


def from_columns(path: Path, get: Any, names: Any) -> np.ndarray:
    keys = {f: _pick(names, f) for f in "xytp"}
    missing = [f for f, k in keys.items() if k is None]
    if missing:
        raise CorruptRecordingError(path, None, f"no {', '.join(missing)} field(s) (have {sorted(names)})")
    cols = {f: np.asarray(get(k)) for f, k in keys.items()}
    n = {len(c) for c in cols.values()}
    if len(n) != 1:
        raise CorruptRecordingError(path, None, f"x, y, t, p have different lengths {sorted(n)}")
    return make_events(cols["x"], cols["y"], cols["t"], (cols["p"] > 0).astype(np.int8))


def from_array(path: Path, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.names:
        return from_columns(path, lambda k: arr[k], arr.dtype.names)
    if arr.ndim == 2 and arr.shape[1] == 4:
        return make_events(arr[:, 1], arr[:, 2], arr[:, 0], (arr[:, 3] > 0).astype(np.int8))
    if arr.size == 0:
        return np.empty(0, EVENT_DTYPE)
    raise CorruptRecordingError(path, None, f"array of shape {arr.shape} is neither structured "
                                            "(x, y, t, p) nor (N, 4) t, x, y, p")


def _single(path: Path, events: np.ndarray, fmt: str, size: SensorSize | None) -> EventStream:
    def chunks(cb: int) -> Iterator[np.ndarray]:
        per = max(1, cb // 16)
        for i in range(0, len(events), per):
            yield events[i:i + per]
    return EventStream(str(path), fmt, size, chunks)


def _size_from(obj: Any) -> SensorSize | None:
    for wk, hk in (("width", "height"), ("sensor_width", "sensor_height")):
        if wk in obj and hk in obj:
            return SensorSize(int(np.asarray(obj[wk]).ravel()[0]), int(np.asarray(obj[hk]).ravel()[0]))
    if "sensor_size" in obj:
        s = np.asarray(obj["sensor_size"]).ravel()
        if len(s) >= 2 and s[0] > 0:
            return SensorSize(int(s[0]), int(s[1]))
    return None


@register_reader("npy", (".npy",), "numpy structured (x, y, t, p) or (N, 4) t, x, y, p")
def open_npy(path: Path, **_: str) -> EventStream:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as exc:
        raise CorruptRecordingError(path, None, f"not a readable .npy ({exc})") from None
    return _single(path, from_array(path, np.asarray(arr)), "npy", None)


@register_reader("npz", (".npz",), "numpy .npz with 'events' or x, y, t, p arrays")
def open_npz(path: Path, **_: str) -> EventStream:
    try:
        with np.load(path, allow_pickle=False) as z:
            files = {k: z[k] for k in z.files}
    except Exception as exc:
        raise CorruptRecordingError(path, None, f"not a readable .npz ({exc})") from None
    ev = from_array(path, files["events"]) if "events" in files else \
        from_columns(path, files.__getitem__, files.keys())
    return _single(path, ev, "npz", _size_from(files))


@register_reader("hdf5", (".h5", ".hdf5"), "HDF5 with an 'events' dataset or x, y, t, p datasets")
def open_h5(path: Path, **_: str) -> EventStream:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            size = _size_from(dict(h5.attrs))
            node = h5["events"] if "events" in h5 else h5
            if isinstance(node, h5py.Dataset):
                ev = from_array(path, node[()])
            else:
                ev = from_columns(path, lambda k: node[k][()], list(node.keys()))
    except OSError as exc:
        raise CorruptRecordingError(path, None, f"not a readable HDF5 file ({exc})") from None
    except KeyError as exc:
        raise CorruptRecordingError(path, None, f"missing dataset {exc}") from None
    return _single(path, ev, "hdf5", size)


@register_reader("csv", (".csv", ".txt"), "text columns t, x, y, p (header optional)")
def open_csv(path: Path, **_: str) -> EventStream:
    with open(path, "r", errors="replace") as f:
        first = f.readline()
    has_header = any(c.isalpha() for c in first)
    delim = "," if "," in first else None
    try:
        data = np.loadtxt(path, delimiter=delim, skiprows=1 if has_header else 0, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise CorruptRecordingError(path, None, f"malformed text ({exc})") from None
    if data.size == 0:
        return _single(path, np.empty(0, EVENT_DTYPE), "csv", None)
    if data.shape[1] != 4:
        raise CorruptRecordingError(path, None, f"expected 4 columns (t, x, y, p), got {data.shape[1]}")
    if has_header:
        names = [n.strip().lower() for n in first.replace(",", " ").split()]
        ev = from_columns(path, lambda k: data[:, names.index(k)], names)
    else:
        ev = make_events(data[:, 1], data[:, 2], data[:, 0], (data[:, 3] > 0).astype(np.int8))
    return _single(path, ev, "csv", None)
