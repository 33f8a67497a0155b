"""Export trained models to a target, by name: ``loihi2-sim`` writes lava-dl netx HDF5.

The netx writer is lava-dl's own (``block.export_hdf5``): SLAYER already trains with
the quantizers Loihi uses (weights as even integers in [-256, 254] = 8-bit mantissa,
decays as 12-bit integers, thresholds as ``vThMant = threshold * 64``). On top of it
this module

* adds a ``neuro_deploy`` group (schema version, input layout, the training binning:
  ``dt_us``, ``num_steps``, ``time_origin``, and the training split: ``split_*``, see
  :mod:`neuro_deploy.netx.meta`);
* reports the quantization error of every layer (float weight x 64 vs stored integer);
* enforces the hard limits of the hardware profile (weight range, 12-bit decays,
  17-bit threshold mantissa, delays <= 62) with :class:`ResourceLimitError`;
* writes atomically: a failed export leaves no file behind.

This module only writes (the netx layer). The export a user runs (:func:`neuro_deploy.api.export`,
``neuro-deploy export``) then verifies the written file - the float model and the
fixed-point network on the same inputs
(:func:`neuro_deploy.sim.evaluate.verify_agreement`) - and fits it to a hardware profile,
before the file is moved into place; NIR routes live in :mod:`neuro_deploy.nir.export`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.errors import ResourceLimitError
from neuro_deploy.loihi_format import LOIHI2
from neuro_deploy.netx.spec import encode_for_net

__all__ = ["NETX_SCHEMA", "W_SCALE", "Agreement", "ExportReport", "LayerQuantization", "default_verify_inputs",
           "encode_for_net", "export_loihi2_sim", "quantization_report", "source_kind"]

NETX_SCHEMA = "neuro-deploy-netx/1"
W_SCALE = LOIHI2.slayer_weight_scale   # SLAYER CUBA weight scale: netx integer = float weight * 64


@dataclass
class LayerQuantization:
    name: str
    kind: str
    weight_int_min: int
    weight_int_max: int
    weight_rmse: float            #: RMS(|w_float*64 - w_int|), in integer units
    weight_rel_error: float       #: weight_rmse / RMS(w_float*64)
    clipped_fraction: float       #: share of weights outside [-256, 254] before clipping
    zero_fraction: float          #: share of weights stored as 0 (not stored on chip)
    i_decay: int
    v_decay: int
    vth_mant: int
    delay_max: int = 0


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_limits(name: str, q: LayerQuantization, limits: dict[str, float]) -> None:
    unity = int(limits.get("decay_max", LOIHI2.decay_unity))
    if q.i_decay > unity or q.v_decay > unity or min(q.i_decay, q.v_decay) < 0:
        raise ResourceLimitError(name, f"decay ({unity.bit_length() - 1}-bit, 0..{unity})", max(q.i_decay, q.v_decay), unity)
    vmax = int(limits.get("threshold_mant_max", LOIHI2.threshold_mant_max))
    if q.vth_mant > vmax:
        raise ResourceLimitError(name, "threshold mantissa (17-bit)", q.vth_mant, vmax)
    dmax = int(limits.get("max_delay", LOIHI2.max_delay))
    if q.delay_max > dmax:
        raise ResourceLimitError(name, "synaptic delay (steps)", q.delay_max, dmax)


def quantization_report(model, h5_path: str | Path) -> list[LayerQuantization]:
    """Compare each block's float weights with the integers written to ``h5_path``."""
    from neuro_deploy.netx.spec import load_netx

    import torch

    spec = load_netx(h5_path)
    cfg = getattr(model, "config", None)
    with torch.no_grad():      # refresh weight-normed weights (computed in a forward pre-hook)
        model(torch.zeros((1,) + tuple(cfg.input_shape) + (2,)))
    blocks = [b for b in model.blocks if hasattr(b, "synapse") and b.synapse is not None]
    out = []
    for layer, block in zip([l for l in spec.layers if l.kind != "input"], blocks):
        w_float = block.synapse.weight.detach().cpu().numpy().reshape(layer.weight.shape) * W_SCALE
        err = w_float - layer.weight
        rms = float(np.sqrt(np.mean(w_float ** 2))) or 1.0
        nr = layer.neuron
        out.append(LayerQuantization(
            name=layer.name, kind=layer.kind,
            weight_int_min=int(layer.weight.min()), weight_int_max=int(layer.weight.max()),
            weight_rmse=float(np.sqrt(np.mean(err ** 2))), weight_rel_error=float(np.sqrt(np.mean(err ** 2)) / rms),
            clipped_fraction=float(np.mean((w_float < LOIHI2.weight_mant_min) | (w_float > LOIHI2.weight_mant_max))),
            zero_fraction=float(np.mean(layer.weight == 0)),
            i_decay=nr.du + 1, v_decay=nr.dv, vth_mant=nr.vth,
            delay_max=int(layer.delay.max()) if layer.delay is not None else 0))
    return out


def default_verify_inputs(cfg: Any, samples: int = 8, seed: int = 0) -> np.ndarray:
    """Random 5 %-dense spikes shaped like the model's input, ``cfg.num_steps`` long: the
    verification inputs when none are given."""
    rng = np.random.default_rng(seed)
    return (rng.random((samples,) + tuple(cfg.input_shape) + (cfg.num_steps,)) < 0.05).astype(np.uint8)


def export_loihi2_sim(checkpoint: str | Path, out: str | Path, *, profile: Any = None,
                      verify_inputs: np.ndarray | None = None, verify_samples: int = 8,
                      seed: int = 0, **_: Any) -> ExportReport:
    """Checkpoint -> netx HDF5 for Lava's Loihi 2 simulator (see module docstring)."""
    import h5py

    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.netx.meta import binning_meta, split_meta

    model, cfg, meta = load_checkpoint(checkpoint)
    limits = getattr(profile, "export_limits", lambda: {})() if profile is not None else {}
    with atomic_path(out, ".net") as tmp:
        model.export_hdf5(tmp)
        with h5py.File(tmp, "a") as h5:
            g = h5.create_group("neuro_deploy")
            g.attrs["schema"] = NETX_SCHEMA
            g.attrs["input_shape_chw"] = np.asarray(cfg.input_shape)
            g.attrs["input_layout"] = "chw-flat" if not cfg.conv else "whc"
            for k, v in binning_meta(cfg.dt_us, cfg.num_steps, cfg.time_origin).items():
                g.attrs[k] = v
            for k, v in split_meta(meta).items():          # the training split, for scoring later
                g.attrs[k] = v
            g.attrs["num_classes"] = cfg.num_classes
            g.attrs["source"] = str(checkpoint)
        model2, _, _ = load_checkpoint(checkpoint)      # export disabled weight-norm on `model`
        layers = quantization_report(model2, tmp)
        for q in layers:
            _check_limits(q.name, q, limits)
    return ExportReport(str(out), "loihi2-sim", layers, None, None)


def source_kind(model_path: str | Path) -> str:
    """What an export starts from: ``nir`` for ``.nir`` graphs, else ``checkpoint``."""
    return "nir" if Path(model_path).suffix.lower() == ".nir" else "checkpoint"
