"""Loihi 2's fixed-point number formats: the one home of 64, 4096, -256..254, 62 and 2^17 - 1.

These are the bit widths Lava's bit-accurate Loihi models use and netx files are written
for (sources in ``hw_profiles/loihi2.yaml``, where every one is stated with its
provenance). :data:`LOIHI2` holds them for the code that has no profile at hand (the netx
reader, the NIR importer, the fixed-point simulator);
:meth:`neuro_deploy.hardware.profile.HardwareProfile.number_format` builds the same object
from a profile's limits, and a test holds the two equal, so a constant lives in one place
tied to the profile it comes from.

Derived values (all integers):

* weights: ``weight_bits``-bit mantissas with a sign mode, i.e. even integers in
  ``[-2^weight_bits, 2^weight_bits - 2]`` = [-256, 254] (``lava/proc/dense/models.py``);
* decays: ``decay_bits``-bit, applied as ``x (2^decay_bits - d) / 2^decay_bits`` - unity 4096;
* threshold mantissa: ``threshold_mant_bits`` unsigned bits, at most 2^17 - 1, used as
  ``vThMant << vth_shift``;
* state ``u``, ``v``: ``state_bits``-bit signed (24);
* bias mantissa: ``bias_mant_bits``-bit signed (13: -4096..4095), scaled by ``2^bias_exp``;
* delays: at most ``max_delay`` steps (6-bit delays; netx clamps to 62);
* SLAYER's CUBA neuron trains with weights on the grid ``1 / 2^slayer_weight_exp``: the
  netx integer is ``float weight x 64``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NumberFormat:
    """Bit widths of a Loihi generation's neuron and synapse arithmetic (module docstring)."""

    weight_bits: int = 8
    decay_bits: int = 12
    threshold_mant_bits: int = 17
    state_bits: int = 24
    delay_bits: int = 6
    max_delay: int = 62
    bias_mant_bits: int = 13
    bias_exp: int = 6
    vth_shift: int = 6
    slayer_weight_exp: int = 6

    @property
    def weight_mant_min(self) -> int:
        return -(1 << self.weight_bits)

    @property
    def weight_mant_max(self) -> int:
        return (1 << self.weight_bits) - 2

    @property
    def decay_unity(self) -> int:
        return 1 << self.decay_bits

    @property
    def threshold_mant_max(self) -> int:
        return (1 << self.threshold_mant_bits) - 1

    @property
    def bias_mant_max(self) -> int:
        return (1 << (self.bias_mant_bits - 1)) - 1

    @property
    def state_max(self) -> int:
        return (1 << (self.state_bits - 1)) - 1

    @property
    def slayer_weight_scale(self) -> int:
        return 1 << self.slayer_weight_exp


#: Loihi 2 as Lava 0.10 / lava-dl 0.6 model it (equal to the ``loihi2`` profile's limits).
LOIHI2 = NumberFormat()
