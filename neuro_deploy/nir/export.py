"""The export routes that involve NIR: a NIR graph -> netx (with the fidelity check), and a
SLAYER checkpoint -> NIR. They write; the export a user runs (:func:`neuro_deploy.api.export`)
picks the route by target and source kind and fits the result to a hardware profile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy._io import atomic_path
from neuro_deploy.netx.export import Agreement, ExportReport, LayerQuantization


def export_nir_to_loihi2_sim(
    model: str | Path,
    out: str | Path,
    *,
    dt: float | None = None,
    verify_samples: int = 8,
    seed: int = 0,
    verify_inputs: np.ndarray | None = None,
    **_: Any,
) -> ExportReport:
    """NIR graph -> netx (:mod:`neuro_deploy.nir.importer`), then the fidelity check.

    ``dt`` (seconds per Loihi step) defaults to the graph's own ``dt`` metadata (written by
    ``export --target nir``), else 1 ms with a warning: NIR is continuous-time, the step
    sets every decay."""
    from neuro_deploy.nir.fidelity import fidelity
    from neuro_deploy.nir.importer import NirImportConfig, load_graph, nir_to_netx

    graph = load_graph(model)
    stored_dt = (getattr(graph, "metadata", None) or {}).get("dt")
    dt_warning = None
    if dt is None:
        dt = float(stored_dt) if stored_dt else 1e-3
        if not stored_dt:
            dt_warning = f"{model}: the NIR graph does not say its time step; converted at dt = 1 ms (pass --dt)"
    with atomic_path(out, ".net") as tmp:
        conv = nir_to_netx(graph, tmp, NirImportConfig(dt=dt))
        conv.path = str(out)
        if verify_inputs is None:
            rng = np.random.default_rng(seed)
            verify_inputs = (rng.random((verify_samples,) + tuple(conv.input_shape) + (100,)) < 0.1).astype(np.int32)
        fid = fidelity(graph, str(tmp), verify_inputs, dt) if len(verify_inputs) else None
    if dt_warning:
        conv.warnings.append(dt_warning)
    layers = [
        LayerQuantization(
            name=m.name,
            kind=m.kind,
            weight_int_min=m.weight_int_range[0],
            weight_int_max=m.weight_int_range[1],
            weight_rmse=m.weight_rmse,
            weight_rel_error=m.weight_rel_error,
            clipped_fraction=0.0,
            zero_fraction=m.zero_fraction,
            i_decay=m.i_decay,
            v_decay=m.v_decay,
            vth_mant=m.vth_mant,
        )
        for m in conv.layers
    ]
    agreement = None
    if fid is not None:
        agreement = Agreement(
            samples=fid.samples,
            steps=fid.steps,
            class_agreement=fid.class_agreement,
            output_count_exact=fid.output_count_exact,
            output_count_mae=fid.output_count_mae,
            float_predictions=fid.float_predictions,
            fixed_predictions=fid.fixed_predictions,
        )
    rep = ExportReport(str(out), "loihi2-sim", layers, agreement, None)
    rep.nir = {"conversion": conv.to_dict(), "fidelity": fid.to_dict() if fid else None}  # type: ignore[attr-defined]
    return rep


def export_checkpoint_to_nir(model: str | Path, out: str | Path, *, dt: float | None = None, **_: Any) -> ExportReport:
    """SLAYER checkpoint -> NIR file (:func:`neuro_deploy.nir.io.slayer_to_nir`), at the
    checkpoint's own time step."""
    from neuro_deploy.nir.io import slayer_to_nir, write_nir

    graph = slayer_to_nir(model, dt)
    write_nir(graph, out)
    return ExportReport(str(out), "nir", [], None, None)
