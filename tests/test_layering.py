"""One-way imports: the package's layering, no import circle, no private names across modules.

The layers, lowest first (a module may import from its own layer and any layer below it)::

    events -> data -> models -> netx -> hardware -> sim -> nir -> energy -> report -> api -> cli

plus a foundation every layer may use (``errors``, ``loihi_format`` and the private helper
modules ``_io``, ``_compat``, ...). ``nir`` (NIR <-> netx) sits after ``sim`` because its
fidelity check runs the converted network on the simulator. The api layer is the curated
API (``neuro_deploy/__init__.py``, ``api``, ``recipes``, ``pipeline``, ``doctor``); ``cli``
is the command line over it.

One module is placed by what it is rather than by its folder (:data:`PLACED`):
``energy/counts.py`` (with its compiled kernels, ``energy/kernels.py``) turns a run's spike
trains into activity counts (synops, spikes,
neuron updates - what the chip's counters would log). Every simulation path
(``sim.evaluate.run_tensors``, ``sim.replay``) counts while it runs, and the energy model
(``energy.cost``) prices the counts, so the counts sit at the end of the sim layer. Its file
stays in ``energy/`` while other branches edit it; moving it to ``sim/counts.py`` later
removes the entry.

How imports are counted: every ``import`` statement in a module, **including those inside
functions** (lazy imports are still dependencies: they only postpone the cost), and
``importlib.import_module("literal")`` calls. ``from pkg import name`` counts as an import of
``pkg.name`` when that is a module, else of ``pkg``. Importing a package runs its
``__init__`` first, but that implicit edge is not counted (as import-linter does not);
registries that name their implementations as ``"module:attr"`` strings resolved on first
use (entry-point style: :data:`neuro_deploy.sim.base.BACKENDS`,
:data:`neuro_deploy.events.readers.FORMAT_MODULES`) are not imports of those modules.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "neuro_deploy"

LAYERS = [
    "foundation",
    "cluster",
    "events",
    "data",
    "models",
    "netx",
    "hardware",
    "sim",
    "nir",
    "energy",
    "report",
    "api",
    "sweep",
    "cli",
]
#: top-level modules (not sub-packages) and their layer; ``_``-prefixed ones are foundation
TOP_MODULES = {
    "errors": "foundation",
    "loihi_format": "foundation",
    "api": "api",
    "recipes": "api",
    "pipeline": "api",
    "doctor": "api",
    "cli": "cli",
    "cli_options": "cli",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@functools.lru_cache(maxsize=1)
def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


#: modules whose layer is not their folder's (module docstring)
PLACED = {"neuro_deploy.energy.counts": "sim", "neuro_deploy.energy.kernels": "sim"}


def layer_of(mod: str) -> str:
    if mod in PLACED:
        return PLACED[mod]
    parts = mod.split(".")
    if len(parts) == 1:
        return "api"  # the package itself: the curated API
    head = parts[1]
    if head.startswith("_"):
        return "foundation"
    if head in LAYERS:
        return head
    if head in TOP_MODULES:
        return TOP_MODULES[head]
    raise AssertionError(f"{mod}: not placed in a layer; add it to TOP_MODULES in {Path(__file__).name}")


def _resolve_from(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(mod: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "neuro_deploy":
                    out.append((a.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            src = _resolve_from(mod, is_pkg, node)
            if src.split(".")[0] != "neuro_deploy":
                continue
            plain = []
            for a in node.names:
                if f"{src}.{a.name}" in modules:
                    out.append((f"{src}.{a.name}", [], node.lineno))
                else:
                    plain.append(a.name)
            if plain:
                out.append((src, plain, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            name = str(node.args[0].value)
            if name.startswith("neuro_deploy"):
                out.append((name, [], node.lineno))
    return out


@functools.lru_cache(maxsize=1)
def graph() -> dict[str, list[tuple[str, list[str], int]]]:
    modules = all_modules()
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def test_every_module_has_a_layer():
    for m in all_modules():
        layer_of(m)


def test_no_upward_import():
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad = []
    for mod, imps in graph().items():
        for target, _, line in imps:
            if target == mod:
                continue
            if rank[layer_of(target)] > rank[layer_of(mod)]:
                bad.append(f"{mod}:{line} ({layer_of(mod)}) imports {target} ({layer_of(target)})")
    assert not bad, "imports that climb a layer:\n" + "\n".join(bad)


def test_no_import_circle():
    g = {m: sorted({t for t, _, _ in imps if t != m}) for m, imps in graph().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_no_private_name_across_modules():
    bad = []
    modules = all_modules()
    for mod, imps in graph().items():
        for target, names, line in imps:
            if target == mod:
                continue
            bad += [f"{mod}:{line} imports {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
        # attribute access on an imported neuro_deploy module: ``fast._source_spikes``
        tree = ast.parse(modules[mod].read_text())
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("neuro_deploy") and a.asname:
                        aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neuro_deploy"):
                for a in node.names:
                    if f"{node.module}.{a.name}" in modules:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and aliases[node.value.id] != mod
            ):
                bad.append(f"{mod}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(sorted(set(bad)))


def test_the_checker_sees_lazy_upward_imports(tmp_path):
    """The checks are not vacuous: a lazy upward import inside a function is found."""
    src = "def f():\n    from neuro_deploy.report.build import build_report\n    return build_report\n"
    p = ROOT / "netx" / "spec.py"
    imps = imports_of("neuro_deploy.netx.spec", p, all_modules())
    fake = tmp_path / "x.py"
    fake.write_text(src)
    found = imports_of("neuro_deploy.netx.fake", fake, all_modules())
    assert ("neuro_deploy.report.build", ["build_report"], 2) in found
    assert all(layer_of(t) in ("foundation", "netx", "events") for t, _, _ in imps)
