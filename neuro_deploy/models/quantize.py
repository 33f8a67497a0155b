"""The one weight quantizer shared by training (QAT) and export: a per-layer power-of-two scale.

Loihi 2 (and Lava's bit-accurate models) store a layer's weights as 8-bit mantissas with a
sign mode, i.e. even integers in ``[-256, 254]``; the LIF neurons hold ``u`` and ``v`` in
24 bits and compare ``v`` with ``vThMant << 6``. lava-dl's SLAYER CUBA neuron models the
chip exactly when its ``scale`` is the factor between a float weight and the stored
integer (``neuron.quantize_8bit``, ``slayer/neuron/base.py``)::

    w_int   = clamp(round(w * 2**e / 2) * 2, -256, 254)        (weight mantissa)
    vThMant = int(threshold * 2**e)                            (17-bit threshold mantissa)
    state   = value * 2**(e + 6)                               (u, v as Lava's int24)

SLAYER fixes ``e = 6`` for every layer (:data:`SLAYER_EXPONENT`), so a layer whose float
weights lie within +-0.1 is stored in -6..6: 3 of the 8 mantissa bits. Because the CUBA
dynamics are linear in (weights, threshold, bias, state) up to the rounding of the decays,
any ``e`` gives the same network; :func:`choose_exponent` picks, per layer, the largest
``e`` that keeps

* ``range``: every weight inside the mantissa range without clipping, ``max|w| * 2**e <= 254``
  (``256`` for negative weights);
* ``threshold``: the threshold mantissa within its bits, ``threshold * 2**e <= 2**17 - 1``;
* ``float32``: SLAYER's float32 spike test ``v >= theta + 0.01 / 2**(e+6)`` equal to Lava's
  integer ``v > theta``: exact while ``vThMant < 2**12`` (above, the 0.01 is lost in
  float32 rounding and a neuron sitting exactly on the threshold would fire in torch only);
* ``state``: ``u`` and ``v`` inside Lava's 24 bits (``u`` wraps around, ``v`` saturates
  beyond them): the largest ``|u|`` or ``|v|`` seen on calibration data (training samples;
  the verification inputs for checkpoints trained before calibration existed), times
  ``2**state_margin_bits``, must fit ``2**23 - 1`` at ``2**(e+6)``. CUBA layers trained on
  N-MNIST drive ``v`` down to about -100 thresholds (inhibition with a 3 % voltage decay),
  which is what limits ``e`` in practice. Without calibration data the rule falls back to
  ``2**fallback_headroom_bits`` thresholds of room.

Powers of two keep SLAYER's float32 arithmetic exact (``w_int / 2**e`` and every partial sum
are representable), so a model quantized at ``e`` in torch and the exported netx network run
bit for bit alike in Lava while the state stays inside 24 bits. Biases (none in the models
this package trains) and graded-spike payloads would scale by the same ``2**e``; CUBA layers
exported from SLAYER send binary spikes, so there is no graded scale to carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from neuro_deploy.loihi_format import LOIHI2, NumberFormat

#: SLAYER CUBA's fixed weight exponent (``cuba.Neuron(scale=1 << 6)``).
SLAYER_EXPONENT = 6
#: Lava LIF shifts its input and threshold left by 6 (``act_shift``, ``vth_shift``;
#: lava/proc/lif/models.py), so a state value is ``weight units * 2**(e + 6)``.
LAVA_STATE_SHIFT = 6
#: SLAYER's spike test equals Lava's while ``vThMant < 2**FLOAT32_THRESHOLD_BITS`` (see above).
FLOAT32_THRESHOLD_BITS = 12


@dataclass(frozen=True)
class QuantSpec:
    """Fixed-point limits the quantizer respects. The defaults are lava-dl's
    ``quantize_8bit`` range and Lava's LIF precisions, the same numbers as the ``loihi2``
    hardware profile (:meth:`neuro_deploy.hardware.profile.HardwareProfile.quant_spec`,
    tested equal)."""

    weight_bits: int = LOIHI2.weight_bits  #: mantissa bits; with the sign mode: even ints in [-2^b, 2^b - 2]
    threshold_mant_bits: int = LOIHI2.threshold_mant_bits
    state_bits: int = LOIHI2.state_bits  #: u, v signed
    state_margin_bits: int = 1  #: policy: calibrated state peak x 2**margin must fit
    fallback_headroom_bits: int = 7  #: policy: room in thresholds when nothing was calibrated
    min_exponent: int = 0

    def number_format(self) -> NumberFormat:
        """These widths as a :class:`~neuro_deploy.loihi_format.NumberFormat` (its derived ranges)."""
        return replace(
            LOIHI2,
            weight_bits=self.weight_bits,
            threshold_mant_bits=self.threshold_mant_bits,
            state_bits=self.state_bits,
        )

    @property
    def weight_mant_min(self) -> int:
        return self.number_format().weight_mant_min

    @property
    def weight_mant_max(self) -> int:
        return self.number_format().weight_mant_max

    @property
    def threshold_mant_max(self) -> int:
        return self.number_format().threshold_mant_max

    def to_dict(self) -> dict[str, int]:
        return {k: int(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "QuantSpec":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: int(v) for k, v in (d or {}).items() if k in known})


def exponent_limits(
    weights: np.ndarray, threshold: float, spec: QuantSpec, state_peak: float | None = None
) -> dict[str, int | None]:
    """The largest exponent each constraint allows (None: the weights do not constrain).
    ``state_peak``: largest |u| or |v| on calibration data, in weight units (None or 0:
    not calibrated, use the threshold headroom)."""
    w = np.asarray(weights, dtype=np.float64)
    pos = float(w.max()) if w.size else 0.0
    neg = float(-w.min()) if w.size else 0.0
    bounds = []
    if pos > 0:
        bounds.append(spec.weight_mant_max / pos)
    if neg > 0:
        bounds.append(-spec.weight_mant_min / neg)
    rng = math.floor(math.log2(min(bounds))) if bounds else None
    vth = math.floor(math.log2(spec.threshold_mant_max / threshold))
    f32 = math.floor(math.log2((2**FLOAT32_THRESHOLD_BITS - 1) / threshold))
    room = 2.0 ** (spec.state_bits - 1) - 1
    if state_peak:
        state = math.floor(math.log2(room / (state_peak * 2.0 ** (LAVA_STATE_SHIFT + spec.state_margin_bits))))
    else:
        state = math.floor(math.log2(room / (threshold * 2.0 ** (LAVA_STATE_SHIFT + spec.fallback_headroom_bits))))
    return {"range": rng, "threshold": vth, "float32": f32, "state": state}


def choose_exponent(weights: np.ndarray, threshold: float, spec: QuantSpec, state_peak: float | None = None) -> int:
    """Per-layer exponent ``e`` (scale ``2**e``): the largest that satisfies every limit of
    :func:`exponent_limits`, and at least ``spec.min_exponent``. Pure function of the
    layer's effective float weights, threshold and calibrated state peak."""
    lim = exponent_limits(weights, threshold, spec, state_peak)
    cands = [v for v in lim.values() if v is not None]
    return max(spec.min_exponent, min(cands))


