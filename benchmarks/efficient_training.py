"""Efficient-training methods side by side: accuracy (float and deployed fixed point),
training wall time, one-off preparation time, data-set storage, loihi2-sim energy and
latency per inference, and ratios vs full-data training; mean ± std over seeds.

    .venv/bin/python benchmarks/efficient_training.py [--seeds 3] [--dataset digits] [--root R]
        [--epochs 10] [--ipc 1 10] [--distill-iterations 200] [--out benchmarks/results/efficient_training]
        [--methods full hsd-8steps ...] [--workers N | --ray | --ray-address HOST:PORT]

Every (method, seed) is one cell of a training sweep (:mod:`neuro_deploy.sweep`,
``kind: train``; the methods themselves are in :mod:`neuro_deploy.sweep.training`), run as
a task of the execution layer: in this process, in ``--workers`` local processes, or as
plain Ray tasks with ``--ray`` / ``--ray-address``. The cells land in ``OUT-cells.json``
(and .csv, .md) as they finish, so an interrupted run resumes where it stopped. Plain Ray
tasks, not Ray Tune: the grid is fixed and every cell runs to the end (no search, no
early stopping or trial scheduling, which is what Tune adds), the cells need the same
resumable table and the same code path as a run without Ray, and Tune would bring its own
trial directories and result format (and pandas/pyarrow) for nothing here.

Methods: full data; SADP / random / EL2N / InfoBatch at keep 0.5, SADP at keep 0.7; ANN pretraining (event
rates) + 1 epoch fine-tuning; HSD (10 teacher frames; 4, 8 and 15 student steps - 8 is ~1/4
of the 30 steps); PACE / DM / random real subset / class-mean prototypes at each IPC (a fresh SNN
trained on the stored integer frames for max(60, 3000/N) epochs). PACE's teachers are the
per-epoch snapshots of the same seed's full-data run, which the PACE cell trains itself (its
time is not in ``prep s``: it is the ``full`` cell's run).

Time columns: ``train s`` is the wall time of training the evaluated model (for HSD and
pretraining this includes their teacher / ANN stage); ``prep s`` is the one-off cost of
building a distilled set (amortised over every model later trained on it). Deployed
accuracy, energy and latency: the exported netx model on the bit-exact fast backend over
the whole validation split, costed with the loihi2 profile (``neuro_deploy.energy``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = ("float", "deployed", "train_s", "prep_s", "bytes", "energy_uj", "latency_us")


def method_names(ipc: list[int]) -> list[str]:
    """The benchmark's methods, in table order (see neuro_deploy.sweep.training)."""
    return (["full"] + [f"prune-{m}-{k}" for m, k in (("sadp", 0.5), ("random", 0.5), ("el2n", 0.5),
                                                        ("infobatch", 0.5), ("sadp", 0.7))]
            + ["pretrain-ann+1ep"] + [f"hsd-{n}steps" for n in (4, 8, 15)]
            + [f"distill-{m}-ipc{k}" for k in ipc for m in ("pace", "dm", "prototype", "random")])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--root", default=None)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--ipc", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--distill-iterations", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "efficient_training"))
    ap.add_argument("--methods", nargs="+", default=None,
                    help="only these methods (default: all; 'full' is always run, the ratios need it)")
    ap.add_argument("--workers", type=int, default=1, help="cells in parallel local processes")
    ap.add_argument("--ray", action="store_true", help="cells as Ray tasks (join or start a local Ray)")
    ap.add_argument("--ray-address", default=None, help="cells on the Ray cluster at HOST:PORT|auto")
    ap.add_argument("--replot", default=None, metavar="JSON", help="only rebuild table + plot from a run's JSON")
    a = ap.parse_args()
    if a.replot:
        return replot(a.replot)
    from neuro_deploy.cluster import Execution
    from neuro_deploy.data import load_dataset
    from neuro_deploy.sweep import run_sweep, sweep_config

    execution = Execution.from_options(a.workers, a.ray, a.ray_address)
    methods = method_names(a.ipc) if a.methods is None else list(dict.fromkeys(["full", *a.methods]))
    ds = load_dataset(a.dataset, root=a.root, progress=True)
    doc = {"kind": "train", "dataset": a.dataset, "methods": methods, "seeds": list(range(a.seeds)),
           "epochs": a.epochs, "distill_iterations": a.distill_iterations, "val_fraction": 0.2,
           **({"root": a.root} if a.root else {})}
    cfg = sweep_config(doc, Path.cwd(), "benchmarks/efficient_training.py", output=f"{a.out}-cells")
    res = run_sweep(cfg, execution, progress=True)
    print(f"{res.ran} cells run, {res.skipped} from an earlier run ({res.wall_s:.0f} s); cells in {res.files['json']}")
    by_cell = {(c["params"]["seed"], c["params"]["method"]): c["row"] for c in res.cells}
    runs = [{m: by_cell[(seed, m)] for m in methods} for seed in range(a.seeds)]
    print(write_table(a, ds, runs))


