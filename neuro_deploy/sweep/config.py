"""Sweep configuration (``neuro-deploy sweep CONFIG.yaml``): the grid and its cells.

Two kinds of sweep, each a registry entry of :data:`neuro_deploy.sweep.cells.CELL_KINDS`:

``deploy`` - every model on every data set, profile and backend; a cell is one
:func:`neuro_deploy.report.build_report`::

    kind: deploy                      # the default when `models` is given
    models: [a.net, b.pt]             # netx files, or SLAYER checkpoints (exported for loihi2-sim)
    datasets:                         # a name, or a mapping of report workload options
      - digits                        #   (dataset/root/limit, or recordings/labels/dt_us/...)
      - {dataset: nmnist, root: ../data/nmnist, limit: 500}
      - {recordings: [../shared/fixtures/events/nmnist/train], labels: labels.txt, dt_us: 5000}
    profiles: [loihi2]                # default [loihi2]
    backends: [fast, lava]            # default [fast]
    skip_input: false

``train`` - every training method with every seed; a cell trains, exports and deploys
one model (:mod:`neuro_deploy.sweep.training`)::

    kind: train
    dataset: digits                   # root: ... for the others
    methods: [full, prune-sadp-0.5, hsd-8steps, distill-prototype-ipc10]
    seeds: [0, 1, 2]                  # or a count: 3
    epochs: 10
    distill_iterations: 200
    threads: 2                        # torch threads per cell (same figures on every executor)
    limit: 500                        # optional: only the first 500 samples of the data set

Relative paths are relative to the configuration file. ``output`` (default: the
configuration's path without ``.yaml``) is the prefix of the results
(``OUT.json``, ``OUT.csv``, ``OUT.md``); ``-o`` on the command line overrides it.
Every cell is described by its *parameters* (a JSON-able dict, global options
included): two cells with equal parameters are the same cell, which is what lets an
interrupted sweep resume.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuro_deploy.errors import BadInputError

SWEEP_SCHEMA = "neuro-deploy-sweep/1"


@dataclass
class Cell:
    kind: str
    label: str  #: short name for tables and errors
    params: dict[str, Any]  #: everything the cell's result depends on


@dataclass
class SweepConfig:
    kind: str
    cells: list[Cell]
    output: Path
    source: str = ""  #: the configuration file
    options: dict[str, Any] = field(default_factory=dict)


def _err(path: str, key: str, problem: str) -> BadInputError:
    return BadInputError(f"{path}: {key}: {problem}")


def _check(path: str, key: str, fn: Any, value: Any) -> None:
    """``fn(value)``; its typed error, prefixed with the file and key."""
    from neuro_deploy.errors import NeuroDeployError

    try:
        fn(value)
    except NeuroDeployError as exc:
        raise _err(path, key, str(exc)) from None


def _list(doc: dict, key: str, path: str, default: list | None = None) -> list:
    v = doc.get(key, default)
    if v is None:
        raise _err(path, key, "missing (a list is required)")
    if isinstance(v, (str, int, float, dict)):
        v = [v]
    if not isinstance(v, list) or not v:
        raise _err(path, key, f"expected a non-empty list, got {v!r}")
    return v


def _resolve(base: Path, p: Any, path: str, key: str, must_exist: bool = True) -> str:
    if not isinstance(p, str) or not p:
        raise _err(path, key, f"expected a path, got {p!r}")
    q = Path(p).expanduser()
    q = q if q.is_absolute() else (base / q)
    if must_exist and not q.exists():
        raise _err(path, key, f"{q} does not exist")
    return str(q.resolve())


DEPLOY_DATA_KEYS = {
    "dataset",
    "root",
    "limit",
    "recordings",
    "labels",
    "dt_us",
    "steps",
    "time_origin",
    "downsample",
    "sensor_size",
    "event_format",
    "on_error",
}


def _deploy_cells(doc: dict, base: Path, path: str) -> list[Cell]:
    from neuro_deploy.hardware import load_profile
    from neuro_deploy.sim import get_backend

    models = [_resolve(base, m, path, "models") for m in _list(doc, "models", path)]
    for m in models:
        if Path(m).suffix not in (".net", ".pt"):
            raise _err(path, "models", f"{m}: expected a netx file (.net) or a SLAYER checkpoint (.pt)")
    data = []
    for k, d in enumerate(_list(doc, "datasets", path)):
        where = f"datasets[{k}]"
        d = {"dataset": d} if isinstance(d, str) else d
        if not isinstance(d, dict):
            raise _err(path, where, f"expected a data set name or a mapping, got {d!r}")
        unknown = set(d) - DEPLOY_DATA_KEYS
        if unknown:
            raise _err(path, where, f"unknown keys {sorted(unknown)}; known: {sorted(DEPLOY_DATA_KEYS)}")
        if ("dataset" in d) == ("recordings" in d):
            raise _err(path, where, "give exactly one of 'dataset' or 'recordings'")
        d = dict(d)
        if "root" in d and d["root"] is not None:
            d["root"] = _resolve(base, d["root"], path, f"{where}.root")
        if "recordings" in d:
            recs = d["recordings"] if isinstance(d["recordings"], list) else [d["recordings"]]
            d["recordings"] = [_resolve(base, r, path, f"{where}.recordings") for r in recs]
            if "dt_us" not in d:
                raise _err(path, where, "'dt_us' is required with 'recordings'")
            if d.get("labels"):
                d["labels"] = _resolve(base, d["labels"], path, f"{where}.labels")
        data.append(d)
    profiles = [str(p) for p in _list(doc, "profiles", path, ["loihi2"])]
    for p in profiles:
        _check(path, "profiles", load_profile, p)  # unknown profile: named error now
    backends = [str(b) for b in _list(doc, "backends", path, ["fast"])]
    for b in backends:
        _check(path, "backends", get_backend, b)
    skip_input = bool(doc.get("skip_input", False))
    cells = []
    for m, d, p, b in itertools.product(models, data, profiles, backends):
        name = d.get("dataset") or ",".join(Path(r).name for r in d["recordings"])
        cells.append(
            Cell(
                "deploy",
                f"{Path(m).name} | {name} | {p} | {b}",
                {"model": m, "data": d, "profile": p, "backend": b, "skip_input": skip_input},
            )
        )
    return cells


TRAIN_DEFAULTS = {
    "epochs": 10,
    "distill_iterations": 200,
    "threads": 2,
    "root": None,
    "val_fraction": 0.2,
    "limit": None,
}


def _train_cells(doc: dict, base: Path, path: str) -> list[Cell]:
    from neuro_deploy.sweep.training import check_method

    dataset = doc.get("dataset")
    if not isinstance(dataset, str):
        raise _err(path, "dataset", f"expected a data set name, got {dataset!r}")
    methods = [str(m) for m in _list(doc, "methods", path)]
    for m in methods:
        _check(path, "methods", check_method, m)
    seeds = doc.get("seeds", 1)
    seeds = list(range(seeds)) if isinstance(seeds, int) else seeds
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise _err(path, "seeds", f"expected a count or a list of integers, got {doc.get('seeds')!r}")
    opts = {k: doc.get(k, v) for k, v in TRAIN_DEFAULTS.items()}
    if opts["root"] is not None:
        opts["root"] = _resolve(base, opts["root"], path, "root")
    for k in ("epochs", "distill_iterations", "threads") + (("limit",) if opts["limit"] is not None else ()):
        if not isinstance(opts[k], int) or opts[k] < 1:
            raise _err(path, k, f"expected a positive integer, got {opts[k]!r}")
    return [
        Cell("train", f"{m} | seed {s}", {"dataset": dataset, "method": m, "seed": s, **opts})
        for m, s in itertools.product(methods, seeds)
    ]


#: sweep kind -> function building its cells from the YAML document
KINDS = {"deploy": _deploy_cells, "train": _train_cells}
KNOWN_KEYS = {
    "deploy": {"kind", "output", "models", "datasets", "profiles", "backends", "skip_input"},
    "train": {"kind", "output", "dataset", "methods", "seeds"} | set(TRAIN_DEFAULTS),
}


def sweep_config(doc: dict, base: Path, source: str = "<config>", output: str | Path | None = None) -> SweepConfig:
    """A :class:`SweepConfig` from a parsed YAML mapping; paths relative to ``base``."""
    if not isinstance(doc, dict):
        raise BadInputError(f"{source}: expected a YAML mapping, got {type(doc).__name__}")
    kind = doc.get("kind", "deploy" if "models" in doc else None)
    if kind not in KINDS:
        raise _err(source, "kind", f"expected one of {sorted(KINDS)}, got {kind!r}")
    unknown = set(doc) - KNOWN_KEYS[kind]
    if unknown:
        raise _err(source, ", ".join(sorted(unknown)), f"unknown for kind {kind}; known: {sorted(KNOWN_KEYS[kind])}")
    cells = KINDS[kind](doc, base, source)
    labels = [c.label for c in cells]
    if len(set(labels)) != len(labels):
        dup = sorted({l for l in labels if labels.count(l) > 1})
        raise BadInputError(f"{source}: the grid has the same cell twice: {dup[0]!r}")
    out = output if output is not None else doc.get("output")
    out_path = Path(out) if out else Path(source).with_suffix("")
    if not out_path.is_absolute() and out is not None and output is None:
        out_path = base / out_path
    return SweepConfig(kind, cells, out_path, source, {k: v for k, v in doc.items() if k not in ("output",)})


def load_sweep_config(path: str | Path, output: str | Path | None = None) -> SweepConfig:
    """Read ``CONFIG.yaml`` (typed errors name the file and the key)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"sweep configuration {p} not found")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise BadInputError(f"{p}: not valid YAML ({exc})") from None
    return sweep_config(doc, p.resolve().parent, str(p), output)
