"""Hardware profiles: YAML files in ``hw_profiles/`` loaded into a typed, validated object.

Each number carries its provenance: ``{value, unit, kind, source}`` where ``kind`` is
``published``, ``measured`` (on hardware or, for bit widths, in Lava's bit-accurate
simulator), ``compiler-log`` (read from what Intel's Loihi 2 compiler printed for a
public network), ``loihi1-reference`` or ``assumption``. Limits whose kind is
``published`` or ``compiler-log`` are hard; the others only warn (see
:mod:`neuro_deploy.hardware.fit`). A cost may carry ``range: [low, high]``, multiplicative
factors for the uncertainty band of the energy and latency estimates. A profile is
selected by name (``loihi2``, ``loihi1``) or by path to a user's own YAML file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from neuro_deploy.errors import ProfileError
from neuro_deploy.loihi_format import LOIHI2, NumberFormat

SCHEMA = "neuro-deploy-hw-profile/1"
KINDS = ("published", "measured", "compiler-log", "loihi1-reference", "assumption")


@dataclass(frozen=True)
class Limits:
    cores_per_chip: int
    chips_available: int | None
    neurons_per_core: int
    neurons_per_core_compiler: int
    syn_mem_words_per_core: int
    syn_word_bits: int
    dense_synapse_overhead_bits: int
    conv_synapse_overhead_bits: int
    axon_map_entry_bits: int
    fanin_axons_per_core: int | None
    fanout_axons_per_core: int | None
    weight_bits: int
    max_delay: int
    delay_bits: int
    decay_bits: int
    threshold_mant_bits: int
    state_bits: int
    message_bits: int


@dataclass(frozen=True)
class Costs:
    e_synop_pj: float
    t_synop_ns: float
    e_neuron_update_active_pj: float
    e_neuron_update_idle_pj: float
    t_neuron_update_active_ns: float
    t_neuron_update_idle_ns: float
    e_spike_in_core_pj: float
    e_hop_pj: float
    t_hop_ns: float
    t_spike_out_ns: float
    t_barrier_ns: float
    static_power_w_per_chip: float
    mesh_cols: int


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    description: str
    path: str
    limits: Limits
    costs: Costs
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)

    def export_limits(self) -> dict[str, float]:
        """The hard limits the exporter enforces."""
        fmt = self.number_format()
        return {"max_delay": fmt.max_delay, "threshold_mant_max": fmt.threshold_mant_max, "decay_max": fmt.decay_unity}

    def number_format(self) -> NumberFormat:
        """The fixed-point formats this profile's limits state (weights, decays, threshold,
        state, delays); :data:`neuro_deploy.loihi_format.LOIHI2` for ``loihi2`` (tested)."""
        lim = self.limits
        return replace(
            LOIHI2,
            weight_bits=lim.weight_bits,
            decay_bits=lim.decay_bits,
            threshold_mant_bits=lim.threshold_mant_bits,
            state_bits=lim.state_bits,
            delay_bits=lim.delay_bits,
            max_delay=lim.max_delay,
        )

    def quant_spec(self):
        """The weight quantizer's limits on this hardware (:class:`~neuro_deploy.models.quantize.QuantSpec`)."""
        from neuro_deploy.models.quantize import QuantSpec

        return QuantSpec(
            weight_bits=self.limits.weight_bits,
            threshold_mant_bits=self.limits.threshold_mant_bits,
            state_bits=self.limits.state_bits,
        )

    def assumptions(self) -> list[str]:
        """Every field whose kind is not 'published' or 'measured', with its source."""
        return [
            f"{k} = {v['value']} {v.get('unit', '')} [{v['kind']}]: {v['source']}"
            for k, v in self.provenance.items()
            if v["kind"] in ("assumption", "loihi1-reference", "compiler-log")
        ]

    def cost_range(self, name: str) -> tuple[float, float]:
        """Multiplicative (low, high) band of a cost (1, 1 when the profile gives none)."""
        r = self.provenance.get(name, {}).get("range")
        if not r:
            return 1.0, 1.0
        return float(r[0]), float(r[1])


def profile_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    return [here.parents[2] / "hw_profiles", Path(sys.prefix) / "share" / "neuro-deploy" / "hw_profiles"]


def available_profiles() -> list[str]:
    names: set[str] = set()
    for d in profile_dirs():
        if d.is_dir():
            names |= {p.stem for p in d.glob("*.yaml")}
    return sorted(names)


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ProfileError(p, "<file>", "no such profile file")
        return p
    for d in profile_dirs():
        cand = d / f"{name_or_path}.yaml"
        if cand.is_file():
            return cand
    from neuro_deploy.errors import UnknownNameError

    raise UnknownNameError("hardware profile", str(name_or_path), available_profiles())


def _coerce(path: Path, section: str, name: str, typ: Any, entry: Any) -> Any:
    where = f"{section}.{name}"
    if not isinstance(entry, dict) or "value" not in entry:
        raise ProfileError(path, where, "must be a mapping with value, unit, kind and source")
    for key in ("kind", "source"):
        if not entry.get(key):
            raise ProfileError(path, where, f"missing '{key}' (every number states where it comes from)")
    if entry["kind"] not in KINDS:
        raise ProfileError(path, where, f"kind {entry['kind']!r} is not one of {', '.join(KINDS)}")
    rng = entry.get("range")
    if rng is not None and not (
        isinstance(rng, list)
        and len(rng) == 2
        and all(isinstance(x, (int, float)) and x > 0 for x in rng)
        and rng[0] <= 1 <= rng[1]
    ):
        raise ProfileError(path, where, f"range must be [low <= 1, high >= 1] factors, got {rng!r}")
    value = entry["value"]
    optional = "None" in str(typ)
    if value is None:
        if optional:
            return None
        raise ProfileError(path, where, "value is required")
    base = str(typ).replace(" | None", "")
    try:
        if base == "bool":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if base == "int":
            if isinstance(value, bool) or float(value) != int(value):
                raise ValueError
            value = int(value)
        else:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
    except (TypeError, ValueError):
        raise ProfileError(path, where, f"expected a number of type {base}, got {value!r}") from None
    if value < 0 or (base == "int" and value == 0 and name not in ("chips_available",)):
        raise ProfileError(path, where, f"must be positive, got {value}")
    return value


def load_profile(name_or_path: str | Path = "loihi2") -> HardwareProfile:
    """Load and validate a profile by name or path; the offending field is named on error."""
    import yaml

    path = _resolve(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(path, "<yaml>", f"not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ProfileError(path, "<root>", "expected a mapping")
    if data.get("schema") != SCHEMA:
        raise ProfileError(path, "schema", f"expected {SCHEMA!r}, got {data.get('schema')!r}")
    prov: dict[str, dict[str, Any]] = {}
    parts: dict[str, Any] = {}
    for section, cls in (("limits", Limits), ("costs", Costs)):
        sec = data.get(section)
        if not isinstance(sec, dict):
            raise ProfileError(path, section, "missing section")
        vals = {}
        for f in fields(cls):
            if f.name not in sec:
                raise ProfileError(path, f"{section}.{f.name}", "missing")
            vals[f.name] = _coerce(path, section, f.name, f.type, sec[f.name])
            prov[f.name] = dict(sec[f.name])
        unknown = set(sec) - {f.name for f in fields(cls)}
        if unknown:
            raise ProfileError(path, f"{section}.{sorted(unknown)[0]}", "unknown field")
        parts[section] = cls(**vals)
    return HardwareProfile(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        path=str(path),
        limits=parts["limits"],
        costs=parts["costs"],
        provenance=prov,
    )
