"""A DVS emulator: still images moved in saccades in front of a simulated event camera.

This is how N-MNIST was recorded (Orchard et al. 2015): an ATIS camera on a pan-tilt
unit made three 100 ms saccades in a triangle in front of a static MNIST digit. Here
the camera is simulated:

* the image is scaled to ``digit_px`` and placed on a ``sensor`` canvas, then shifted
  along the saccade path with bilinear interpolation every ``frame_dt_us``;
* each pixel keeps a reference log intensity :math:`L_{ref}`; with
  :math:`L = \\log(I + \\epsilon)` it emits
  :math:`n = \\lfloor |L - L_{ref}| / C_{xy} \\rfloor` events of the sign of the change
  and moves :math:`L_{ref}` by :math:`\\pm n C_{xy}`. Thresholds :math:`C_{xy}` vary per
  pixel (``threshold_sigma``) as on real sensors;
* event times are spread evenly inside the frame interval with jitter, and sparse
  background-activity noise (``noise_hz`` per pixel) is added.

Everything is deterministic for a ``seed``. All samples of a batch share the saccade
path, as in N-MNIST, so the whole batch is simulated at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuro_deploy.events.types import EVENT_DTYPE


@dataclass(frozen=True)
class SaccadeConfig:
    """Emulator settings; defaults mimic N-MNIST (34x34, ~300 ms, 3 saccades)."""

    sensor: tuple[int, int] = (34, 34)  #: (width, height)
    digit_px: int = 28
    duration_us: int = 300_000
    frame_dt_us: int = 2_000
    #: saccade triangle vertices (x, y) in pixels, visited in order and back to the first
    path_px: tuple[tuple[float, float], ...] = ((0.0, 0.0), (6.0, 3.0), (3.0, 6.0))
    threshold: float = 0.3
    threshold_sigma: float = 0.03
    log_eps: float = 0.1
    noise_hz: float = 0.2
    jitter_us: float = 300.0


def saccade_offsets(cfg: SaccadeConfig) -> np.ndarray:
    """(frames+1, 2) canvas offsets (x, y) along the closed triangle path."""
    frames = cfg.duration_us // cfg.frame_dt_us
    verts = np.asarray(cfg.path_px + (cfg.path_px[0],), dtype=float)
    seg = len(verts) - 1
    pos = np.linspace(0, seg, frames + 1)
    k = np.minimum(pos.astype(int), seg - 1)
    frac = (pos - k)[:, None]
    return verts[k] * (1 - frac) + verts[k + 1] * frac


def place_images(images: np.ndarray, cfg: SaccadeConfig) -> np.ndarray:
    """Scale (N, h, w) images in [0, 1] to ``digit_px`` and put them on the canvas corner."""
    from scipy import ndimage

    n, h, w = images.shape
    zoom = (1, cfg.digit_px / h, cfg.digit_px / w)
    scaled = np.clip(ndimage.zoom(images.astype(np.float32), zoom, order=1), 0, 1)
    width, height = cfg.sensor
    canvas = np.zeros((n, height, width), dtype=np.float32)
    canvas[:, : scaled.shape[1], : scaled.shape[2]] = scaled[:, :height, :width]
    return canvas


def emulate_saccades(images: np.ndarray, cfg: SaccadeConfig = SaccadeConfig(), seed: int = 0) -> list[np.ndarray]:
    """Turn (N, h, w) images with values in [0, 1] into N event recordings (:data:`EVENT_DTYPE`)."""
    rng = np.random.default_rng(seed)
    canvas = place_images(np.asarray(images, dtype=np.float32), cfg)
    n, height, width = canvas.shape
    offsets = saccade_offsets(cfg)
    c_pix = np.clip(
        cfg.threshold * (1 + cfg.threshold_sigma * rng.standard_normal((n, height, width))), 0.02, None
    ).astype(np.float32)

    pad = int(np.ceil(np.abs(offsets).max())) + 2
    padded = np.pad(canvas, ((0, 0), (pad, pad), (pad, pad)))

    def log_frame(off: np.ndarray) -> np.ndarray:
        # bilinear shift by (dx, dy): out(y, x) = canvas(y - dy, x - dx), zero outside
        ix, iy = int(np.floor(off[0])), int(np.floor(off[1]))
        fx, fy = off[0] - ix, off[1] - iy

        def tap(dy: int, dx: int) -> np.ndarray:
            y0, x0 = pad - iy - dy, pad - ix - dx
            return padded[:, y0 : y0 + height, x0 : x0 + width]

        shifted = (1 - fy) * ((1 - fx) * tap(0, 0) + fx * tap(0, 1)) + fy * ((1 - fx) * tap(1, 0) + fx * tap(1, 1))
        return np.log(shifted + cfg.log_eps)

    ref = log_frame(offsets[0])
    chunks: list[tuple[np.ndarray, ...]] = []
    for f in range(1, len(offsets)):
        diff = log_frame(offsets[f]) - ref
        count = np.floor(np.abs(diff) / c_pix).astype(np.int64)
        if not count.any():
            continue
        sign = np.sign(diff).astype(np.int64)
        ref += (sign * count) * c_pix
        s, y, x = np.nonzero(count)
        reps = count[s, y, x]
        s, y, x = np.repeat(s, reps), np.repeat(y, reps), np.repeat(x, reps)
        # k-th of n events of a pixel at (k+1)/(n+1) of the interval, plus jitter
        starts = np.repeat(np.cumsum(reps) - reps, reps)
        k = np.arange(len(s)) - starts
        frac = (k + 1) / (np.repeat(reps, reps) + 1)
        t = (f - 1 + frac) * cfg.frame_dt_us + rng.normal(0, cfg.jitter_us, len(s))
        p = (sign[s, y, x] > 0).astype(np.int8)
        chunks.append((s, x, y, t, p))
    # background activity: Poisson per pixel over the recording
    lam = cfg.noise_hz * cfg.duration_us * 1e-6
    noise = rng.poisson(lam, (n, height, width))
    s, y, x = np.nonzero(noise)
    reps = noise[s, y, x]
    s, y, x = np.repeat(s, reps), np.repeat(y, reps), np.repeat(x, reps)
    chunks.append((s, x, y, rng.uniform(0, cfg.duration_us, len(s)), rng.integers(0, 2, len(s)).astype(np.int8)))
    s_all = np.concatenate([c[0] for c in chunks])
    ev = np.empty(len(s_all), dtype=EVENT_DTYPE)
    ev["x"] = np.concatenate([c[1] for c in chunks])
    ev["y"] = np.concatenate([c[2] for c in chunks])
    ev["t"] = np.clip(np.rint(np.concatenate([c[3] for c in chunks])), 0, cfg.duration_us - 1)
    ev["p"] = np.concatenate([c[4] for c in chunks])
    order = np.lexsort((ev["t"], s_all))
    ev, s_all = ev[order], s_all[order]
    bounds = np.searchsorted(s_all, np.arange(n + 1))
    return [ev[bounds[i] : bounds[i + 1]].copy() for i in range(n)]
