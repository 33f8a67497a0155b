"""Reports of one or several networks side by side: what ``neuro-deploy report`` writes and
``neuro_deploy.report(...)`` returns, renderable as JSON, Markdown or HTML."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from neuro_deploy.errors import UnknownNameError
from neuro_deploy.report.build import ModelReport, Workload, build_report


def plain(obj: Any) -> Any:
    """JSON-ready copy: dataclasses as dicts, numpy scalars and arrays as Python, NaN as None."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return plain(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


@dataclass
class Report:
    """The reports of one or more models and the first sample's spike raster of each."""

    reports: list[dict[str, Any]]
    rasters: list[dict[str, np.ndarray]] = field(default_factory=list, repr=False)
    models: list[ModelReport] = field(default_factory=list, repr=False)

    @property
    def warnings(self) -> list[str]:
        """What the workload warned about (the first model's inputs; skipped recordings)."""
        if not self.models:
            return []
        m = self.models[0]
        return list(m.input_warnings) + [f"skipped {k['file']}: {k['reason']}" for k in m.skipped]

    def json(self) -> str:
        from neuro_deploy.report.render import to_json

        return to_json(self.reports)

    def markdown(self) -> str:
        from neuro_deploy.report.render import to_markdown

        return to_markdown(self.reports)

    def html(self) -> str:
        from neuro_deploy.report.render import to_html

        return to_html(self.reports, self.rasters)

    def render(self, fmt: str = "json") -> str:
        """The report as ``json``, ``md`` or ``html`` text."""
        renderers = {"json": self.json, "md": self.markdown, "html": self.html}
        if fmt not in renderers:
            raise UnknownNameError("report format", fmt, renderers)
        return renderers[fmt]()

    def save(self, path: str | os.PathLike[str], fmt: str | None = None) -> str:
        """Write the report atomically; the format from ``fmt`` or the suffix (.json, .md, .html)."""
        from neuro_deploy._io import write_text_atomic

        fmt = fmt or {".md": "md", ".html": "html", ".htm": "html"}.get(Path(path).suffix.lower(), "json")
        write_text_atomic(path, self.render(fmt))
        return os.fspath(path)

    def _repr_markdown_(self) -> str:
        return self.markdown()


def report(
    nets: Any,
    workload: Workload | None = None,
    *,
    dataset: str | None = None,
    root: str | os.PathLike[str] | None = None,
    limit: int = 200,
    backend: str = "fast",
    profile: Any = "loihi2",
    skip_input: bool = False,
    **workload_options: Any,
) -> Report:
    """Accuracy, latency and energy per inference of one network (a netx path or
    :class:`~neuro_deploy.netx.spec.NetSpec`) or several side by side.

    The workload is ``workload`` (a :class:`~neuro_deploy.report.build.Workload`), or one
    built from ``dataset`` (scored on each network's recorded validation split), or from
    ``workload_options`` (``recordings``, ``labels``, ``dt_us``, ``inputs``, ``steps`` ...).
    ``profile``: a hardware profile name, YAML path or object, loaded before any work."""
    from neuro_deploy.hardware.profile import HardwareProfile, load_profile
    from neuro_deploy.netx.spec import load_netx

    many: Sequence[Any] = nets if isinstance(nets, (list, tuple)) else [nets]
    w = workload or Workload(
        dataset=dataset, root=os.fspath(root) if root else None, limit=limit, backend=backend, **workload_options
    )
    prof = profile if isinstance(profile, HardwareProfile) else load_profile(profile)
    specs = [n if hasattr(n, "layers") else load_netx(n) for n in many]  # every file checked first
    out = Report([])
    for spec in specs:
        rep, wr = build_report(spec, w, prof, skip_input=skip_input)
        out.models.append(rep)
        out.reports.append(plain(rep.to_dict()))
        out.rasters.append(wr.raster)
    return out
