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
  a checkpoint without stored peaks is calibrated on the verification inputs). The weights the model computes with are rounded at that scale, so a
  checkpoint
  whose forward pass already rounded at SLAYER's ``2**6`` keeps its behaviour while its
  weights span the range;
* ``slayer``: SLAYER's fixed ``2**6`` for every layer (the export before per-layer scaling).

On top of the writer this module

* adds a ``neuro_deploy`` group (schema version, input layout, exponents and the training
  binning: ``dt_us``, ``num_steps``, ``time_origin``, see :mod:`neuro_deploy.netx.meta`);
* reports per layer the weight range, exponent, mantissa bits used, distinct levels, the
  quantization error against the float model's weights, and the peak state on the
  verification inputs (bits of the 24 Lava keeps);
* enforces the hard limits of the hardware profile (weight range, 12-bit decays,
  17-bit threshold mantissa, delays <= 62) with :class:`ResourceLimitError`;
* verifies the written file: the float model (backend ``float``) and the written network
  (backend ``fast``) run the same inputs for the same steps; it reports their agreement
  (output spike counts and predicted class);
* writes atomically: a failed export leaves no file behind.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.errors import ResourceLimitError, UnknownNameError
from neuro_deploy.models.quantize import LAVA_STATE_SHIFT

NETX_SCHEMA = "neuro-deploy-netx/1"


@dataclass
class LayerQuantization:
    name: str
    kind: str
    weight_int_min: int
    weight_int_max: int
    weight_rmse: float            #: RMS(w_float * 2**e - w_int), in integer units
    weight_rel_error: float       #: weight_rmse / RMS(w_float * 2**e)
    clipped_fraction: float       #: share of weights outside [-256, 254] before clipping
    zero_fraction: float          #: share of weights stored as 0 (not stored on chip)
    i_decay: int
    v_decay: int
    vth_mant: int
    delay_max: int = 0
    weight_exponent: int | None = None     #: scale 2**e between float weight and integer
    exponent_limited_by: str = ""          #: range | threshold | float32 | state | trained (QAT) | slayer
    weight_bits_used: int | None = None    #: signed bits of the 8-bit mantissa in use
    weight_levels: int | None = None       #: distinct stored values
    float_weight_min: float = float("nan")  #: the float model's weights (what it computes with)
    float_weight_max: float = float("nan")
    real_weight_rel_error: float = float("nan")  #: vs the real-valued (latent) weights
    state_peak_bits: int | None = None     #: bits of the largest |u| or |v| on the verification inputs (of 24)


@dataclass
class Agreement:
    samples: int
    steps: int
    class_agreement: float                     #: share of samples with the same predicted class
    output_count_exact: float                  #: share of samples with identical output spike counts
    output_count_mae: float                    #: mean |count_float - count_fixed| per output neuron
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
    quantization: str = ""                     #: the checkpoint's forward-pass mode (slayer, float, qat)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_limits(name: str, q: LayerQuantization, limits: dict[str, float]) -> None:
    if q.i_decay > 4096 or q.v_decay > 4096 or min(q.i_decay, q.v_decay) < 0:
        raise ResourceLimitError(name, "decay (12-bit, 0..4096)", max(q.i_decay, q.v_decay), 4096)
    vmax = int(limits.get("threshold_mant_max", 2 ** 17 - 1))
    if q.vth_mant > vmax:
        raise ResourceLimitError(name, "threshold mantissa (17-bit)", q.vth_mant, vmax)
    dmax = int(limits.get("max_delay", 62))
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
    if not any(peaks) and len(calib):       # checkpoint without calibration: the verification inputs
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
    "auto": _scaling_auto, "range": _scaling_range, "slayer": _scaling_slayer}


