"""Labelled event data sets, by name.

* ``digits`` (the embedded default): scikit-learn's 1,797 8x8 digits (shipped inside
  scikit-learn) run through the saccade DVS emulator - 34x34, ON/OFF, 300 ms, like
  N-MNIST. Built once, deterministically for a seed, and cached on disk.
* ``nmnist``: a folder of N-MNIST ``.bin`` files, labelled either by a ``*labels*.txt``
  file (``name class`` lines, ``#`` comments) or by class sub-folders (``Train/3/*.bin``).
* ``mnist-dvs``: MNIST images from an ``.npz`` (``train_images``/``train_labels``) run
  through the same emulator; ``--limit`` picks how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from neuro_deploy._io import atomic_path, cache_dir
from neuro_deploy.errors import DatasetError, UnknownNameError
from neuro_deploy.events.tensor import DEFAULT_TIME_ORIGIN, Binning
from neuro_deploy.events.types import EVENT_DTYPE

CACHE_VERSION = 1
#: images emulated per call (they share the saccade path and one random stream, so a
#: recording's events depend on its batch: the batches are part of the data set's identity)
EMULATION_BATCH = 2000


class LazyEvents(Sequence):
    """Recordings made one batch at a time, on first use, and cached on disk.

    ``make(start, stop)`` returns the recordings ``start..stop-1``; :meth:`take` is a
    view that emulates only the batches its indices fall in (``evaluate --limit 20``
    emulates one batch, not the whole set).
    """

    def __init__(
        self,
        n: int,
        make: Callable[[int, int], list[np.ndarray]],
        batch: int = EMULATION_BATCH,
        index: np.ndarray | None = None,
        memo: dict[int, list[np.ndarray]] | None = None,
    ) -> None:
        self._n, self._make, self._batch = n, make, batch
        self._index = np.arange(n) if index is None else np.asarray(index, dtype=int)
        self._memo = {} if memo is None else memo

    def __len__(self) -> int:
        return len(self._index)

    def _get(self, j: int) -> np.ndarray:
        k = j // self._batch
        if k not in self._memo:
            self._memo[k] = self._make(k * self._batch, min(self._n, (k + 1) * self._batch))
        return self._memo[k][j - k * self._batch]

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        return self._get(int(self._index[i]))

    def take(self, idx: np.ndarray | list[int]) -> "LazyEvents":
        return LazyEvents(self._n, self._make, self._batch, self._index[np.asarray(idx, dtype=int)], self._memo)

    def batches_made(self) -> int:
        return len(self._memo)


@dataclass
class EventDataset:
    """Recordings with integer labels, one sensor geometry.

    ``time_origin`` is where step 0 of each recording starts when it is binned
    (:class:`~neuro_deploy.events.tensor.Binning`); training stores it in the checkpoint.
    """

    name: str
    events: list[np.ndarray]
    labels: np.ndarray
    sensor: tuple[int, int]  #: (width, height)
    duration_us: int
    names: list[str] = field(default_factory=list)
    num_classes: int = 10
    time_origin: str = DEFAULT_TIME_ORIGIN

    def __len__(self) -> int:
        return len(self.events)

    def subset(self, idx: np.ndarray | list[int], name: str | None = None) -> "EventDataset":
        idx = np.asarray(idx, dtype=int)
        events = self.events.take(idx) if isinstance(self.events, LazyEvents) else [self.events[i] for i in idx]
        return EventDataset(
            name or self.name,
            events,
            self.labels[idx],
            self.sensor,
            self.duration_us,
            [self.names[i] for i in idx] if self.names else [],
            self.num_classes,
            self.time_origin,
        )

    def split(self, val_fraction: float = 0.2, seed: int = 0) -> tuple["EventDataset", "EventDataset"]:
        """Stratified train/validation split, deterministic for ``seed``."""
        rng = np.random.default_rng(seed)
        val: list[int] = []
        for c in np.unique(self.labels):
            idx = np.flatnonzero(self.labels == c)
            rng.shuffle(idx)
            val.extend(idx[: max(1, int(round(len(idx) * val_fraction)))].tolist())
        val_idx = np.sort(np.asarray(val))
        train_idx = np.setdiff1d(np.arange(len(self)), val_idx)
        return self.subset(train_idx, f"{self.name}/train"), self.subset(val_idx, f"{self.name}/val")

    def num_steps(self, dt_us: int) -> int:
        return int(np.ceil(self.duration_us / dt_us))

    def to_tensors(self, dt_us: int, num_steps: int | None = None) -> np.ndarray:
        """(N, 2, H, W, T) uint8 binary spike tensors: a ``num_steps`` window (default: the
        data set's duration) from this data set's ``time_origin``."""
        steps = num_steps or self.num_steps(dt_us)
        return self.bin(Binning(dt_us, self.time_origin, steps))[0]

    def bin(self, binning: Binning) -> tuple[np.ndarray, np.ndarray]:
        """All recordings with ``binning``: (N, 2, H, W, T) uint8 tensors (zero padded to the
        longest) and each recording's own steps (N,) (all ``T`` for a fixed window)."""
        names = self.names or [str(i) for i in range(len(self))]
        xs = [binning.bin(ev, self.sensor, f"{self.name} sample {n}", check=False) for ev, n in zip(self.events, names)]
        lengths = np.asarray([x.shape[-1] for x in xs], dtype=np.int64)
        t = int(lengths.max()) if len(xs) else (binning.num_steps or 1)
        out = np.zeros((len(xs), 2, self.sensor[1], self.sensor[0], t), np.uint8)
        for i, x in enumerate(xs):
            out[i, ..., : x.shape[-1]] = x
        return out, lengths


def _pack(events: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(events) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in events])
    flat = np.concatenate(events) if events else np.empty(0, EVENT_DTYPE)
    return flat, offsets


