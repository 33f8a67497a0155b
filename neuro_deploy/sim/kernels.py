"""Compiled kernels (numba, cached on disk) for the fast backend's hot loops; exact integer
arithmetic, bit for bit Lava's ``Loihi2SimCfg(fixed_pt)``.

* :func:`cuba_update` - one CUBA neuron, one step (Lava ``PyLifModelBitAcc``); the only
  place the neuron arithmetic is written, used by :func:`cuba_run` (all steps of a
  (T, B, N) input current) and by :func:`dense_cuba` (synapse and neurons of a dense layer,
  one sample at a time, in cache).
* :func:`dense_cuba` - a dense layer fed by binary spikes: each spike adds its weight row
  (event-driven, as a neuromorphic core does), except the (sample, step) rows the caller
  computed with a dense GEMM (:func:`neuro_deploy.sim.fast.dense_layer` chooses per row,
  by measured activity); then the layer's neurons.
* :func:`event_matmul` - the event-driven product alone (graded inputs, delays: the
  general path).

Parallel loops use numba's ``workqueue`` threading layer unless ``NUMBA_THREADING_LAYER``
says otherwise: GNU OpenMP aborts a process that forks after using it ("fork() called
from a process already using GNU OpenMP"), and Lava and ``replay --workers`` fork.
"""

from __future__ import annotations

import numba
import numpy as np

from neuro_deploy._compat.numba_threads import fork_safe_numba

fork_safe_numba()

MAX_UV = 1 << 23


@numba.njit(inline="always")
def wrap32(x):
    """Two's-complement wrap of an int64 to int32 range (numpy int32 overflow)."""
    return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648


@numba.njit(inline="always")
def rtz_decay(x, factor):
    """``x * factor / 2^12`` rounded toward zero (Lava's decay), then int32 wrap: a
    negative product gets 2^12 - 1 added before the (flooring) shift, so it rounds up -
    ``-((-p) >> 12)`` without a branch (the neuron loops vectorize)."""
    p = x * factor
    return wrap32((p + ((p >> 63) & 4095)) >> 12)


@numba.njit(inline="always")
def cuba_update(u, v, a, bias, fu, fv, theta):
    """One CUBA step (``fixed_point.cuba_step``, Lava ``lif/models.py:145-192``) of one
    neuron, int64 scalars: ``u`` current, ``v`` voltage, ``a`` the int32 input the synapse
    sent, ``fu = 4096 - (du + 1)``, ``fv = 4096 - dv``, ``theta = vth << 6``. Returns
    (u, v, spike). Written with selects, not branches (the neuron loops vectorize)."""
    cur = wrap32(rtz_decay(u, fu) + wrap32(a * 64))
    w = cur - 2 * MAX_UV if cur > MAX_UV else cur
    w = cur + 2 * MAX_UV if w <= -MAX_UV else w
    volt = wrap32(wrap32(rtz_decay(v, fv) + w) + bias)
    volt = min(max(volt, -MAX_UV + 1), MAX_UV - 1)
    spike = volt > theta
    return w, np.int64(0) if spike else volt, spike


@numba.njit(parallel=True, cache=True, nogil=True)
def cuba_run_kernel(a_in, bias, du, dv, vth, reset_interval, reset_phase, out):
    steps, batch, n = a_in.shape
    theta = np.int64(vth) << 6
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
                u = np.int64(0)
                v = np.int64(0)
            u, v, s = cuba_update(u, v, np.int64(a_in[t, b, i]), bi, fu, fv, theta)
            out[t, b, i] = s
    return out


def cuba_run(
    a_in: np.ndarray, bias: np.ndarray, du: int, dv: int, vth: int, reset_interval: int | None, reset_phase: int | None
) -> np.ndarray:
    """Compiled twin of :func:`neuro_deploy.sim.fixed_point.cuba_step` over all steps.

    Same integer semantics (int32 wrap wherever Lava's int32 numpy arithmetic wraps,
    round-toward-zero decays, 24-bit current wrap, voltage saturation, strict threshold,
    reset to 0), one (sample, neuron) per iteration, in parallel. ``a_in`` is (T, B, N)
    int32, ``bias`` (N,) int32; returns (T, B, N) bool spikes. Tested against the numpy
    reference on random and extreme inputs.
    """
    out = np.empty(a_in.shape, dtype=np.bool_)
    return cuba_run_kernel(
        np.ascontiguousarray(a_in, dtype=np.int32),
        np.ascontiguousarray(np.broadcast_to(bias, (a_in.shape[2],)), dtype=np.int32),
        int(du),
        int(dv),
        int(vth),
        int(reset_interval or 0),
        int(reset_phase or 0),
        out,
    )


@numba.njit(parallel=True, cache=True, nogil=True)
def event_matmul_kernel(x, wt, out):
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


