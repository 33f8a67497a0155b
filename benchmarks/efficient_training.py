"""Efficient-training methods side by side: accuracy (float and deployed fixed point),
training wall time, one-off preparation time, data-set storage, loihi2-sim energy and
latency per inference, and ratios vs full-data training; mean ± std over seeds.

    .venv/bin/python benchmarks/efficient_training.py [--seeds 3] [--dataset digits] [--root R]
        [--epochs 10] [--ipc 1 10] [--distill-iterations 200] [--out benchmarks/results/efficient_training]

Methods: full data; SADP / random / EL2N / InfoBatch at keep 0.5, SADP at keep 0.7; ANN pretraining (event
rates) + 1 epoch fine-tuning; HSD (10 teacher frames; 4, 8 and 15 student steps - 8 is ~1/4
of the 30 steps); PACE / DM / random real subset / class-mean prototypes at each IPC (a fresh SNN
trained on the stored integer frames for max(60, 3000/N) epochs). PACE's teachers are the
snapshots of the full-data run (one per epoch), so they cost nothing extra here.

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
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = ("float", "deployed", "train_s", "prep_s", "bytes", "energy_uj", "latency_us")


def deployed(model_path: Path, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Deploy (export, fit, fast backend, cost on loihi2: :func:`neuro_deploy.api.deploy`):
    deployed accuracy, µJ and µs per inference."""
    from neuro_deploy.api import deploy

    dep = deploy(model_path, (x, y), verify_samples=0)
    return {"deployed": float(dep.deployed_accuracy), "energy_uj": dep.energy_per_inference_uj,
            "latency_us": dep.latency_us}


def student_epochs(n: int) -> int:
    """Epochs for a fresh model on a small (distilled) set: at least ~3000 sample passes."""
    return max(60, 3000 // max(1, n))


def run_seed(seed: int, a, ds, d: Path) -> dict[str, dict]:
    from neuro_deploy.data.distill import DistillConfig, distill
    from neuro_deploy.models import ModelConfig, TrainConfig, save_checkpoint, train_model
    from neuro_deploy.models.hsd import HSDConfig, train_hsd
    from neuro_deploy.models.pretrain import calibrate_transfer, pretrain_ann, rate_inputs, transfer_to_slayer
    from neuro_deploy.models.pruning import make_selector
    from neuro_deploy.models.slayer_model import Snapshots, evaluate

    from neuro_deploy.data.splits import Split

    split = Split.of(ds, 0.2, seed)
    tr, va = split.apply(ds)
    cfg = ModelConfig(input_shape=(2, ds.sensor[1], ds.sensor[0]), hidden=(128,), dt_us=10_000, num_steps=30)
    x_tr, x_va = tr.to_tensors(cfg.dt_us, cfg.num_steps), va.to_tensors(cfg.dt_us, cfg.num_steps)
    full_bytes = int(np.packbits(x_tr).nbytes)
    out: dict[str, dict] = {}

    def record(name, model, mcfg, train_s, x_eval, nbytes, prep_s=0.0):
        p = d / f"{name}-{seed}.pt"
        save_checkpoint(model, mcfg, p, meta={"split": split.to_meta()})
        out[name] = {"float": evaluate(model, x_eval, va.labels)[0], **deployed(p, x_eval, va.labels),
                     "train_s": train_s, "prep_s": prep_s, "bytes": nbytes}
        print(f"  seed {seed} {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in out[name].items()), flush=True)

    snapshots = Snapshots()
    t = time.perf_counter()
    full = train_model(cfg, TrainConfig(epochs=a.epochs, seed=seed, progress=False), x_tr, tr.labels,
                       on_epoch=snapshots)
    record("full", full.model, cfg, time.perf_counter() - t, x_va, full_bytes)
    for m, keep_frac in (("sadp", 0.5), ("random", 0.5), ("el2n", 0.5), ("infobatch", 0.5), ("sadp", 0.7)):
        t = time.perf_counter()
        r = train_model(cfg, TrainConfig(epochs=a.epochs, seed=seed, progress=False), x_tr, tr.labels,
                        selector=make_selector(m, len(x_tr), keep_frac, a.epochs, seed))
        record(f"prune-{m}-{keep_frac}", r.model, cfg, time.perf_counter() - t, x_va, full_bytes)
    t = time.perf_counter()
    pre = pretrain_ann(cfg, rate_inputs(x_tr), tr.labels, epochs=15, seed=seed)
    scale, _ = calibrate_transfer(pre.ann, cfg, x_tr[:200], tr.labels[:200])
    r = train_model(cfg, TrainConfig(epochs=1, seed=seed, lr=3e-5, progress=False), x_tr, tr.labels,
                    init=lambda mdl: transfer_to_slayer(pre.ann, mdl, scale))
    record("pretrain-ann+1ep", r.model, cfg, time.perf_counter() - t, x_va, full_bytes)
    for steps in (4, 8, 15):                       # accuracy vs inference steps (full: 30)
        t = time.perf_counter()
        h = train_hsd(cfg, HSDConfig(teacher_frames=10, student_steps=steps, student_epochs=2, seed=seed), tr)
        dts = int(np.ceil(ds.duration_us / steps))
        cfgs = ModelConfig(**{**cfg.__dict__, "dt_us": dts, "num_steps": steps})
        record(f"hsd-{steps}steps", h.model, cfgs, time.perf_counter() - t, va.to_tensors(dts, steps), full_bytes)

    teachers = snapshots.models(cfg)
    for ipc in a.ipc:
        for m in ("pace", "dm", "prototype", "random"):
            t = time.perf_counter()
            dd = distill(m, x_tr, tr.labels, DistillConfig(ipc=ipc, iterations=a.distill_iterations, seed=seed,
                                                           progress=False), teacher=teachers, model_cfg=cfg)
            prep = time.perf_counter() - t
            t = time.perf_counter()
            r = train_model(cfg, TrainConfig(epochs=student_epochs(len(dd.frames)), seed=seed, progress=False),
                            dd.frames, dd.labels)
            record(f"distill-{m}-ipc{ipc}", r.model, cfg, time.perf_counter() - t, x_va,
                   int(np.packbits(dd.frames).nbytes), prep)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--root", default=None)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--ipc", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--distill-iterations", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "efficient_training"))
    ap.add_argument("--replot", default=None, metavar="JSON", help="only rebuild table + plot from a run's JSON")
    a = ap.parse_args()
    if a.replot:
        return replot(a.replot)
    from neuro_deploy.data import load_dataset

    ds = load_dataset(a.dataset, root=a.root, progress=True)
    runs = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        for seed in range(a.seeds):
            runs.append(run_seed(seed, a, ds, Path(d)))
            print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
            text = write_table(a, ds, runs)          # after every seed: a cut-short run keeps its data
    print(text)


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