def quantization_report(model: Any, deployed: Any, h5_path: str | Path, exponents: list[int],
                        limited_by: list[str], peaks: list[int] | None = None) -> list[LayerQuantization]:
    """Compare each layer's float weights (what ``model`` computes with) with the integers
    written to ``h5_path`` at scale ``2**e``; ``deployed`` is the model the file encodes."""
    from neuro_deploy.models.quantize import bits_used
    from neuro_deploy.netx.spec import load_netx

    spec = load_netx(h5_path)
    eff, real = model.effective_weights(), model.float_weights()
    out = []
    layers = [l for l in spec.layers if l.kind != "input"]
    for i, (layer, w_e, w_r, e) in enumerate(zip(layers, eff, real, exponents)):
        s = 2.0 ** e
        w_float = w_e.reshape(layer.weight.shape).astype(np.float64) * s
        err = w_float - layer.weight
        rms = float(np.sqrt(np.mean(w_float ** 2))) or 1.0
        err_r = w_r.reshape(layer.weight.shape).astype(np.float64) * s - layer.weight
        rms_r = float(np.sqrt(np.mean((w_r.astype(np.float64) * s) ** 2))) or 1.0
        nr = layer.neuron
        out.append(LayerQuantization(
            name=layer.name, kind=layer.kind,
            weight_int_min=int(layer.weight.min()), weight_int_max=int(layer.weight.max()),
            weight_rmse=float(np.sqrt(np.mean(err ** 2))), weight_rel_error=float(np.sqrt(np.mean(err ** 2)) / rms),
            clipped_fraction=float(np.mean((w_float < -256) | (w_float > 254))),
            zero_fraction=float(np.mean(layer.weight == 0)),
            i_decay=nr.du + 1, v_decay=nr.dv, vth_mant=nr.vth,
            delay_max=int(layer.delay.max()) if layer.delay is not None else 0,
            weight_exponent=int(e), exponent_limited_by=limited_by[i],
            weight_bits_used=bits_used(layer.weight), weight_levels=int(np.unique(layer.weight).size),
            float_weight_min=float(w_e.min()), float_weight_max=float(w_e.max()),
            real_weight_rel_error=float(np.sqrt(np.mean(err_r ** 2)) / rms_r),
            state_peak_bits=(int(np.ceil(np.log2(peaks[i] + 1))) + 1 if peaks[i] else 0)
            if peaks is not None else None))
    return out


def verify_agreement(model: Any, net_path: str | Path, inputs: np.ndarray) -> Agreement:
    """The float model (backend ``float``) and the netx network (backend ``fast``) on the
    same (N, C, H, W, T) spikes, each padded with one empty step per layer
    (:func:`neuro_deploy.sim.evaluate.evaluate_deployed`, one function for both)."""
    from neuro_deploy.netx.spec import load_netx
    from neuro_deploy.sim.evaluate import evaluate_deployed
    from neuro_deploy.sim.float_model import float_net

    fl = evaluate_deployed(float_net(model), inputs, None, backend="float")
    fx = evaluate_deployed(load_netx(net_path), inputs, None, backend="fast")
    fc, xc = fl.output_counts, fx.output_counts
    return Agreement(samples=len(inputs), steps=int(inputs.shape[-1]),
                     class_agreement=float(np.mean(fl.predictions == fx.predictions)),
                     output_count_exact=float(np.mean((fc == xc).all(-1))),
                     output_count_mae=float(np.mean(np.abs(fc - xc))),
                     float_predictions=fl.predictions.tolist(), fixed_predictions=fx.predictions.tolist())


def encode_for_net(net, tensors: np.ndarray) -> np.ndarray:
    """(N, C, H, W, T) spike tensors -> what ``net.inp`` takes per sample, batched:
    flattened C-order (N, C*H*W, T) for a dense first layer, (N, W, H, C, T) otherwise."""
    from neuro_deploy.errors import ShapeError

    first = net.layers[0]
    want = first.lava_in_shape if first.kind != "input" else first.lava_shape
    n, t = tensors.shape[0], tensors.shape[-1]
    if len(want) == 1:
        flat = tensors.reshape(n, -1, t)
        if flat.shape[1] != want[0]:
            raise ShapeError("network input", want, tensors.shape[1:-1])
        return flat
    x = np.transpose(tensors, (0, 3, 2, 1, 4))
    if tuple(x.shape[1:-1]) != tuple(want):
        raise ShapeError("network input (W,H,C)", want, x.shape[1:-1])
    return x