def quantize_array(weights: np.ndarray, exponent: int, spec: QuantSpec) -> np.ndarray:
    """Stored integer mantissas of ``weights`` at scale ``2**exponent`` (numpy, export side)."""
    s = 2.0**exponent
    q = np.round(np.asarray(weights, dtype=np.float64) * s / 2.0) * 2.0
    return np.clip(q, spec.weight_mant_min, spec.weight_mant_max).astype(np.int64)


def threshold_mant(threshold: float, exponent: int) -> int:
    """``vThMant`` as SLAYER computes it (``int(threshold * scale)``)."""
    return int(threshold * (1 << exponent)) if exponent >= 0 else int(threshold * 2.0**exponent)


class LayerQuantizer:
    """SLAYER ``pre_hook_fx`` at scale ``2**exponent``: lava-dl's ``quantize_8bit`` with the
    range of ``spec`` (straight-through gradient, ``slayer.utils.quantize``).
    ``descale=True`` returns the integer mantissas, as SLAYER's netx writer asks."""

    def __init__(self, exponent: int, spec: QuantSpec) -> None:
        self.exponent, self.spec = int(exponent), spec

    def __call__(self, weight: Any, descale: bool = False) -> Any:
        from neuro_deploy._compat import import_slayer

        s = 2.0**self.exponent
        q = (
            import_slayer()
            .utils.quantize(weight, step=2 / s)
            .clamp(self.spec.weight_mant_min / s, self.spec.weight_mant_max / s)
        )
        return q * s if descale else q


def bits_used(w_int: np.ndarray) -> int:
    """Signed bits of the 8-bit mantissa ``m = w_int / 2`` that the layer occupies (two's
    complement: 127 and -128 need 8, 3 and -4 need 3; 0 if every weight is 0)."""
    w = np.asarray(w_int, dtype=np.int64)
    if not w.size or not w.any():
        return 0
    m_pos, m_neg = int(max(w.max(), 0)) // 2, int(max(-w.min(), 0)) // 2
    need_pos = math.ceil(math.log2(m_pos + 1)) if m_pos else 0
    need_neg = math.ceil(math.log2(m_neg)) if m_neg else 0
    return max(need_pos, need_neg) + 1
