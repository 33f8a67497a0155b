"""Export trained models to a target, by name: ``loihi2-sim`` writes lava-dl netx HDF5.

The netx writer is lava-dl's own (``block.export_hdf5``). What it writes is set by the
per-layer scale ``2**e`` (:mod:`neuro_deploy.models.quantize`): weights become the integer
mantissas ``w * 2**e`` (even, in [-256, 254]), thresholds ``vThMant = threshold * 2**e``,
decays stay 12-bit integers. The scale is chosen by a *scaling* rule (:data:`SCALINGS`):

* ``auto`` (default): a QAT checkpoint keeps the exponents it was trained with (float and
  deployed then agree by construction); any other checkpoint gets ``range``;
* ``range``: per layer the largest exponent that keeps the model's effective weights inside
  the mantissa range, the threshold inside 17 bits and the calibrated state peaks (x2)
  inside Lava's 24-bit ``u``/``v`` (:func:`neuro_deploy.models.quantize.exponent_limits`;
  a checkpoint without stored peaks is calibrated on the verification inputs). The weights
  the model computes with are rounded at that scale, so a
  checkpoint
  whose forward pass already rounded at SLAYER's ``2**6`` keeps its behaviour while its
  weights span the range;
* ``slayer``: SLAYER's fixed ``2**6`` for every layer (the export before per-layer scaling).

On top of the writer this module

* adds a ``neuro_deploy`` group (schema version, input layout, exponents, the training
  binning: ``dt_us``, ``num_steps``, ``time_origin``, and the training split: ``split_*``,
  see :mod:`neuro_deploy.netx.meta`);
* reports per layer the weight range, exponent, mantissa bits used, distinct levels, the
  quantization error against the float model's weights, and the peak state on the
  verification inputs (bits of the 24 Lava keeps);
* enforces the hard limits of the hardware profile (weight range, 12-bit decays,
  17-bit threshold mantissa, delays <= 62) with :class:`ResourceLimitError`;
* writes atomically: a failed export leaves no file behind.

This module only writes (the netx layer). The export a user runs (:func:`neuro_deploy.api.export`,
``neuro-deploy export``) then verifies the written file - the float model (backend
``float``) and the written network (backend ``fast``) run the same inputs for the same
steps (:func:`neuro_deploy.sim.evaluate.verify_agreement`) - and fits it to a hardware
profile, before the file is moved into place; the NIR routes live in
:mod:`neuro_deploy.nir.export`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.errors import ResourceLimitError, UnknownNameError
from neuro_deploy.loihi_format import LOIHI2
from neuro_deploy.models.quantize import LAVA_STATE_SHIFT
from neuro_deploy.netx.spec import encode_for_net

__all__ = [
    "NETX_SCHEMA",
    "SCALINGS",
    "Agreement",
    "ExportReport",
    "LayerQuantization",
    "default_verify_inputs",
    "encode_for_net",
    "export_loihi2_sim",
    "quantization_report",
    "source_kind",
]

NETX_SCHEMA = "neuro-deploy-netx/1"


@dataclass
class LayerQuantization:
    name: str
    kind: str
    weight_int_min: int
    weight_int_max: int
    weight_rmse: float  #: RMS(w_float * 2**e - w_int), in integer units
    weight_rel_error: float  #: weight_rmse / RMS(w_float * 2**e)
    clipped_fraction: float  #: share of weights outside [-256, 254] before clipping
    zero_fraction: float  #: share of weights stored as 0 (not stored on chip)
    i_decay: int
    v_decay: int
    vth_mant: int
    delay_max: int = 0
    weight_exponent: int | None = None  #: scale 2**e between float weight and integer
    exponent_limited_by: str = ""  #: range | threshold | float32 | state | trained (QAT) | slayer
    weight_bits_used: int | None = None  #: signed bits of the 8-bit mantissa in use
    weight_levels: int | None = None  #: distinct stored values
    float_weight_min: float = float("nan")  #: the float model's weights (what it computes with)
    float_weight_max: float = float("nan")
    real_weight_rel_error: float = float("nan")  #: vs the real-valued (latent) weights
    state_peak_bits: int | None = None  #: bits of the largest |u| or |v| on the verification inputs (of 24)


@dataclass
class Agreement:
    samples: int
    steps: int
    class_agreement: float  #: share of samples with the same predicted class
    output_count_exact: float  #: share of samples with identical output spike counts
    output_count_mae: float  #: mean |count_float - count_fixed| per output neuron
    float_predictions: list[int] = field(default_factory=list)
    fixed_predictions: list[int] = field(default_factory=list)


@dataclass
class ExportReport:
    path: str
    target: str
    layers: list[LayerQuantization]
    agreement: Agreement | None
    fit: dict[str, Any] | None = None
    scaling: str = ""
    quantization: str = ""  #: the checkpoint's forward-pass mode (slayer, float, qat)
    check: Any = None  #: float vs deployed on recordings (export --check)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["check"] is None:
            del d["check"]
        return d


def _check_limits(name: str, q: LayerQuantization, limits: dict[str, float]) -> None:
    unity = int(limits.get("decay_max", LOIHI2.decay_unity))
    if q.i_decay > unity or q.v_decay > unity or min(q.i_decay, q.v_decay) < 0:
        raise ResourceLimitError(
            name, f"decay ({unity.bit_length() - 1}-bit, 0..{unity})", max(q.i_decay, q.v_decay), unity
        )
    vmax = int(limits.get("threshold_mant_max", LOIHI2.threshold_mant_max))
    if q.vth_mant > vmax:
        raise ResourceLimitError(name, "threshold mantissa (17-bit)", q.vth_mant, vmax)
    dmax = int(limits.get("max_delay", LOIHI2.max_delay))
    if q.delay_max > dmax:
        raise ResourceLimitError(name, "synaptic delay (steps)", q.delay_max, dmax)


def _scaling_auto(model: Any, spec: Any, calib: np.ndarray) -> tuple[list[int], list[str]]:
    mode, exps = model.quantization
    return (exps, ["trained"] * len(exps)) if mode == "qat" else _scaling_range(model, spec, calib)


def _scaling_range(model: Any, spec: Any, calib: np.ndarray) -> tuple[list[int], list[str]]:
    from neuro_deploy.models.quantize import exponent_limits
    from neuro_deploy.models.slayer_model import choose_exponents, measure_state_peaks

    weights = model.effective_weights()
    peaks = [float(p) for p in model.state_peaks]
    if not any(peaks) and len(calib):  # checkpoint without calibration: the verification inputs
        peaks = measure_state_peaks(model, calib)
    exps = choose_exponents(model, weights, spec, peaks)
    why = []
    for w, p, e in zip(weights, peaks, exps):
        lim = exponent_limits(w, model.config.threshold, spec, p or None)
        why.append(next((k for k, v in lim.items() if v == e), "minimum"))
    return exps, why


def _scaling_slayer(model: Any, spec: Any, calib: np.ndarray) -> tuple[list[int], list[str]]:
    from neuro_deploy.models.quantize import SLAYER_EXPONENT

    n = len(model.synaptic_blocks())
    return [SLAYER_EXPONENT] * n, ["slayer"] * n


#: Scaling rules by name: (model, QuantSpec, calibration spikes) -> (exponent per layer,
#: what limited each).
SCALINGS: dict[str, Callable[[Any, Any, np.ndarray], tuple[list[int], list[str]]]] = {
    "auto": _scaling_auto,
    "range": _scaling_range,
    "slayer": _scaling_slayer,
}


def quantization_report(
    model: Any,
    deployed: Any,
    h5_path: str | Path,
    exponents: list[int],
    limited_by: list[str],
    peaks: list[int] | None = None,
) -> list[LayerQuantization]:
    """Compare each layer's float weights (what ``model`` computes with) with the integers
    written to ``h5_path`` at scale ``2**e``; ``deployed`` is the model the file encodes."""
    from neuro_deploy.models.quantize import bits_used
    from neuro_deploy.netx.spec import load_netx

    spec = load_netx(h5_path)
    eff, real = model.effective_weights(), model.float_weights()
    out = []
    layers = [l for l in spec.layers if l.kind != "input"]
    for i, (layer, w_e, w_r, e) in enumerate(zip(layers, eff, real, exponents)):
        s = 2.0**e
        w_float = w_e.reshape(layer.weight.shape).astype(np.float64) * s
        err = w_float - layer.weight
        rms = float(np.sqrt(np.mean(w_float**2))) or 1.0
        err_r = w_r.reshape(layer.weight.shape).astype(np.float64) * s - layer.weight
        rms_r = float(np.sqrt(np.mean((w_r.astype(np.float64) * s) ** 2))) or 1.0
        nr = layer.neuron
        out.append(
            LayerQuantization(
                name=layer.name,
                kind=layer.kind,
                weight_int_min=int(layer.weight.min()),
                weight_int_max=int(layer.weight.max()),
                weight_rmse=float(np.sqrt(np.mean(err**2))),
                weight_rel_error=float(np.sqrt(np.mean(err**2)) / rms),
                clipped_fraction=float(
                    np.mean((w_float < LOIHI2.weight_mant_min) | (w_float > LOIHI2.weight_mant_max))
                ),
                zero_fraction=float(np.mean(layer.weight == 0)),
                i_decay=nr.du + 1,
                v_decay=nr.dv,
                vth_mant=nr.vth,
                delay_max=int(layer.delay.max()) if layer.delay is not None else 0,
                weight_exponent=int(e),
                exponent_limited_by=limited_by[i],
                weight_bits_used=bits_used(layer.weight),
                weight_levels=int(np.unique(layer.weight).size),
                float_weight_min=float(w_e.min()),
                float_weight_max=float(w_e.max()),
                real_weight_rel_error=float(np.sqrt(np.mean(err_r**2)) / rms_r),
                state_peak_bits=(int(np.ceil(np.log2(peaks[i] + 1))) + 1 if peaks[i] else 0)
                if peaks is not None
                else None,
            )
        )
    return out


def default_verify_inputs(cfg: Any, samples: int = 8, seed: int = 0) -> np.ndarray:
    """Random 5 %-dense spikes shaped like the model's input, ``cfg.num_steps`` long: the
    verification (and calibration) inputs when none are given."""
    rng = np.random.default_rng(seed)
    return (rng.random((samples,) + tuple(cfg.input_shape) + (cfg.num_steps,)) < 0.05).astype(np.uint8)


def export_loihi2_sim(
    checkpoint: str | Path,
    out: str | Path,
    *,
    profile: Any = None,
    verify_inputs: np.ndarray | None = None,
    verify_samples: int = 8,
    seed: int = 0,
    scaling: str = "auto",
    **_: Any,
) -> ExportReport:
    """Checkpoint -> netx HDF5 for Lava's Loihi 2 simulator (see module docstring)."""
    import h5py

    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.netx.meta import binning_meta, split_meta
    from neuro_deploy.models.slayer_model import deployable

    if scaling not in SCALINGS:
        raise UnknownNameError("scaling", scaling, SCALINGS)
    model, cfg, meta = load_checkpoint(checkpoint)
    limits = getattr(profile, "export_limits", lambda: {})() if profile is not None else {}
    qspec = profile.quant_spec() if profile is not None else model.quant_spec
    if verify_inputs is None:
        verify_inputs = default_verify_inputs(cfg, verify_samples, seed)
    exps, why = SCALINGS[scaling](model, qspec, verify_inputs)
    deployed = deployable(model, exps)
    with atomic_path(out, ".net") as tmp:
        deployed.export_hdf5(tmp)  # lava-dl's writer, at the chosen scales
        with h5py.File(tmp, "a") as h5:
            g = h5.create_group("neuro_deploy")
            g.attrs["schema"] = NETX_SCHEMA
            g.attrs["input_shape_chw"] = np.asarray(cfg.input_shape)
            g.attrs["input_layout"] = "chw-flat" if not cfg.conv else "whc"
            for k, v in binning_meta(cfg.dt_us, cfg.num_steps, cfg.time_origin).items():
                g.attrs[k] = v
            for k, v in split_meta(meta).items():  # the training split, for scoring later
                g.attrs[k] = v
            g.attrs["num_classes"] = cfg.num_classes
            g.attrs["source"] = str(checkpoint)
            g.attrs["weight_exponents"] = np.asarray(exps, dtype=np.int64)
            g.attrs["scaling"] = scaling
            g.attrs["quantization"] = model.quantization[0]
        peaks = None
        if len(verify_inputs):
            from neuro_deploy.models.slayer_model import measure_state_peaks

            peaks = [
                int(round(p * 2.0 ** (e + LAVA_STATE_SHIFT)))
                for p, e in zip(measure_state_peaks(deployed, verify_inputs), exps)
            ]
        layers = quantization_report(model, deployed, tmp, exps, why, peaks)
        for q in layers:
            _check_limits(q.name, q, limits)
    return ExportReport(str(out), "loihi2-sim", layers, None, None, scaling, model.quantization[0])


def source_kind(model_path: str | Path) -> str:
    """What an export starts from: ``nir`` for ``.nir`` graphs, else ``checkpoint``."""
    return "nir" if Path(model_path).suffix.lower() == ".nir" else "checkpoint"