def export_loihi2_sim(checkpoint: str | Path, out: str | Path, *, profile: Any = None,
                      verify_inputs: np.ndarray | None = None, verify_samples: int = 8,
                      seed: int = 0, scaling: str = "auto", **_: Any) -> ExportReport:
    """Checkpoint -> netx HDF5 for Lava's Loihi 2 simulator (see module docstring)."""
    import h5py

    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.netx.meta import binning_meta
    from neuro_deploy.models.slayer_model import deployable

    if scaling not in SCALINGS:
        raise UnknownNameError("scaling", scaling, SCALINGS)
    model, cfg, meta = load_checkpoint(checkpoint)
    limits = getattr(profile, "export_limits", lambda: {})() if profile is not None else {}
    qspec = profile.quant_spec() if profile is not None else model.quant_spec
    if verify_inputs is None:
        rng = np.random.default_rng(seed)
        verify_inputs = (rng.random((verify_samples,) + tuple(cfg.input_shape) + (cfg.num_steps,))
                         < 0.05).astype(np.uint8)
    exps, why = SCALINGS[scaling](model, qspec, verify_inputs)
    deployed = deployable(model, exps)
    with atomic_path(out, ".net") as tmp:
        deployed.export_hdf5(tmp)                     # lava-dl's writer, at the chosen scales
        with h5py.File(tmp, "a") as h5:
            g = h5.create_group("neuro_deploy")
            g.attrs["schema"] = NETX_SCHEMA
            g.attrs["input_shape_chw"] = np.asarray(cfg.input_shape)
            g.attrs["input_layout"] = "chw-flat" if not cfg.conv else "whc"
            for k, v in binning_meta(cfg.dt_us, cfg.num_steps, cfg.time_origin).items():
                g.attrs[k] = v
            g.attrs["num_classes"] = cfg.num_classes
            g.attrs["source"] = str(checkpoint)
            g.attrs["weight_exponents"] = np.asarray(exps, dtype=np.int64)
            g.attrs["scaling"] = scaling
            g.attrs["quantization"] = model.quantization[0]
        peaks = None
        if len(verify_inputs):
            from neuro_deploy.models.slayer_model import measure_state_peaks

            peaks = [int(round(p * 2.0 ** (e + LAVA_STATE_SHIFT)))
                     for p, e in zip(measure_state_peaks(deployed, verify_inputs), exps)]
        layers = quantization_report(model, deployed, tmp, exps, why, peaks)
        for q in layers:
            _check_limits(q.name, q, limits)
        agreement = verify_agreement(model, tmp, verify_inputs) if len(verify_inputs) else None
        fit = None
        if profile is not None:
            from neuro_deploy.hardware.fit import fit_network
            from neuro_deploy.netx.spec import load_netx

            fit = fit_network(load_netx(tmp), profile, strict=True).to_dict()
    return ExportReport(str(out), "loihi2-sim", layers, agreement, fit, scaling, model.quantization[0])


