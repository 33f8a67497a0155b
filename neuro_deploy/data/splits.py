"""The train/validation split, recorded with everything trained on it.

A model is only honestly scored on samples it never saw. :class:`Split` says how a data
set was divided - which data set (name, number of recordings and a fingerprint of their
names and labels), the validation fraction and the seed of
:meth:`~neuro_deploy.data.datasets.EventDataset.split` - and is stored wherever a trained
artefact goes: checkpoints (``meta["split"]``), the netx ``neuro_deploy`` metadata of their
exports and distilled data sets (the flat ``split_*`` keys of :meth:`Split.to_meta`).
``evaluate``, ``report`` and ``distill`` (and ``train --data``) divide the data with
:func:`recorded_split`: the recorded split when there is one and it was drawn from the
same data, else the default split with a warning saying why the score may include
training samples.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neuro_deploy.errors import BadInputError

if TYPE_CHECKING:
    from neuro_deploy.data.datasets import EventDataset

DEFAULT_VAL_FRACTION = 0.2
DEFAULT_SEED = 0
SPLIT_KEYS = ("split_dataset", "split_val_fraction", "split_seed", "split_samples", "split_fingerprint")


def fingerprint(ds: EventDataset) -> str:
    """16 hex digits of SHA-256 over the recordings' names and labels (and event counts
    where the events are loaded already): two loads of the same data set agree, another
    folder or a subset does not. Events made on demand (an emulated set's
    :class:`~neuro_deploy.data.datasets.LazyEvents`) are not made for this: scoring 20
    samples must not emulate 60,000."""
    from neuro_deploy.data.datasets import LazyEvents

    h = hashlib.sha256()
    names = ds.names or [str(i) for i in range(len(ds))]
    counts = [None] * len(names) if isinstance(ds.events, LazyEvents) else [len(ev) for ev in ds.events]
    for name, label, n in zip(names, np.asarray(ds.labels).tolist(), counts):
        h.update((f"{name}\t{label}\n" if n is None else f"{name}\t{label}\t{n}\n").encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Split:
    """How a data set was divided into training and validation recordings (module docstring)."""

    dataset: str
    val_fraction: float = DEFAULT_VAL_FRACTION
    seed: int = DEFAULT_SEED
    samples: int = 0  #: recordings in the whole data set the split was drawn from
    fingerprint: str = ""  #: :func:`fingerprint` of that data set

    def __post_init__(self) -> None:
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise BadInputError(f"validation fraction must be in (0, 1), got {self.val_fraction}")

    @classmethod
    def of(cls, ds: EventDataset, val_fraction: float = DEFAULT_VAL_FRACTION, seed: int = DEFAULT_SEED) -> Split:
        """The split ``ds.split(val_fraction, seed)`` makes of ``ds``."""
        return cls(ds.name.split("/")[0], float(val_fraction), int(seed), len(ds), fingerprint(ds))

    def apply(self, ds: EventDataset) -> tuple[EventDataset, EventDataset]:
        """(train, validation) of ``ds`` under this split."""
        return ds.split(self.val_fraction, self.seed)

    def matches(self, ds: EventDataset) -> bool:
        """True when ``ds`` is the data set this split was drawn from."""
        return self.samples == len(ds) and (not self.fingerprint or self.fingerprint == fingerprint(ds))

    def to_meta(self) -> dict[str, Any]:
        """Flat ``split_*`` attributes (netx metadata, ``.npz`` fields, checkpoint meta)."""
        return {f"split_{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> Split | None:
        """The split recorded in ``meta`` (flat keys, or a checkpoint's ``meta["split"]``), or None."""
        if not meta:
            return None
        if isinstance(meta.get("split"), dict):
            meta = meta["split"]
        if "split_seed" not in meta or "split_val_fraction" not in meta:
            return None

        def scalar(v: Any) -> Any:
            return v.item() if hasattr(v, "item") else v

        return cls(
            dataset=str(scalar(meta.get("split_dataset", ""))),
            val_fraction=float(scalar(meta["split_val_fraction"])),
            seed=int(scalar(meta["split_seed"])),
            samples=int(scalar(meta.get("split_samples", 0))),
            fingerprint=str(scalar(meta.get("split_fingerprint", ""))),
        )

    def describe(self) -> str:
        return f"{self.dataset} split {1 - self.val_fraction:.0%}/{self.val_fraction:.0%} with seed {self.seed}"


def recorded_split(
    ds: EventDataset,
    meta: dict[str, Any] | None,
    what: str = "model",
    val_fraction: float | None = None,
    seed: int | None = None,
) -> tuple[EventDataset, EventDataset, Split, list[str]]:
    """(train, validation, the split used, warnings) for scoring a model on ``ds``.

    * the split recorded in ``meta`` (a checkpoint's meta, netx or distilled-file metadata)
      when it was drawn from this data set;
    * ``val_fraction`` / ``seed`` given explicitly win over it, with a warning if they differ
      (the validation part may then hold training samples);
    * a model that records no split, or one drawn from another data set (name, size or
      fingerprint differ): the default split (0.2, seed 0) and a warning that says the
      score may include training samples.
    """
    rec = Split.from_meta(meta)
    notes: list[str] = []
    if rec is not None and rec.matches(ds) and val_fraction is None and seed is None:
        tr, va = rec.apply(ds)
        return tr, va, rec, notes
    if rec is None:
        notes.append(
            f"{what} does not record the data split it was made with: using the default "
            f"{1 - DEFAULT_VAL_FRACTION:.0%}/{DEFAULT_VAL_FRACTION:.0%} split (seed {DEFAULT_SEED}), whose "
            "validation part may hold samples it was trained on"
        )
    elif not rec.matches(ds):
        notes.append(
            f"{what} was made with {rec.describe()} of {rec.samples} recordings (fingerprint "
            f"{rec.fingerprint or '?'}), not of this {ds.name.split('/')[0]} data set ({len(ds)} recordings, "
            f"fingerprint {fingerprint(ds)}): its split cannot be applied, and the validation part "
            "used instead may hold samples it was trained on"
        )
    use = Split.of(
        ds,
        val_fraction
        if val_fraction is not None
        else (rec.val_fraction if rec is not None and rec.matches(ds) else DEFAULT_VAL_FRACTION),
        seed if seed is not None else (rec.seed if rec is not None and rec.matches(ds) else DEFAULT_SEED),
    )
    if rec is not None and rec.matches(ds) and (use.val_fraction, use.seed) != (rec.val_fraction, rec.seed):
        notes.append(
            f"{what} was made with {rec.describe()}; using {use.describe()} instead, whose validation "
            "part may hold samples it was trained on"
        )
    tr, va = use.apply(ds)
    return tr, va, use, notes
