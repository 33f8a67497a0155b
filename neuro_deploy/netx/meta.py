"""The ``neuro_deploy`` group neuro-deploy adds to its netx exports (netx ignores it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


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
