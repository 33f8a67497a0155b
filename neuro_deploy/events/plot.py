"""Pictures of a recording: accumulated ON/OFF image, time surface, event rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuro_deploy.events.readers import Recording
from neuro_deploy.events.types import SensorSize


def plot_recording(rec: Recording, out: str | Path, size: SensorSize | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro_deploy._io import atomic_path

    ev = rec.events
    size = size or rec.sensor_size
    w = size.width if size else (int(ev["x"].max()) + 1 if len(ev) else 1)
    h = size.height if size else (int(ev["y"].max()) + 1 if len(ev) else 1)
    ok = (ev["x"] >= 0) & (ev["x"] < w) & (ev["y"] >= 0) & (ev["y"] < h)
    e = ev[ok]
    img = np.zeros((h, w, 3), dtype=np.float32)
    on = np.zeros((h, w))
    off = np.zeros((h, w))
    np.add.at(on, (e["y"][e["p"] > 0], e["x"][e["p"] > 0]), 1)
    np.add.at(off, (e["y"][e["p"] <= 0], e["x"][e["p"] <= 0]), 1)
    scale = max(1.0, np.percentile(np.concatenate([on[on > 0], off[off > 0], [1]]), 99))
    img[..., 0] = np.clip(on / scale, 0, 1)
    img[..., 2] = np.clip(off / scale, 0, 1)
    surface = np.full((h, w), np.nan)
    if len(e):
        t0, t1 = int(e["t"].min()), int(e["t"].max())
        surface[e["y"], e["x"]] = (e["t"] - t0) / max(1, t1 - t0)
    fig, ax = plt.subplots(1, 3, figsize=(14, 4.2))
    ax[0].imshow(img, interpolation="nearest")
    ax[0].set_title(f"accumulated: ON red, OFF blue ({len(e)} events)")
    im = ax[1].imshow(surface, cmap="viridis", interpolation="nearest")
    ax[1].set_title("time surface (last event time, 0..1)")
    fig.colorbar(im, ax=ax[1], fraction=0.046)
    if len(e):
        bins = max(10, min(200, len(e) // 50))
        t_ms = (e["t"] - e["t"].min()) / 1000.0
        ax[2].hist(t_ms[e["p"] > 0], bins=bins, alpha=0.6, color="C3", label="ON")
        ax[2].hist(t_ms[e["p"] <= 0], bins=bins, alpha=0.6, color="C0", label="OFF")
        ax[2].legend()
    ax[2].set(title="event rate", xlabel="time (ms)", ylabel="events per bin")
    fig.suptitle(f"{Path(rec.path).name} [{rec.format}] {w}x{h}")
    fig.tight_layout()
    with atomic_path(out, ".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
