"""Export trained models to a target, by name: ``loihi2-sim`` writes lava-dl netx HDF5.

The netx writer is lava-dl's own (``block.export_hdf5``): SLAYER already trains with
the quantizers Loihi uses (weights as even integers in [-256, 254] = 8-bit mantissa,
decays as 12-bit integers, thresholds as ``vThMant = threshold * 64``). On top of it
this module

* adds a ``neuro_deploy`` group (schema version, input layout, and the training binning:
  ``dt_us``, ``num_steps``, ``time_origin``, see :mod:`neuro_deploy.netx.meta`);
* reports the quantization error of every layer (float weight x 64 vs stored integer);
* enforces the hard limits of the hardware profile (weight range, 12-bit decays,
  17-bit threshold mantissa, delays <= 62) with :class:`ResourceLimitError`;
* verifies the written file: reads it back with the netx reader, runs the fixed-point
  model (fast backend) and the float SLAYER model on the same inputs and reports their
  agreement (output spike counts and predicted class);
* writes atomically: a failed export leaves no file behind.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.errors import ResourceLimitError, UnknownNameError

NETX_SCHEMA = "neuro-deploy-netx/1"
W_SCALE = 64          # SLAYER CUBA weight scale: netx integer = float weight * 64


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
    if q.i_decay > 4096 or q.v_decay > 4096 or min(q.i_decay, q.v_decay) < 0:
        raise ResourceLimitError(name, "decay (12-bit, 0..4096)", max(q.i_decay, q.v_decay), 4096)
    vmax = int(limits.get("threshold_mant_max", 2 ** 17 - 1))
    if q.vth_mant > vmax:
        raise ResourceLimitError(name, "threshold mantissa (17-bit)", q.vth_mant, vmax)
    dmax = int(limits.get("max_delay", 62))
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
            clipped_fraction=float(np.mean((w_float < -256) | (w_float > 254))),
            zero_fraction=float(np.mean(layer.weight == 0)),
            i_decay=nr.du + 1, v_decay=nr.dv, vth_mant=nr.vth,
            delay_max=int(layer.delay.max()) if layer.delay is not None else 0))
    return out


def verify_agreement(model, net_path: str | Path, inputs: np.ndarray) -> Agreement:
    """Run float SLAYER and fixed-point netx (fast backend) on (N, C, H, W, T) spikes.

    The netx network sees each sample padded with ``len(layers)`` empty steps so the
    last input reaches the output (one step per layer, like SLAYER's delay shift).
    """
    import torch

    from neuro_deploy.netx.spec import load_netx
    from neuro_deploy.sim import RunSpec, get_backend

    net = load_netx(net_path)
    n, steps = len(inputs), inputs.shape[-1]
    with torch.no_grad():
        fl = model(torch.from_numpy(inputs).float()).numpy()
    float_counts = fl.reshape(n, -1, steps).sum(-1)
    x = encode_for_net(net, inputs)
    res = get_backend("fast").run(net, RunSpec(steps=steps + len(net), inputs=x, probe="output"))
    out = res.spikes[net.layers[-1].name]
    fixed_counts = out.reshape(n, -1, out.shape[-1]).sum(-1)
    fp, xp = float_counts.argmax(-1), fixed_counts.argmax(-1)
    return Agreement(samples=n, steps=steps, class_agreement=float(np.mean(fp == xp)),
                     output_count_exact=float(np.mean((float_counts == fixed_counts).all(-1))),
                     output_count_mae=float(np.mean(np.abs(float_counts - fixed_counts))),
                     float_predictions=fp.tolist(), fixed_predictions=xp.tolist())


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
                      seed: int = 0, **_: Any) -> ExportReport:
    """Checkpoint -> netx HDF5 for Lava's Loihi 2 simulator (see module docstring)."""
    import h5py

    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.netx.meta import binning_meta

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
            g.attrs["num_classes"] = cfg.num_classes
            g.attrs["source"] = str(checkpoint)
        model2, _, _ = load_checkpoint(checkpoint)      # export disabled weight-norm on `model`
        layers = quantization_report(model2, tmp)
        for q in layers:
            _check_limits(q.name, q, limits)
        if verify_inputs is None:
            rng = np.random.default_rng(seed)
            verify_inputs = (rng.random((verify_samples,) + tuple(cfg.input_shape) + (cfg.num_steps,))
                             < 0.05).astype(np.uint8)
        agreement = verify_agreement(model2, tmp, verify_inputs) if len(verify_inputs) else None
        fit = None
        if profile is not None:
            from neuro_deploy.hardware.fit import fit_network
            from neuro_deploy.netx.spec import load_netx

            fit = fit_network(load_netx(tmp), profile, strict=True).to_dict()
    return ExportReport(str(out), "loihi2-sim", layers, agreement, fit)


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
