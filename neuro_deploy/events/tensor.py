"""Events to spike tensors: time binning with a given ``dt_us``.

The tensor layout is (C=2, H, W, T): channel 0 = OFF, 1 = ON, ``T = ceil(duration_us /
dt_us)``. :func:`flatten_chw` turns it into (C*H*W, T) in the C-order that lava-dl's
``slayer.io`` uses (``index = c*H*W + y*W + x``), which is what a dense netx network's
input expects; :func:`to_lava_layout` gives (W, H, C, T), what a netx conv/input layer
expects.
"""
from __future__ import annotations

import numpy as np


def bin_events(events: np.ndarray, sensor: tuple[int, int], dt_us: int, num_steps: int,
               t0_us: int | None = None, binary: bool = True) -> np.ndarray:
    """Count events per (polarity, y, x, step) in ``num_steps`` bins of ``dt_us``.

    Bin ``k`` holds events with ``t0 + k*dt <= t < t0 + (k+1)*dt``; ``t0`` defaults to 0
    (the recording's own clock). Events outside the sensor or window are dropped. With
    ``binary`` a bin holds 1 if any event fell in it (a spike), else the count (uint8,
    saturating at 255).
    """
    width, height = sensor
    out = np.zeros((2, height, width, num_steps), dtype=np.uint8)
    if len(events) == 0:
        return out
    t0 = 0 if t0_us is None else t0_us
    k = (events["t"].astype(np.int64) - t0) // dt_us
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    p = (events["p"] > 0).astype(np.int64)
    ok = (k >= 0) & (k < num_steps) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    flat = ((p[ok] * height + y[ok]) * width + x[ok]) * num_steps + k[ok]
    if binary:
        out.reshape(-1)[flat] = 1
    else:
        counts = np.bincount(flat, minlength=out.size)
        out.reshape(-1)[:] = np.minimum(counts, 255)
    return out


def flatten_chw(tensor: np.ndarray) -> np.ndarray:
    """(C, H, W, T) -> (C*H*W, T)."""
    return tensor.reshape(-1, tensor.shape[-1])


def to_lava_layout(tensor: np.ndarray) -> np.ndarray:
    """(C, H, W, T) -> (W, H, C, T), the (x, y, z) order of Lava's netx ports."""
    return np.transpose(tensor, (2, 1, 0, 3))
