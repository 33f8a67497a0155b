"""Lava's fixed-point (``fixed_pt``) arithmetic as pure numpy functions, batched.

Every function here reproduces a specific piece of lava-nc 0.10.0 / lava-dl 0.6.0
bit for bit; the source it matches is named in each docstring. Arrays carry a leading
batch axis; dtypes follow Lava's (int32 state, int64 products), so overflow wraps the
same way Lava's numpy code wraps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuro_deploy.loihi_format import LOIHI2

UV_BITS = LOIHI2.state_bits  # 24
MAX_UV = 2 ** (UV_BITS - 1)  # 2^23
DECAY_SHIFT = LOIHI2.decay_bits  # decays are 12-bit, MSB-aligned
DECAY_UNITY = 2**DECAY_SHIFT  # 4096
VTH_SHIFT = LOIHI2.vth_shift  # threshold and activation are MSB-aligned by 6 bits
ACT_SHIFT = LOIHI2.vth_shift
DS_OFFSET = 1  # current decay offset register (du + 1)
DM_OFFSET = 0


@dataclass(frozen=True)
class DenseWeights:
    """Dense synapse weights as Lava's bit-accurate Dense uses them."""

    weight: np.ndarray  #: int32 (out, in), after clip and truncate
    weight_exp: int  #: applied to the accumulated sum (shift)
    num_weight_bits: int


