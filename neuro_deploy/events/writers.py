"""Event writers by extension: ``.npz`` / ``.npy`` (structured), ``.h5``, ``.csv``,
``.bin`` (N-MNIST 40-bit). All write atomically.

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
    if len(events) and (events["x"].max() > 255 or events["y"].max() > 239 or events["x"].min() < 0
                        or events["y"].min() < 0):
        raise BadInputError("N-MNIST binary holds x < 256 and y < 240 only")
    words = []
    base = 0
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
    marker = np.array([0, 240, 0, 0, 0], dtype=np.uint8)
    for i in range(len(t)):
        while base < over[i]:
            words.append(marker)
            base += 1
        words.append(out[i])
    return np.stack(words).tobytes()


#: columns of a triggers array
TRIGGER_COLUMNS = ("t_us", "value", "channel")


def _triggers(triggers: np.ndarray | None) -> np.ndarray | None:
    if triggers is None:
        return None
    trig = np.asarray(triggers, dtype=np.int64)
    if trig.ndim != 2 or trig.shape[1] != len(TRIGGER_COLUMNS):
        raise BadInputError(f"triggers must be (N, 3): {', '.join(TRIGGER_COLUMNS)}; got shape {trig.shape}")
    return trig


def _write_npz(events: np.ndarray, path: Path, sensor: tuple[int, int] | None,
               triggers: np.ndarray | None = None) -> None:
    extra = {} if triggers is None else {"triggers": _triggers(triggers)}
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(tmp, events=events.astype(EVENT_DTYPE),
                            sensor_size=np.asarray(sensor or (-1, -1)), **extra)


def _write_npy(events: np.ndarray, path: Path, sensor: tuple[int, int] | None) -> None:
    with atomic_path(path, ".npy") as tmp:
        np.save(tmp, events.astype(EVENT_DTYPE))


def _write_h5(events: np.ndarray, path: Path, sensor: tuple[int, int] | None,
              triggers: np.ndarray | None = None) -> None:
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
            np.savetxt(f, np.column_stack([events["t"], events["x"], events["y"], events["p"]]),
                       fmt="%d", delimiter=",")


def _write_bin(events: np.ndarray, path: Path, sensor: tuple[int, int] | None) -> None:
    data = encode_atis_bin(np.sort(events, order="t"))
    with atomic_path(path, ".bin") as tmp:
        tmp.write_bytes(data)


WRITERS: dict[str, Callable[..., None]] = {
    ".npz": _write_npz, ".npy": _write_npy, ".h5": _write_h5, ".hdf5": _write_h5,
    ".csv": _write_csv, ".txt": _write_csv, ".bin": _write_bin,
}
#: extensions whose writer also stores triggers
TRIGGER_WRITERS = (".npz", ".h5", ".hdf5")


def holds_triggers(path: str | Path) -> bool:
    """Whether :func:`write_events` keeps triggers in a file of this name."""
    return Path(path).suffix.lower() in TRIGGER_WRITERS


def write_events(events: np.ndarray, path: str | Path, sensor: tuple[int, int] | None = None,
                 triggers: np.ndarray | None = None) -> None:
    """Write ``events`` (and ``triggers`` where the format holds them, see
    :func:`holds_triggers`; elsewhere they are not written)."""
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise UnknownNameError("output format", path.suffix or path.name, WRITERS)
    if triggers is not None and holds_triggers(path):
        writer(events, path, sensor, triggers)
    else:
        writer(events, path, sensor)
