"""The ``neuro_deploy`` group neuro-deploy adds to its netx exports (netx ignores it).

Besides the input layout it holds the model's binning (``dt_us``, ``num_steps``,
``time_origin``; :class:`~neuro_deploy.events.tensor.Binning`), which
:func:`binning_for` turns back into the one binning ``evaluate``, ``replay`` and
``report`` use for that network, and the split of the data it was trained on (``split_*``;
:class:`~neuro_deploy.data.splits.Split`, written by :func:`split_meta`), which
:func:`neuro_deploy.data.splits.recorded_split` turns back into the validation part
``evaluate`` and ``report`` score on.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from neuro_deploy.errors import BadInputError
from neuro_deploy.events.tensor import DEFAULT_TIME_ORIGIN, Binning


def read_meta(path: str | Path) -> dict[str, Any]:
    """Export metadata (``dt_us``, ``num_steps``, ``input_shape_chw``...), or ``{}``."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "neuro_deploy" not in h5:
                return {}
            out = {}
            for k, v in h5["neuro_deploy"].attrs.items():
                out[k] = v.tolist() if hasattr(v, "tolist") else v
            return out
    except OSError:
        return {}


def binning_meta(dt_us: int, num_steps: int | None, time_origin: str) -> dict[str, Any]:
    """The metadata attributes that record a model's binning (written by every export)."""
    out: dict[str, Any] = {"dt_us": int(dt_us), "time_origin": str(time_origin)}
    if num_steps:
        out["num_steps"] = int(num_steps)
    return out


def split_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The ``split_*`` attributes recording a model's training split (from a checkpoint's
    ``meta``, or metadata that already has them); ``{}`` when none was recorded."""
    from neuro_deploy.data.splits import Split

    split = Split.from_meta(meta)
    return split.to_meta() if split is not None else {}


def binning_for(
    meta: dict[str, Any],
    dt_us: int | None = None,
    num_steps: int | None = None,
    time_origin: str | None = None,
    what: str = "network",
) -> Binning:
    """The binning for a network: explicit values win, then its metadata, then defaults.

    * ``dt_us``: given, else the stored ``dt_us`` (or ``dt_s`` of older NIR imports);
      neither is an error (a wrong step silently changes every time constant);
    * ``time_origin``: given, else stored, else ``"zero"`` (every checkpoint written
      before the key existed was trained on the recordings' own clock);
    * ``num_steps``: given, else the stored training window, else ``None`` (each
      recording for its own length).

    A ``dt_us`` different from the stored one is allowed but warned about.
    """
    stored = meta.get("dt_us")
    if stored is None and meta.get("dt_s"):
        stored = int(round(float(meta["dt_s"]) * 1e6))
    dt = dt_us or stored
    if not dt:
        raise BadInputError(f"{what}: the network does not say its time step (no dt_us in its metadata); pass --dt-us")
    if dt_us and stored and int(dt_us) != int(stored):
        warnings.warn(
            f"{what}: binning at {int(dt_us)} us per step, but the network was made for "
            f"{int(stored)} us (its time constants assume that)",
            stacklevel=2,
        )
    steps = num_steps or meta.get("num_steps") or None
    origin = time_origin or meta.get("time_origin") or DEFAULT_TIME_ORIGIN
    return Binning(int(dt), str(origin), int(steps) if steps else None)
