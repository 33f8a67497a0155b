"""Compiled kernels (numba) for the fast backend's hot loops; exact integer arithmetic.

Parallel loops use numba's ``workqueue`` threading layer unless ``NUMBA_THREADING_LAYER``
says otherwise: GNU OpenMP aborts a process that forks after using it ("fork() called
from a process already using GNU OpenMP"), and Lava and ``replay --workers`` fork.
"""
from __future__ import annotations

import os

import numpy as np


def _numba():
    import numba

    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"
    return numba

_EVENT_MATMUL = None


def _build():
    numba = _numba()

    @numba.njit(parallel=True, cache=True, fastmath=False)
    def event_matmul(x, wt, out):
        """out[r, :] = sum over c with x[r, c] of wt[c, :]  (binary x, event-driven)."""
        rows, n_in = x.shape
        m = wt.shape[1]
        for r in numba.prange(rows):
            acc = out[r]
            xr = x[r]
            for c in range(n_in):
                if xr[c]:
                    w = wt[c]
                    for j in range(m):
                        acc[j] += w[j]
        return out

    return event_matmul


def event_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact ``x @ w.T`` for boolean ``x`` (rows = samples x steps) and integer ``w``
    (out, in): each spike adds its weight column, as a neuromorphic core does."""
    global _EVENT_MATMUL
    if _EVENT_MATMUL is None:
        _EVENT_MATMUL = _build()
    wmax = int(np.abs(w).max()) if w.size else 0
    # narrowest exact types: int16 weights / int32 sums when no sum can overflow them
    wt_type = np.int16 if wmax < 2 ** 15 else np.int32
    acc_type = np.int32 if wmax * w.shape[1] < 2 ** 31 else np.int64
    out = np.zeros((x.shape[0], w.shape[0]), dtype=acc_type)
    _EVENT_MATMUL(np.ascontiguousarray(x, dtype=np.bool_), np.ascontiguousarray(w.T, dtype=wt_type), out)
    return out.astype(np.int64, copy=False)


_CUBA_RUN = None


def _build_cuba():
    numba = _numba()

    @numba.njit(inline="always")
    def wrap32(x):
        return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648

    @numba.njit(inline="always")
    def rtz_decay(x, factor):
        p = x * factor
        if p >= 0:
            return wrap32(p >> 12)
        return wrap32(-((-p) >> 12))

    @numba.njit(parallel=True, cache=True)
    def cuba_run(a_in, bias, du, dv, vth, reset_interval, reset_phase, out):
        steps, batch, n = a_in.shape
        max_uv = 1 << 23
        theta = vth << 6
        fu = 4096 - (du + 1)
        fv = 4096 - dv
        for k in numba.prange(batch * n):
            b = k // n
            i = k % n
            u = np.int64(0)
            v = np.int64(0)
            bi = np.int64(bias[i])
            for t in range(steps):
                if reset_interval > 0 and (t + 1) % reset_interval == reset_phase:
                    u = 0
                    v = 0
                cur = wrap32(rtz_decay(u, fu) + wrap32(np.int64(a_in[t, b, i]) * 64))
                if cur > max_uv:
                    w = cur - 2 * max_uv
                else:
                    w = cur
                if w <= -max_uv:
                    w = cur + 2 * max_uv
                u = w
                volt = wrap32(wrap32(rtz_decay(v, fv) + u) + bi)
                if volt > max_uv - 1:
                    volt = max_uv - 1
                elif volt < -max_uv + 1:
                    volt = -max_uv + 1
                if volt > theta:
                    out[t, b, i] = True
                    v = 0
                else:
                    out[t, b, i] = False
                    v = volt
        return out

    return cuba_run


def cuba_run(a_in: np.ndarray, bias: np.ndarray, du: int, dv: int, vth: int,
             reset_interval: int | None, reset_phase: int | None) -> np.ndarray:
    """Compiled twin of :func:`neuro_deploy.sim.fixed_point.cuba_step` over all steps.

    Same integer semantics (int32 wrap wherever Lava's int32 numpy arithmetic wraps,
    round-toward-zero decays, 24-bit current wrap, voltage saturation, strict threshold,
    reset to 0), one (sample, neuron) per iteration, in parallel. ``a_in`` is (T, B, N)
    int32, ``bias`` (N,) int32; returns (T, B, N) bool spikes. Tested against the numpy
    reference on random and extreme inputs.
    """
    global _CUBA_RUN
    if _CUBA_RUN is None:
        _CUBA_RUN = _build_cuba()
    out = np.empty(a_in.shape, dtype=np.bool_)
    return _CUBA_RUN(np.ascontiguousarray(a_in, dtype=np.int32),
                     np.ascontiguousarray(np.broadcast_to(bias, (a_in.shape[2],)), dtype=np.int32),
                     int(du), int(dv), int(vth), int(reset_interval or 0), int(reset_phase or 0), out)