def export_nir_to_loihi2_sim(model: str | Path, out: str | Path, *, profile: Any = None,
                             dt: float | None = None, verify_samples: int = 8, seed: int = 0,
                             verify_inputs: np.ndarray | None = None, **_: Any) -> ExportReport:
    """NIR graph -> netx (:mod:`neuro_deploy.nir.importer`), then the fidelity check.

    ``dt`` (seconds per Loihi step) defaults to the graph's own ``dt`` metadata (written by
    ``export --target nir``), else 1 ms with a warning: NIR is continuous-time, the step
    sets every decay."""
    from neuro_deploy.nir import NirImportConfig, nir_to_netx
    from neuro_deploy.nir.fidelity import fidelity
    from neuro_deploy.nir.importer import load_graph

    graph = load_graph(model)
    stored_dt = (getattr(graph, "metadata", None) or {}).get("dt")
    dt_warning = None
    if dt is None:
        dt = float(stored_dt) if stored_dt else 1e-3
        if not stored_dt:
            dt_warning = f"{model}: the NIR graph does not say its time step; converted at dt = 1 ms (pass --dt)"
    with atomic_path(out, ".net") as tmp:
        conv = nir_to_netx(graph, tmp, NirImportConfig(dt=dt))
        if verify_inputs is None:
            rng = np.random.default_rng(seed)
            verify_inputs = (rng.random((verify_samples,) + tuple(conv.input_shape) + (100,)) < 0.1
                             ).astype(np.int32)
        fid = fidelity(graph, str(tmp), verify_inputs, dt) if len(verify_inputs) else None
        fit = None
        if profile is not None:
            from neuro_deploy.hardware.fit import fit_network
            from neuro_deploy.netx.spec import load_netx

            fit = fit_network(load_netx(tmp), profile, strict=True).to_dict()
    if dt_warning:
        conv.warnings.append(dt_warning)
    layers = [LayerQuantization(name=m.name, kind=m.kind, weight_int_min=m.weight_int_range[0],
                                weight_int_max=m.weight_int_range[1], weight_rmse=m.weight_rmse,
                                weight_rel_error=m.weight_rel_error, clipped_fraction=0.0,
                                zero_fraction=m.zero_fraction,
                                i_decay=m.i_decay, v_decay=m.v_decay, vth_mant=m.vth_mant) for m in conv.layers]
    agreement = None
    if fid is not None:
        agreement = Agreement(samples=fid.samples, steps=fid.steps, class_agreement=fid.class_agreement,
                              output_count_exact=fid.output_count_exact, output_count_mae=fid.output_count_mae,
                              float_predictions=fid.float_predictions, fixed_predictions=fid.fixed_predictions)
    rep = ExportReport(str(out), "loihi2-sim", layers, agreement, fit)
    rep.nir = {"conversion": conv.to_dict(), "fidelity": fid.to_dict() if fid else None}  # type: ignore[attr-defined]
    return rep


def export_checkpoint_to_nir(model: str | Path, out: str | Path, *, dt: float | None = None,
                             **_: Any) -> ExportReport:
    """SLAYER checkpoint -> NIR file (:func:`neuro_deploy.nir.io.slayer_to_nir`), at the
    checkpoint's own time step."""
    from neuro_deploy.nir.io import slayer_to_nir, write_nir

    graph = slayer_to_nir(model, dt)
    write_nir(graph, out)
    return ExportReport(str(out), "nir", [], None, None)


#: Export routes by (target, source kind); source kind is "nir" for ``.nir`` files.
TARGETS: dict[str, dict[str, Callable[..., ExportReport]]] = {
    "loihi2-sim": {"checkpoint": export_loihi2_sim, "nir": export_nir_to_loihi2_sim},
    "nir": {"checkpoint": export_checkpoint_to_nir},
}


def source_kind(model_path: str | Path) -> str:
    return "nir" if Path(model_path).suffix.lower() == ".nir" else "checkpoint"


def export_model(model_path: str | Path, out: str | Path, target: str = "loihi2-sim",
                 **kwargs: Any) -> ExportReport:
    if target not in TARGETS:
        raise UnknownNameError("target", target, TARGETS)
    kind = source_kind(model_path)
    if kind not in TARGETS[target]:
        raise UnknownNameError(f"source for target {target}", kind, TARGETS[target])
    return TARGETS[target][kind](model_path, out, **kwargs)