def _unpack(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def save_dataset(ds: EventDataset, path: str | Path) -> None:
    """Store a data set as one ``.npz`` (atomic)."""
    flat, offsets = _pack(ds.events)
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(
            tmp,
            events=flat,
            offsets=offsets,
            labels=ds.labels,
            sensor=np.asarray(ds.sensor),
            duration_us=ds.duration_us,
            names=np.asarray(ds.names),
            name=ds.name,
            num_classes=ds.num_classes,
            version=CACHE_VERSION,
        )


def load_saved(path: str | Path) -> EventDataset:
    with np.load(path, allow_pickle=False) as z:
        return EventDataset(
            str(z["name"]),
            _unpack(z["events"], z["offsets"]),
            z["labels"],
            tuple(int(v) for v in z["sensor"]),
            int(z["duration_us"]),
            [str(n) for n in z["names"]],
            int(z["num_classes"]),
        )


def _emulated(name: str, images: np.ndarray, labels: np.ndarray, seed: int, progress: bool) -> EventDataset:
    from neuro_deploy.events.emulator import SaccadeConfig, emulate_saccades

    cfg = SaccadeConfig()
    events: list[np.ndarray] = []
    batch = EMULATION_BATCH
    it = range(0, len(images), batch)
    if progress and len(images) > batch:
        from neuro_deploy._progress import progress_bar

        it = progress_bar(it, desc=f"emulating {name}", unit="batch")
    for start in it:
        events += emulate_saccades(images[start : start + batch], cfg, seed=seed + start)
    return EventDataset(
        name,
        events,
        np.asarray(labels, dtype=np.int64),
        cfg.sensor,
        cfg.duration_us,
        [f"{i}" for i in range(len(events))],
        10,
    )


def load_digits_dataset(seed: int = 0, progress: bool = True, **_: object) -> EventDataset:
    """The embedded default: scikit-learn digits, event-camera emulated (cached)."""
    path = cache_dir() / f"digits-dvs-v{CACHE_VERSION}-seed{seed}.npz"
    if path.exists():
        return load_saved(path)
    from sklearn.datasets import load_digits

    digits = load_digits()
    ds = _emulated("digits", digits.images / 16.0, digits.target, seed, progress)
    save_dataset(ds, path)
    return ds


def load_mnist_dvs(
    root: str | Path | None = None, seed: int = 0, limit: int | None = 10000, progress: bool = True, **_: object
) -> EventDataset:
    """MNIST images (``.npz`` with ``train_images``, ``train_labels``) emulated as events."""
    if root is None:
        raise DatasetError(
            "mnist-dvs needs --root pointing at an mnist .npz (e.g. ../shared/fixtures/images/mnist.npz)"
        )
    root = Path(root)
    if not root.is_file():
        raise DatasetError(f"{root}: no such file (mnist-dvs wants an .npz with train_images)")
    n = limit or 60000
    tag = f"mnist-dvs-v{CACHE_VERSION}-{root.stat().st_size}"
    path = cache_dir() / f"{tag}-n{n}-seed{seed}.npz"
    if path.exists():
        return load_saved(path)
    from neuro_deploy._io import load_numpy

    z = load_numpy(root, "the mnist-dvs images")
    if not isinstance(z, np.lib.npyio.NpzFile) or "train_images" not in z or "train_labels" not in z:
        raise DatasetError(f"{root}: no 'train_images'/'train_labels' arrays (mnist-dvs wants an .npz)")
    with z:
        images, labels = z["train_images"][:n], z["train_labels"][:n]
    if images.ndim != 3 or labels.shape != (len(images),):
        raise DatasetError(f"{root}: train_images {images.shape} / train_labels {labels.shape} are not (N,H,W) / (N,)")
    from neuro_deploy.events.emulator import SaccadeConfig, emulate_saccades

    cfg = SaccadeConfig()

    def make(start: int, stop: int) -> list[np.ndarray]:
        """Batch ``start:stop`` exactly as a whole-set emulation makes it (same seed)."""
        part = cache_dir() / f"{tag}-{start}-{stop}-seed{seed}.npz"
        if part.exists():
            return load_saved(part).events
        ev = emulate_saccades(images[start:stop] / 255.0, cfg, seed=seed + start)
        save_dataset(
            EventDataset(
                "mnist-dvs",
                ev,
                np.asarray(labels[start:stop], np.int64),
                cfg.sensor,
                cfg.duration_us,
                [str(i) for i in range(start, stop)],
                10,
            ),
            part,
        )
        return ev

    return EventDataset(
        "mnist-dvs",
        LazyEvents(len(images), make, EMULATION_BATCH),
        np.asarray(labels, dtype=np.int64),
        cfg.sensor,
        cfg.duration_us,
        [f"{i}" for i in range(len(images))],
        10,
    )


def read_labels(path: str | Path) -> dict[str, int]:
    """``name class`` per line, ``#`` starts a comment; keys are names as written."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: labels file not found")
    out: dict[str, int] = {}
    where: dict[str, int] = {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the labels file ({exc})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < 2:
            raise DatasetError(f"{path}:{lineno}: expected 'name class', got {line!r}")
        try:
            cls = int(parts[1])
        except ValueError:
            raise DatasetError(f"{path}:{lineno}: class {parts[1]!r} is not an integer") from None
        if cls < 0:
            raise DatasetError(f"{path}:{lineno}: class {cls} of {parts[0]!r} is negative")
        if parts[0] in out and out[parts[0]] != cls:
            raise DatasetError(
                f"{path}:{lineno}: {parts[0]!r} is labelled {cls} here but {out[parts[0]]} on line {where[parts[0]]}"
            )
        out[parts[0]] = cls
        where.setdefault(parts[0], lineno)
    return out


def check_labels(labels: dict[str, int], files: list[Path], num_classes: int, source: str = "labels") -> list[str]:
    """Labels against the recordings and the network's classes.

    Error (:class:`~neuro_deploy.errors.DatasetError`): a class outside
    ``0 .. num_classes - 1``, or two labels (name and stem) for one recording that
    disagree. Warnings (returned): recordings without a label (not scored), and a
    labels file none of whose names matches a recording.
    """
    bad = {k: v for k, v in labels.items() if not 0 <= v < num_classes}
    if bad:
        name, cls = next(iter(bad.items()))
        raise DatasetError(
            f"{source}: class {cls} of {name!r} is outside the network's "
            f"{num_classes} classes (0..{num_classes - 1})" + (f"; {len(bad) - 1} more like it" if len(bad) > 1 else "")
        )
    missing = []
    for f in files:
        found = {labels[k] for k in (f.name, f.stem) if k in labels}
        if len(found) > 1:
            raise DatasetError(f"{source}: {f.name} is labelled {sorted(found)} (by name and by stem)")
        if not found:
            missing.append(f.name)
    notes = []
    if missing and len(missing) == len(files) and labels:
        notes.append(
            f"{source}: none of its {len(labels)} names matches a recording (names there look "
            f"like {next(iter(labels))!r}, recordings like {files[0].name!r}); nothing is scored"
        )
    elif missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        notes.append(f"{source}: {len(missing)} of {len(files)} recordings have no label and are not scored ({shown})")
    return notes


def label_for(labels: dict[str, int], file: Path) -> int | None:
    """Look a file up by its name, then its stem."""
    for key in (file.name, file.stem):
        if key in labels:
            return labels[key]
    return None


def load_nmnist_folder(root: str | Path | None = None, limit: int | None = None, **_: object) -> EventDataset:
    """N-MNIST-format folder: ``*.bin`` + labels file, or class sub-folders."""
    from neuro_deploy.events.readers import read_events

    if root is None:
        raise DatasetError("dataset nmnist needs --root DIR (a folder of N-MNIST .bin files)")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root not found")
    files: list[tuple[Path, int]] = []
    label_files = sorted(root.glob("*label*.txt"))
    if label_files:
        labels = read_labels(label_files[0])
        bins = sorted(root.rglob("*.bin"), key=lambda p: (len(p.stem), p.stem))
        for f in bins:
            lab = label_for(labels, f)
            if lab is not None:
                files.append((f, lab))
    else:
        for f in sorted(root.rglob("*.bin")):
            if f.parent.name.isdigit():
                files.append((f, int(f.parent.name)))
    if not files:
        raise DatasetError(
            f"{root}: no labelled .bin files (want a '*labels*.txt' with "
            "'name class' lines, or class sub-folders like Train/3/)"
        )
    bad = [(f, c) for f, c in files if not 0 <= c < 10]
    if bad:
        raise DatasetError(f"{root}: {bad[0][0].name} has class {bad[0][1]}; N-MNIST classes are 0..9")
    if limit:
        files = files[:limit]
    from neuro_deploy.events.types import SensorSize

    # the data set is 34x34: its files are checked against that (plausibility, events.readers)
    n_mnist = SensorSize(34, 34, "N-MNIST data set")
    events = [read_events(f, "nmnist-bin", sensor_size=n_mnist).events for f, _ in files]
    return EventDataset(
        "nmnist",
        events,
        np.asarray([c for _, c in files], dtype=np.int64),
        (34, 34),
        300_000 if not events else int(max(300_000, max(int(e["t"].max()) + 1 for e in events if len(e)))),
        [f.stem for f, _ in files],
        10,
    )


DATASETS: dict[str, Callable[..., EventDataset]] = {
    "digits": load_digits_dataset,
    "nmnist": load_nmnist_folder,
    "mnist-dvs": load_mnist_dvs,
}


def load_dataset(name: str, root: str | Path | None = None, **kwargs: object) -> EventDataset:
    """A data set by name (see :data:`DATASETS`)."""
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, DATASETS)
    return DATASETS[name](root=root, **kwargs)