def netx_optimize_weight_bits(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    """netx's ``optimize_weight_bits`` (lava-dl ``netx/utils.py:80-158``).

    1. clip to [-256, 254] when the range has both signs and exceeds it;
    2. sign mode: inhibitory (max<0), excitatory (min>=0) or mixed (signed=1);
    3. ``scale`` = min(127/max, -128/min) (mixed), -256/min (inh.), 255/max (exc.),
       ``scale_bits = floor(log2(scale)) + signed``;
    4. ``n`` = largest n in 8..1 with every ``w / 2^n`` integral (else 0), ``n -= signed``;
    5. ``num_weight_bits = 8 - scale_bits - n``, ``weight_exp = -scale_bits``,
       ``w = w << scale_bits``.

    Returns ``(w, num_weight_bits, weight_exp)``.
    """
    w = np.asarray(weight)
    wmax, wmin = np.max(w), np.min(w)
    if wmax > 254 and wmin < 0:
        w = np.clip(w, -256, 254)
        wmax = np.max(w)
    if wmin < -256 and wmax > 0:
        w = np.clip(w, -256, 254)
        wmin = np.min(w)
    if wmax < 0:
        signed, scale = 0, -256 / wmin
    elif wmin >= 0:
        with np.errstate(divide="ignore"):
            signed, scale = 0, 255 / wmax if wmax != 0 else np.inf
    else:
        signed, scale = 1, min(127 / wmax, -128 / wmin)
    if not np.isfinite(scale):
        raise ValueError("all-zero weight matrix: netx cannot choose a weight exponent")
    scale_bits = np.floor(np.log2(scale)) + signed
    n = 8
    if np.issubdtype(np.asarray(w).dtype, np.integer):
        # w / 2^n is integral iff the n low bits of every |w| are zero: the trailing zero
        # bits of their OR (one pass instead of eight)
        low = int(np.bitwise_or.reduce(np.abs(np.asarray(w, dtype=np.int64)).ravel())) if np.size(w) else 0
        while n > 0 and low % (1 << n):
            n -= 1
    else:
        while n > 0 and np.sum(np.abs(w / 2**n - np.round(w / 2**n))) != 0:
            n -= 1
    n -= signed
    num_weight_bits = 8 - scale_bits - n
    w = np.left_shift(w.astype(np.int32), int(scale_bits))
    return w.astype(int), int(num_weight_bits), int(-scale_bits)


def _sign_mode(w: np.ndarray) -> str:
    """Lava ``determine_sign_mode`` (``utils/weightutils.py:21-43``)."""
    if np.min(w) >= 0:
        return "exc"
    if np.max(w) <= 0:
        return "inh"
    return "mixed"


def lava_clip_truncate(w: np.ndarray, num_weight_bits: int) -> np.ndarray:
    """Lava Dense's first-step weight handling (``proc/dense/models.py:82-91``).

    ``clip_weights(w, mode, 8)``: mixed [-256, 255], excitatory/inhibitory [0, 255] on
    ``|w|``; then ``truncate_weights``: ``w = (w >> k) << k`` with
    ``k = 8 - num_weight_bits + mixed`` (arithmetic shift, inhibitory negated around it).
    """
    mode = _sign_mode(w)
    mixed = int(mode == "mixed")
    x = w.copy().astype(np.int32)
    if mode == "inh":
        x = -x
    x = np.clip(x, -(2**8) * mixed, 2**8 - 1)
    if mode == "inh":
        x = -x
    x = x.astype(np.int32)
    if mode == "inh":
        x = -x
    k = 8 - num_weight_bits + mixed
    x = (x >> k) << k
    if mode == "inh":
        x = -x
    return x.astype(np.int32)


def dense_weights(weight: np.ndarray) -> DenseWeights:
    """The exact int32 matrix and exponent a netx Dense block computes with."""
    w, nbits, wexp = netx_optimize_weight_bits(weight)
    return DenseWeights(weight=lava_clip_truncate(w, nbits), weight_exp=wexp, num_weight_bits=nbits)


def apply_weight_exp(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    """``a = acc << wexp`` if ``wexp > 0`` else ``acc >> -wexp`` (floor), as Dense does."""
    return np.left_shift(acc, weight_exp) if weight_exp > 0 else np.right_shift(acc, -weight_exp)


def to_int32_channel(x: np.ndarray) -> np.ndarray:
    """What copying into Lava's int32 channel buffer does to a wider integer (wraps)."""
    return np.asarray(x).astype(np.int64).astype(np.int32)


def signed_clamp(x: np.ndarray, bits: int = 24) -> np.ndarray:
    """``((x + 2^(b-1)) mod 2^b) - 2^(b-1)``: Lava conv's 24-bit *wrap* (``conv/utils.py:67-85``).

    For int32 arrays this is a sign extension of the low ``b`` bits,
    ``(x << (32-b)) >> (32-b)`` (identical result, much faster)."""
    if isinstance(x, np.ndarray) and x.dtype == np.int32:
        s = 32 - bits
        return np.right_shift(np.left_shift(x, s), s)
    base = 1 << bits
    return (x + base // 2) % base - base // 2


def effective_bias(bias_mant: np.ndarray, bias_exp: int = 6) -> np.ndarray:
    """``b = bias_mant << bias_exp`` with Lava's int16 storage of the mantissa
    (``lif/models.py:110-122``; the Var is int16, promoted to int32 before the shift)."""
    mant = np.asarray(bias_mant).astype(np.int16).astype(np.int32)
    return np.left_shift(mant, bias_exp) if bias_exp >= 0 else np.right_shift(mant, -bias_exp)


def decay_toward_zero(x: np.ndarray, decay: int) -> np.ndarray:
    """``sign(x * (4096 - decay)) * (|x * (4096 - decay)| >> 12)`` in int64, back to int32:
    multiplication by ``(4096 - decay)/4096`` rounded toward zero."""
    prod = np.int64(1) * x.astype(np.int64) * (DECAY_UNITY - decay)
    return (np.sign(prod) * np.right_shift(np.abs(prod), DECAY_SHIFT)).astype(np.int32)


def cuba_step(
    u: np.ndarray, v: np.ndarray, a_in: np.ndarray, *, du: int, dv: int, bias: np.ndarray | int, vth: int
) -> np.ndarray:
    """One step of Lava's bit-accurate CUBA LIF (``PyLifModelBitAcc``,
    ``lava/proc/lif/models.py:145-192, 268-278``), in place on int32 ``u``, ``v``.

    .. math::

        u &\\leftarrow \\mathrm{wrap}_{24}\\big(\\mathrm{rtz}(u\\,(4096-(du+1))/2^{12}) + (a_{in} \\ll 6)\\big)\\\\
        v &\\leftarrow \\mathrm{clip}\\big(\\mathrm{rtz}(v\\,(4096-dv)/2^{12}) + u + b,\\ \\pm(2^{23}-1)\\big)\\\\
        s &= v > (vth \\ll 6), \\qquad v[s] \\leftarrow 0

    ``rtz`` rounds toward zero; ``wrap_24`` subtracts ``2^24`` above ``2^23`` and adds
    it at or below ``-2^23`` (Lava's asymmetric test); ``a_in`` is the int32 that the
    synapse sent, shifted in int32 as Lava does. Returns the boolean spikes.
    """
    cur = decay_toward_zero(u, du + DS_OFFSET)
    cur = cur + np.left_shift(a_in.astype(np.int32), ACT_SHIFT)
    wrapped = np.where(cur > MAX_UV, cur - 2 * MAX_UV, cur)
    wrapped = np.where(wrapped <= -MAX_UV, cur + 2 * MAX_UV, wrapped)
    u[...] = wrapped
    volt = decay_toward_zero(v, dv + DM_OFFSET) + u + bias
    v[...] = np.clip(volt, -MAX_UV + 1, MAX_UV - 1)
    spikes = v > (np.int32(vth) << VTH_SHIFT)
    v[spikes] = 0
    return spikes
