"""Compiled (numba, cached on disk) counting for :func:`neuro_deploy.energy.counts.count_activity`.

:func:`dense_counts` computes, for a dense layer, what the numpy formulation of
``count_activity`` computes with whole-batch matrix products (module docstring of
:mod:`neuro_deploy.energy.counts`), one (step, sample) at a time and event by event:

* ``in[t, b]`` = active inputs, ``syn[t, b]`` = sum of their fan-outs ``F_j``;
* ``out[t, b]`` = neurons that fired;
* ``act[t, b]`` = neurons updated "actively": fired at t, or have a nonzero bias, or
  receive input at t - some input with a nonzero weight to them was active at t - 1
  (an OR of the inputs' nonzero-weight bit masks, 64 neurons per word).

Steps outside a sample's run (``valid`` False) count nothing. Imported lazily (numba).
"""

from __future__ import annotations

import numba
import numpy as np

from neuro_deploy._compat.numba_threads import fork_safe_numba

fork_safe_numba()


@numba.njit(inline="always")
def popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(parallel=True, cache=True, nogil=True)
def dense_counts(upstream, fired, valid, fanout, nz_bits, bias_bits, counts):
    """``upstream`` (T, B, N_in) and ``fired`` (T, B, N) spikes (any strides, nonzero =
    active), ``valid`` (T, B) bool, ``fanout`` (N_in,) int64, ``nz_bits`` (N_in, W) uint64
    (bit j of input n: a nonzero weight to neuron j), ``bias_bits`` (W,) uint64 (neurons
    with a nonzero bias). Fills ``counts`` (4, T, B) int64: in, syn, out, act."""
    steps, batch, n_in = upstream.shape
    n = fired.shape[2]
    words = nz_bits.shape[1]
    for b in numba.prange(batch):
        got = np.zeros(words, np.uint64)  # neurons reached by step t - 1's inputs
        reach = np.zeros(words, np.uint64)
        for t in range(steps):
            reach[:] = 0
            k_in = 0
            syn = 0
            if valid[t, b]:
                for i in range(n_in):
                    if upstream[t, b, i] != 0:
                        k_in += 1
                        syn += fanout[i]
                        for w in range(words):
                            reach[w] |= nz_bits[i, w]
            k_out = 0
            act = 0
            if valid[t, b]:
                for w in range(words):
                    word = got[w] | bias_bits[w]
                    for j in range(w * 64, min(n, w * 64 + 64)):
                        if fired[t, b, j] != 0:
                            k_out += 1
                            word |= np.uint64(1) << np.uint64(j - w * 64)
                    act += popcount64(word)
            counts[0, t, b] = k_in
            counts[1, t, b] = syn
            counts[2, t, b] = k_out
            counts[3, t, b] = act
            for w in range(words):
                got[w] = reach[w]
    return counts


def bits_of(mask: np.ndarray) -> np.ndarray:
    """(..., N) bool -> (..., ceil(N/64)) uint64, bit j of word j // 64 = mask[..., j]."""
    n = mask.shape[-1]
    words = (n + 63) // 64
    padded = np.zeros(mask.shape[:-1] + (words * 64,), dtype=bool)
    padded[..., :n] = mask
    return np.packbits(padded, axis=-1, bitorder="little").view(np.uint64)