def write_table(a, ds, runs: list[dict]) -> str:
    """Rows (mean/std over seeds and ratios to full data) -> JSON, Markdown and a PNG beside --out."""
    rows = []
    base = {k: np.mean([r["full"][k] for r in runs]) for k in KEYS}
    for n in runs[0]:
        v = {k: np.array([r[n][k] for r in runs], float) for k in KEYS}
        rows.append({"method": n, **{f"{k}_mean": float(v[k].mean()) for k in KEYS},
                     **{f"{k}_std": float(v[k].std()) for k in KEYS},
                     "accuracy_vs_full": v["float"].mean() / base["float"],
                     "deployed_vs_full": v["deployed"].mean() / base["deployed"],
                     "train_time_vs_full": v["train_s"].mean() / base["train_s"],
                     "total_time_vs_full": (v["train_s"].mean() + v["prep_s"].mean()) / base["train_s"],
                     "storage_vs_full": v["bytes"].mean() / base["bytes"]})
    n_train = ds if isinstance(ds, int) else len(ds.split(0.2, 0)[0])
    md = [f"Efficient training on `{a.dataset}` ({n_train} training samples, {len(runs)} seeds, SLAYER "
          f"2312-128-10, 30 steps of 10 ms, {a.epochs} epochs for full data; deployed = netx on the bit-exact "
          "fast backend, energy/latency = loihi2 profile per inference on the validation split)", "",
          "| method | float acc | deployed acc | train s | prep s | data bytes | µJ/inf | latency µs "
          "| acc / full | train time / full | (train+prep) / full | storage / full |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['method']} | {r['float_mean']:.3f} ± {r['float_std']:.3f} | {r['deployed_mean']:.3f} ± "
                  f"{r['deployed_std']:.3f} | {r['train_s_mean']:.1f} | {r['prep_s_mean']:.1f} | "
                  f"{int(r['bytes_mean'])} | {r['energy_uj_mean']:.1f} | {r['latency_us_mean']:.0f} | "
                  f"{r['accuracy_vs_full']:.3f} | {r['train_time_vs_full']:.3f} | {r['total_time_vs_full']:.3f} | "
                  f"{r['storage_vs_full']:.4f} |")
    text = "\n".join(md)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from neuro_deploy._io import atomic_path

    with atomic_path(out.with_suffix(".json"), ".json") as tmp:
        Path(tmp).write_text(json.dumps({"args": vars(a), "n_train": n_train, "rows": rows, "runs": runs},
                                        indent=2, default=float))
    with atomic_path(out.with_suffix(".md"), ".md") as tmp:
        Path(tmp).write_text(text + "\n")
    plot(rows, f"{a.dataset} ({n_train} training samples, {len(runs)} seeds)", out.with_suffix(".png"))
    return text


def plot(rows: list[dict], title: str, path: Path) -> None:
    """Deployed accuracy vs training time (relative to full data), and energy per inference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro_deploy._io import atomic_path

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    colours = {"full": "k", "prune": "tab:blue", "pretrain": "tab:green", "hsd": "tab:orange", "distill": "tab:red"}
    for r in rows:
        c = colours.get(r["method"].split("-")[0], "grey")
        ax.errorbar(r["total_time_vs_full"], r["deployed_mean"], yerr=r["deployed_std"], fmt="o", color=c, capsize=3)
        ax.annotate(r["method"], (r["total_time_vs_full"], r["deployed_mean"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("training wall time / full-data training (incl. one-off distillation)")
    ax.set_ylabel("deployed accuracy (fixed point, fast backend)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    names = [r["method"] for r in rows]
    bx.barh(names, [r["energy_uj_mean"] for r in rows],
            color=[colours.get(n.split("-")[0], "grey") for n in names])
    bx.invert_yaxis()
    bx.tick_params(axis="y", labelsize=7)
    bx.set_xlabel("loihi2-sim energy per inference (µJ)")
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def replot(json_path: str) -> None:
    """Rebuild the table and plot of an earlier run from its JSON."""
    d = json.loads(Path(json_path).read_text())
    a = argparse.Namespace(**{**d["args"], "out": str(Path(json_path).with_suffix(""))})
    if "n_train" in d:
        n_train = d["n_train"]
    else:
        from neuro_deploy.data import load_dataset

        n_train = len(load_dataset(a.dataset, root=a.root, progress=False).split(0.2, 0)[0])
    print(write_table(a, n_train, d["runs"]))


if __name__ == "__main__":
    main()
