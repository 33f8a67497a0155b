"""Run a sweep: every cell a task of the execution layer, one table, resumable.

:func:`run_sweep` skips the cells whose parameters are already in ``OUT.json`` (a sweep
interrupted by Ctrl-C, a lost node or a crash picks up where it stopped), runs the others
as tasks (:mod:`neuro_deploy.cluster`: this process, ``--workers N`` local processes, or
Ray), and after **every** finished cell rewrites, atomically, in the order of the grid:

* ``OUT.json`` - schema ``neuro-deploy-sweep/1``: ``cells`` (label, params, row and, for
  deploy cells, the full report), ``missing`` (labels of the cells not finished yet) and
  ``complete``;
* ``OUT.csv`` - one line per finished cell: label, the cell's grid coordinates, its row;
* ``OUT.md`` - the table, then for deploy sweeps the comparison report of
  :func:`neuro_deploy.report.render.to_markdown`, for training sweeps mean ± std per
  method over the seeds.

So whatever stops the run, the files on disk are complete and readable, and hold every
finished cell. Each cell's result depends only on its parameters (``wall_s`` aside): the
same on every executor.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuro_deploy.cluster import Execution, TasksLostError, open_session
from neuro_deploy.errors import BadInputError
from neuro_deploy.sweep.config import SWEEP_SCHEMA, Cell, SweepConfig

DEPLOY_ROW = (
    "accuracy",
    "samples",
    "energy_per_inference_uj",
    "latency_us",
    "edp_uj_us",
    "synops",
    "spikes",
    "neuron_updates",
    "cores",
    "chips",
    "fits",
    "wall_s",
)


# --------------------------------------------------------------------------- cell kinds
def deploy_cell(payload: tuple) -> dict[str, Any]:
    """One deploy task: :func:`neuro_deploy.report.build_report` of a model on a workload."""
    from neuro_deploy._io import jsonable
    from neuro_deploy.report import Workload, build_report

    label, params, net = payload
    d = params["data"]
    opts = {
        k: v
        for k, v in (
            ("downsample", d.get("downsample")),
            ("fmt", d.get("event_format")),
            ("on_error", d.get("on_error")),
        )
        if v is not None
    }
    if d.get("sensor_size"):
        from neuro_deploy.events.types import SensorSize

        sz = SensorSize.parse(str(d["sensor_size"]))
        opts["sensor_size"] = (sz.width, sz.height)
    w = Workload(
        steps=d.get("steps"),
        dataset=d.get("dataset"),
        root=d.get("root"),
        limit=d.get("limit", 200),
        recordings=list(d.get("recordings", [])),
        labels=d.get("labels"),
        dt_us=d.get("dt_us"),
        backend=params["backend"],
        replay_options=opts,
        time_origin=d.get("time_origin"),
    )
    rep, _ = build_report(net.local(), w, params["profile"], skip_input=params["skip_input"])
    report = jsonable(rep.to_dict())
    report.update(network=params["model"], label=label)
    return {"row": {k: report[k] for k in DEPLOY_ROW}, "report": report}


def train_cell_task(payload: tuple) -> dict[str, Any]:
    """One training task (:func:`neuro_deploy.sweep.training.train_cell`)."""
    from neuro_deploy.sweep.training import train_cell

    _, params = payload
    return {"row": train_cell(params)}


def _deploy_payloads(cells: list[Cell], workdir: Path) -> list[tuple]:
    """Each model as tasks carry it (its netx file travels along); checkpoints are exported
    (loihi2-sim) once, here."""
    from neuro_deploy.api import export
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim.evaluate import TaskNet

    shipped: dict[str, TaskNet] = {}
    out = []
    for c in cells:
        m = c.params["model"]
        if m not in shipped:
            path = Path(m)
            if path.suffix == ".pt":
                net = workdir / f"{len(shipped)}-{path.stem}.net"
                export(path, net)
                path = net
            shipped[m] = TaskNet.of(load_netx(path))
        out.append((c.label, c.params, shipped[m]))
    return out


@dataclass(frozen=True)
class CellKind:
    task: Callable[[tuple], dict[str, Any]]
    payloads: Callable[[list[Cell], Path], list[tuple]]
    coordinates: Callable[[dict[str, Any]], dict[str, Any]]  #: grid position, for the CSV


def _deploy_coords(p: dict[str, Any]) -> dict[str, Any]:
    d = p["data"]
    return {
        "model": p["model"],
        "data": d.get("dataset") or ";".join(d["recordings"]),
        "profile": p["profile"],
        "backend": p["backend"],
    }


#: sweep kind -> how its cells run
CELL_KINDS: dict[str, CellKind] = {
    "deploy": CellKind(deploy_cell, _deploy_payloads, _deploy_coords),
    "train": CellKind(
        train_cell_task,
        lambda cells, _: [(c.label, c.params) for c in cells],
        lambda p: {"method": p["method"], "seed": p["seed"], "dataset": p["dataset"]},
    ),
}


# --------------------------------------------------------------------------- outputs
def output_paths(prefix: Path) -> dict[str, Path]:
    return {ext: Path(f"{prefix}.{ext}") for ext in ("json", "csv", "md")}


def cell_id(params: dict[str, Any]) -> str:
    """Canonical identity of a cell: its parameters as sorted JSON."""
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class SweepResult:
    schema: str
    kind: str
    source: str
    cells: list[dict[str, Any]]  #: finished cells, grid order
    missing: list[str] = field(default_factory=list)
    complete: bool = False
    skipped: int = 0  #: cells taken from an earlier run (resume)
    ran: int = 0
    wall_s: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "kind": self.kind,
            "source": self.source,
            "complete": self.complete,
            "missing": self.missing,
            "cells": self.cells,
        }


def read_previous(cfg: SweepConfig, path: Path) -> dict[str, dict[str, Any]]:
    """Finished cells of an earlier run of the same sweep in ``path`` (by cell id)."""
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: cannot resume from it ({exc}); move it away to start afresh") from None
    if not isinstance(doc, dict) or doc.get("schema") != SWEEP_SCHEMA or doc.get("kind") != cfg.kind:
        raise BadInputError(
            f"{path}: not the output of a {cfg.kind} sweep ({SWEEP_SCHEMA}); choose another output (-o)"
        )
    wanted = {cell_id(c.params) for c in cfg.cells}
    done = {cell_id(c["params"]): c for c in doc.get("cells", [])}
    foreign = [c["label"] for k, c in done.items() if k not in wanted]
    if foreign:
        raise BadInputError(
            f"{path}: holds cells that are not in {cfg.source} (e.g. {foreign[0]!r}); "
            "it belongs to another sweep: choose another output (-o) or move it away"
        )
    return done


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _md(cfg: SweepConfig, cells: list[dict[str, Any]], missing: list[str]) -> str:
    from neuro_deploy.report.render import to_markdown

    keys = list(cells[0]["row"]) if cells else []
    lines = [
        f"# Sweep `{cfg.source}` ({cfg.kind}, {len(cells)} of {len(cells) + len(missing)} cells)",
        "",
        "| cell | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    lines += ["| " + c["label"] + " | " + " | ".join(_fmt(c["row"][k]) for k in keys) + " |" for c in cells]
    if missing:
        lines += ["", "Not finished: " + ", ".join(f"`{m}`" for m in missing)]
    if cfg.kind == "deploy" and cells:
        lines += ["", to_markdown([c["report"] for c in cells])]
    if cfg.kind == "train" and cells:
        lines += [
            "",
            "## Mean ± std over seeds",
            "",
            "| method | seeds | " + " | ".join(keys) + " |",
            "|---|---|" + "---|" * len(keys),
        ]
        methods = list(dict.fromkeys(c["params"]["method"] for c in cells))
        for m in methods:
            rows = [c["row"] for c in cells if c["params"]["method"] == m]
            stats = [f"{np.mean([r[k] for r in rows]):.4g} ± {np.std([r[k] for r in rows]):.2g}" for k in keys]
            lines.append(f"| {m} | {len(rows)} | " + " | ".join(stats) + " |")
    return "\n".join(lines) + "\n"


def _csv(cfg: SweepConfig, cells: list[dict[str, Any]]) -> str:
    coords = CELL_KINDS[cfg.kind].coordinates
    rows = [{"cell": c["label"], **coords(c["params"]), **c["row"]} for c in cells]
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def write_outputs(cfg: SweepConfig, done: dict[str, dict[str, Any]], missing: list[str], complete: bool) -> SweepResult:
    """Write OUT.json / .csv / .md atomically from the finished cells, in grid order."""
    from neuro_deploy._io import write_text_atomic

    cells = [done[cell_id(c.params)] for c in cfg.cells if cell_id(c.params) in done]
    res = SweepResult(SWEEP_SCHEMA, cfg.kind, cfg.source, cells, missing, complete)
    paths = output_paths(cfg.output)
    write_text_atomic(paths["json"], json.dumps(res.to_dict(), indent=2))
    write_text_atomic(paths["csv"], _csv(cfg, cells))
    write_text_atomic(paths["md"], _md(cfg, cells, missing))
    res.files = {k: str(v) for k, v in paths.items()}
    return res


# --------------------------------------------------------------------------- run
def run_sweep(cfg: SweepConfig, execution: Execution | None = None, progress: bool = False) -> SweepResult:
    """Run the cells of ``cfg`` not yet in its output (module docstring)."""
    t0 = time.perf_counter()
    paths = output_paths(cfg.output)
    done = read_previous(cfg, paths["json"])
    todo = [c for c in cfg.cells if cell_id(c.params) not in done]
    skipped = len(cfg.cells) - len(todo)
    kind = CELL_KINDS[cfg.kind]

    def missing() -> list[str]:
        return [c.label for c in cfg.cells if cell_id(c.params) not in done]

    write_outputs(cfg, done, missing(), not todo)  # output writable, before any work
    bar = None
    if progress and todo:
        from neuro_deploy.cluster import progress_bar

        bar = progress_bar(len(todo), f"sweep ({skipped} cells done before)" if skipped else "sweep")

    def finished(i: int, result: dict[str, Any]) -> None:
        c = todo[i]
        done[cell_id(c.params)] = {"label": c.label, "params": c.params, **result}
        write_outputs(cfg, done, missing(), not missing())
        if bar is not None:
            bar(i, result)

    if todo:
        with tempfile.TemporaryDirectory(prefix="neuro-deploy-sweep-") as d, open_session(execution) as s:
            payloads = kind.payloads(todo, Path(d))
            try:
                s.run(kind.task, payloads, [c.label for c in todo], finished)
            except TasksLostError as exc:
                raise exc.with_hint(
                    f"{len(done)} finished cells are in {paths['json']} (and .csv, .md); "
                    "run the same command again to run only the missing ones"
                ) from None
    res = write_outputs(cfg, done, missing(), True)
    res.skipped, res.ran, res.wall_s = skipped, len(todo), time.perf_counter() - t0
    return res
