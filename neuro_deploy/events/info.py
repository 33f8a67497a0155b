"""Summary of a recording (what ``neuro-deploy events info`` prints)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuro_deploy.events.readers import read_events
from neuro_deploy.events.types import SensorSize


def recording_info(path: str, sensor_size: str | None = None, fmt: str | None = None, **options: str) -> dict[str, Any]:
    """format, width, height, events, t_start_us, t_end_us, duration_us, on, off, rate, and
    ``warnings`` (plausibility, empty file; see :mod:`neuro_deploy.events.plausibility`)."""
    declared = SensorSize.parse(sensor_size) if sensor_size else None
    rec = read_events(path, fmt, sensor_size=declared, **options)
    ev = rec.events
    size = declared or rec.sensor_size
    if declared:
        size.check_contains(ev, path)
    n = len(ev)
    t0 = int(ev["t"].min()) if n else None
    t1 = int(ev["t"].max()) if n else None
    dur = (t1 - t0) if n else 0
    info: dict[str, Any] = {
        "file": rec.path,
        "format": rec.format,
        "width": size.width if size else None,
        "height": size.height if size else None,
        "sensor_size_source": size.source if size else "unknown",
        "events": n,
        "t_start_us": t0,
        "t_end_us": t1,
        "duration_us": dur,
        "on": int(np.count_nonzero(ev["p"] > 0)),
        "off": int(np.count_nonzero(ev["p"] <= 0)),
        "event_rate_hz": (n / (dur * 1e-6)) if dur > 0 else None,
    }
    if size is None or size.source != "header":
        if n:
            info["coordinate_extent"] = [int(ev["x"].max()) + 1, int(ev["y"].max()) + 1]
        if size is None or size.source.startswith("guessed"):
            info["warning"] = (
                "sensor size not in the file; "
                + ("guessed from coordinates" if size else "unknown")
                + " - pass --sensor-size WxH"
            )
    for k, v in rec.meta.items():
        if k == "triggers":
            info["triggers"] = int(len(v))
        elif k != "header" and k not in info:
            info[k] = v
    return info