def event_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact ``x @ w.T`` for boolean ``x`` (rows = samples x steps) and integer ``w``
    (out, in): each spike adds its weight column, as a neuromorphic core does."""
    wmax = int(np.abs(w).max()) if w.size else 0
    # narrowest exact types: int16 weights / int32 sums when no sum can overflow them
    wt_type = np.int16 if wmax < 2**15 else np.int32
    acc_type = np.int32 if wmax * w.shape[1] < 2**31 else np.int64
    out = np.zeros((x.shape[0], w.shape[0]), dtype=acc_type)
    event_matmul_kernel(np.ascontiguousarray(x, dtype=np.bool_), np.ascontiguousarray(w.T, dtype=wt_type), out)
    return out.astype(np.int64, copy=False)


@numba.njit(parallel=True, cache=True, nogil=True)
def active_counts(x, n_first, every):
    """Nonzero inputs per (sample, step) of spikes ``x`` - (B, N, T) when ``n_first``,
    else (B, T, N) - for every ``every``-th sample (the others stay -1): (B, T) int64."""
    batch = x.shape[0]
    steps = x.shape[2] if n_first else x.shape[1]
    out = np.full((batch, steps), -1, np.int64)
    for bi in numba.prange((batch + every - 1) // every):
        b = bi * every
        row = out[b]
        row[:] = 0
        if n_first:
            for n in range(x.shape[1]):
                for t in range(steps):
                    row[t] += x[b, n, t] != 0
        else:
            for t in range(steps):
                c = 0
                for n in range(x.shape[2]):
                    c += x[b, t, n] != 0
                row[t] = c
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def gather_rows(x, n_first, rows, out):
    """out[k, :] = input vector of (sample, step) ``rows[k]`` as float (for the GEMM)."""
    for k in numba.prange(rows.shape[0]):
        b = rows[k, 0]
        t = rows[k, 1]
        if n_first:
            for n in range(out.shape[1]):
                out[k, n] = x[b, n, t] != 0
        else:
            for n in range(out.shape[1]):
                out[k, n] = x[b, t, n] != 0
    return out


#: index of the lowest set bit of each byte value (0 for 0)
CTZ8 = np.array([0] + [(v & -v).bit_length() - 1 for v in range(1, 256)], np.int64)


@numba.njit(inline="always")
def nonzero_bytes(wd):
    """Bit k set iff byte k of the int64 ``wd`` is nonzero: each byte's bits ORed into its
    bit 0, then bits 0, 8, ..., 56 gathered into the top byte by one multiplication
    (no two partial products meet there)."""
    nz = wd | (wd >> 4)
    nz |= nz >> 2
    nz |= nz >> 1
    return (((nz & 0x0101010101010101) * 0x0102040810204080) >> 56) & 0xFF


@numba.njit(parallel=True, cache=True, nogil=True)
def dense_cuba(
    x,
    n_first,
    wt,
    limit,
    wexp,
    bias,
    du,
    dv,
    vth,
    reset_interval,
    reset_phase,
    gemm_index,
    gemm_rows,
    complement,
    colsum,
    out,
    counts,
    words,
    bad,
):
    """A dense layer with CUBA neurons, one sample per iteration (in parallel), all in cache.

    ``x``: binary input spikes (nonzero = spike), (B, N, T) when ``n_first`` (a
    recording's layout) else (B, T, N) (a layer's output); ``wt`` (N, M) int16 weights,
    transposed; ``words``: each sample's input bytes read 8 at a time, (B, N * T / 8) int64
    (a view of ``x``, or (B, 0) when ``x`` is not one contiguous byte per input: then
    byte by byte) - at a few % spikes most words are 0 and skip 8 inputs at once.
    Synaptic input of step t + 1 (Lava's synapse delays by one step)::

        acc[t + 1] = sum of wt[n] over the inputs n that spiked at step t

    event-driven, in int16 sums moved to int32 every ``limit`` spikes of a row -
    except the rows with ``gemm_index[b, t] >= 0``, whose ``acc`` the caller computed by a
    dense product (``gemm_rows``). A (B, T, N) row with ``complement[b, t]`` (more than half
    its inputs active) is summed from its *inactive* inputs instead, exactly::

        acc[t + 1] = colsum - sum of wt[n] over the inputs n that did not spike at step t

    with ``colsum`` (M,) int32 every input's weight summed - the adds fall from the active
    to the inactive inputs, e.g. 1 % instead of 99 % of a saturated layer's outputs (the
    caller sets it only where N % 8 == 0 and no sum can leave int32). Then, per step, the
    neurons get
    ``a = wrap32(acc << wexp)`` (``acc >> -wexp`` for a negative exponent; Dense's
    ``weight_exp``) and :func:`cuba_update`; netx's ``LIFReset`` zeroes their state when
    ``(t + 1) % reset_interval == reset_phase``. Writes ``out`` (B, T, M) bool spikes and
    ``counts`` (B, T) spikes per step (the next layer's measured activity).

    It also checks the input it reads anyway: ``bad[b] = 1`` when sample b's input holds a
    value other than 0 and 1 at any step (a byte with a bit above bit 0, e.g. 2 or an int8
    -1; read byte by byte, any value but 0 and 1 when ``n_first``; a (B, T, N) input is a
    layer's bool output and is not checked byte by byte), so the caller need not make a
    separate pass over the input before the run (:func:`neuro_deploy.sim.fast.simulate`).
    """
    batch, steps, m = out.shape
    n_in = wt.shape[0]
    theta = np.int64(vth) << 6
    fu = 4096 - (du + 1)
    fv = 4096 - dv
    for b in numba.prange(batch):
        acc16 = np.zeros((steps, m), np.int16)
        acc32 = np.zeros((steps, m), np.int32)
        used = np.zeros(steps, np.int64)
        gi = gemm_index[b]
        cm = complement[b]
        # acc16[t + 1] += wt[n] per spike, in int16; a row that has taken ``limit`` spikes
        # is moved into the int32 acc32 (limit * max|w| < 2^15: no int16 sum overflows).
        # Written out in the loops, not as a function: no array is passed per spike.
        if words.shape[1] > 0:
            # the flat input of sample b, 8 bytes per word: rows of ``inner`` bytes (an
            # input's T steps when n_first, else a step's N inputs); byte 8 q is at row o,
            # position i (no division per spike)
            inner = x.shape[2]
            xw = words[b]
            o = 0
            i = 0
            # a step's inputs in whole words (B, T, N with N % 8 == 0): a step whose sums the
            # GEMM made is skipped a word at a time
            skip_rows = not n_first and inner % 8 == 0
            for q in range(xw.shape[0]):
                wd = xw[q]
                if wd & -72340172838076674:  # 0xFEFE...FE: a byte that is neither 0 nor 1
                    bad[b] = 1
                sub = False
                if skip_rows and (o >= steps - 1 or gi[o] >= 0):
                    g = 0
                elif skip_rows and cm[o]:  # a complement row: the zero bytes (inputs are 0/1)
                    g = nonzero_bytes(~wd & 0x0101010101010101)
                    sub = True
                else:
                    g = nonzero_bytes(wd) if wd != 0 else 0
                if g:
                    while g:
                        k = CTZ8[g]  # the lowest nonzero byte
                        g &= g - 1
                        oo = o
                        ii = i + k
                        while ii >= inner:
                            ii -= inner
                            oo += 1
                        n = oo if n_first else ii
                        t = ii if n_first else oo
                        if t < steps - 1 and gi[t] < 0:
                            r = t + 1
                            if sub:
                                for j in range(m):
                                    acc16[r, j] -= wt[n, j]
                            else:
                                for j in range(m):
                                    acc16[r, j] += wt[n, j]
                            used[r] += 1
                            if used[r] == limit:
                                for j in range(m):
                                    acc32[r, j] += acc16[r, j]
                                    acc16[r, j] = 0
                                used[r] = 0
                i += 8
                while i >= inner:
                    i -= inner
                    o += 1
        elif n_first:
            for n in range(n_in):
                for t in range(steps):
                    xv = x[b, n, t]
                    if xv != 0 and xv != 1:
                        bad[b] = 1
                    if xv != 0 and t < steps - 1 and gi[t] < 0:
                        r = t + 1
                        for j in range(m):
                            acc16[r, j] += wt[n, j]
                        used[r] += 1
                        if used[r] == limit:
                            for j in range(m):
                                acc32[r, j] += acc16[r, j]
                                acc16[r, j] = 0
                            used[r] = 0
        else:
            for t in range(steps - 1):
                if gi[t] < 0:
                    r = t + 1
                    sub = cm[t] != 0
                    for n in range(n_in):
                        if (x[b, t, n] == 0) if sub else (x[b, t, n] != 0):
                            if sub:
                                for j in range(m):
                                    acc16[r, j] -= wt[n, j]
                            else:
                                for j in range(m):
                                    acc16[r, j] += wt[n, j]
                            used[r] += 1
                            if used[r] == limit:
                                for j in range(m):
                                    acc32[r, j] += acc16[r, j]
                                    acc16[r, j] = 0
                                used[r] = 0
        for t in range(steps - 1):
            g = gi[t]
            if g >= 0:
                for j in range(m):
                    acc32[t + 1, j] = gemm_rows[g, j]
            elif cm[t]:
                for j in range(m):
                    acc32[t + 1, j] += colsum[j]
        u = np.zeros(m, np.int64)
        v = np.zeros(m, np.int64)
        for t in range(steps):
            if reset_interval > 0 and (t + 1) % reset_interval == reset_phase:
                u[:] = 0
                v[:] = 0
            c = 0
            for j in range(m):
                a = np.int64(acc32[t, j]) + np.int64(acc16[t, j])
                a = wrap32(a << wexp if wexp > 0 else a >> -wexp)
                uj, vj, s = cuba_update(u[j], v[j], a, np.int64(bias[j]), fu, fv, theta)
                u[j] = uj
                v[j] = vj
                out[b, t, j] = s
                c += s
            counts[b, t] = c
    return out
