"""Efficient-training methods side by side on their papers' terms: accuracy (float and
deployed fixed point), training wall time, one-off distillation time, data-set storage,
loihi2-sim energy and latency per inference, ratios vs full-data training; mean ± std over
seeds, for each architecture.

    .venv/bin/python benchmarks/efficient_training.py --dataset nmnist --root ../shared/fixtures/events/nmnist \\
        [--arch dense conv] [--seeds 3] [--epochs 10] [--ipc 1 10] [--budget standard|paper]
        [--groups full prune pretrain hsd distill ablation] [--out benchmarks/results/efficient_training_nmnist]
        [--workers N | --ray | --ray-address HOST:PORT]
    # the emulated-MNIST scale: all 60,000 MNIST training images through the saccade emulator
    .venv/bin/python benchmarks/efficient_training.py --dataset mnist-dvs --root ../shared/fixtures/images/mnist.npz \
        --limit 0 --arch dense --groups full prune pretrain hsd --out benchmarks/results/efficient_training_mnist60k

Per seed (seed = stratified split, initialisation and every method's randomness), per arch:

* ``full``: training on the whole training split (``--epochs``); its per-epoch snapshots are
  the first of PACE's teacher runs.
* ``prune-*``: SADP, its ablation without the spike factor (``sadp-plain``, Katharopoulos &
  Fleuret's last-layer bound), random, EL2N, InfoBatch at keep 0.5; SADP and random at 0.7.
  The SADP rows carry the per-epoch agreement of SADP's scores with the plain bound's.
* ``pipeD``: ANN pretraining (sharpened ReLU on event rates, 15 epochs), then fine-tuning with
  the ANN's optimizer state and a 1-epoch frozen-classifier warm-up; its accuracy after every
  fine-tuning epoch gives the time to reach the full-data model's accuracy.
* ``hsd-8steps``: HSD (QCFS teacher on 10 frames, conversion, tau = 10 step-wise KD) at 8 of
  the 30 steps - a quarter; ``direct-8steps`` trains the same net at 8 steps without HSD (the
  student's integrate-and-fire neurons), ``direct-8steps-cuba`` with the net's own CUBA decays.
* ``distill-*``: PACE, DM, class-mean prototypes and the random real subset at each IPC; a
  fresh model trains on the stored integer frames for ``models.recipes.distilled_epochs``
  epochs with the same augmentation the distillation used. PACE's teachers: the budget's
  seeds x epochs of snapshots (the first run is ``full``'s); *prep s* is the whole
  distillation cost (all teacher training + optimisation).
* ``ablation`` (PACE at the largest IPC, first seed): without augmentation, with the older
  time-pooled CF instead of the step-pair phase term, with one teacher run.

Times are CPU seconds of this process (all its threads; ``time.process_time``), the ratios
too: the machine is shared and wall time swings with other work (wall seconds are in the
JSON). *Deployed* = the exported netx model on the bit-exact fast backend over the whole
validation split (:func:`neuro_deploy.api.deploy`); µJ/inf and latency = the loihi2
profile's cost of that run. Rows are written after every (seed, arch): a cut-short run keeps
its data. ``--replot JSON`` rebuilds table and plot.

Every (seed, arch) is one task of the execution layer (:func:`neuro_deploy.cluster.run_tasks`):
in this process, in ``--workers`` local processes, or as Ray tasks with ``--ray`` /
``--ray-address``; each task seeds everything it draws, so accuracies, energy and latency
(in task order) are those of one process (checked: ``--workers 1`` and ``2`` give identical
figures). Times are each task's own, but tasks sharing cores slow each other (CPU seconds
too: 7.1 s alone vs 13.5 s with two workers on two shared cores), so the time ratios are
comparable within one run, and time figures for the record come from tasks that do not
share cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = ("float", "deployed", "train_s", "prep_s", "train_cpu_s", "prep_cpu_s", "bytes", "energy_uj", "latency_us")
GROUPS = ("full", "prune", "pretrain", "hsd", "distill", "ablation")

#: Each row against its paper's target (see benchmarks/README.md) and its baselines.
TARGETS = {
    "prune-sadp": "SADP: >= 30 % less time at <= 1 point drop; beat random at the same keep",
    "pipeD": "pipeD: full-data accuracy in less total time than from scratch",
    "hsd": "HSD: <= 2 points drop at a quarter of the steps",
    "distill-pace": "PACE: beat random, DM, prototype at the same IPC (N-MNIST 84.4 % at IPC 1)",
}


def deployed(model_path: Path, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Deployed accuracy, µJ and µs per inference of a checkpoint on ``(x, y)``: the sweep's
    cell figures (:func:`neuro_deploy.sweep.training.deployed`, i.e. :func:`neuro_deploy.api.deploy`:
    export -> fit -> fast backend -> loihi2 cost); NaN when the model cannot be deployed."""
    from neuro_deploy.sweep.training import deployed as deploy_figures

    try:
        return deploy_figures(model_path, x, y)
    except ValueError as exc:  # e.g. a layer whose weights all quantized to zero
        print(f"    not deployable: {exc}", flush=True)
        return {"deployed": float("nan"), "energy_uj": float("nan"), "latency_us": float("nan")}


class Clock:
    """Wall and CPU (this process, all threads) seconds since start. The machine is shared:
    wall time swings with other work, CPU time measures what a method costs."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_unit(payload: tuple[int, str, dict]) -> tuple[dict[str, dict], float]:
    """One task: every method for one (seed, arch), in a temporary folder of its own.
    Returns the rows and the task's wall seconds."""
    from neuro_deploy.data import load_dataset

    import torch

    seed, arch, args = payload
    a = argparse.Namespace(**args)
    torch.set_num_threads(a.threads)
    ds = load_dataset(a.dataset, root=a.root, progress=False, **limit_option(a))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        rows = run_seed(seed, arch, a, ds, Path(d))
    wall = time.perf_counter() - t0
    print(f"{arch} seed {seed} done ({wall:.0f} s)", flush=True)
    return rows, wall


def run_seed(seed: int, arch: str, a, ds, d: Path) -> dict[str, dict]:
    from neuro_deploy.data.distill import DistillConfig, distill, get_budget
    from neuro_deploy.models import TrainConfig, save_checkpoint, train_model
    from neuro_deploy.models.arch import dataset_config
    from neuro_deploy.models.hsd import HSDConfig, student_config, train_hsd
    from neuro_deploy.models.pretrain import FinetuneHooks, calibrate_transfer, pretrain_ann, rate_inputs
    from neuro_deploy.models.pruning import make_selector
    from neuro_deploy.models.recipes import distilled_epochs, train_teachers
    from neuro_deploy.models.slayer_model import Snapshots, evaluate

    tr, va = ds.split(a.val_fraction, seed)
    cfg = dataset_config(arch, ds, a.dt_us, a.steps)
    x_tr, x_va = tr.to_tensors(cfg.dt_us, cfg.num_steps), va.to_tensors(cfg.dt_us, cfg.num_steps)
    full_bytes = int(np.packbits(x_tr).nbytes)
    out: dict[str, dict] = {}

    def score(name, model, mcfg, x_eval) -> dict:
        p = d / f"{arch}-{name}-{seed}.pt"
        save_checkpoint(model, mcfg, p)
        return {"float": evaluate(model, x_eval, va.labels)[0], **deployed(p, x_eval, va.labels)}

    def record(name, model, mcfg, train, x_eval, nbytes, prep=(0.0, 0.0), scores=None, **extra):
        """``train``, ``prep``: (wall, cpu) seconds; ``scores``: figures already measured
        (e.g. the mean over several students), else those of ``model``."""
        out[name] = {
            **(scores if scores is not None else score(name, model, mcfg, x_eval)),
            "train_s": train[0],
            "train_cpu_s": train[1],
            "prep_s": prep[0],
            "prep_cpu_s": prep[1],
            "bytes": nbytes,
            **extra,
        }
        print(
            f"  {arch} seed {seed} {name}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in out[name].items() if isinstance(v, (int, float))),
            flush=True,
        )

    def tc(**kw):
        return TrainConfig(**{"epochs": a.epochs, "seed": seed, "progress": False, "threads": a.threads, **kw})

    snapshots = Snapshots()
    c = Clock()
    cpu_at: list[float] = []
    full = train_model(
        cfg, tc(), x_tr, tr.labels, x_va, va.labels, on_epoch=lambda e, m: (snapshots(e, m), cpu_at.append(c.read()[1]))
    )
    full_t = c.read()
    record(
        "full",
        full.model,
        cfg,
        full_t,
        x_va,
        full_bytes,
        curve=[[cpu, h["val_accuracy"]] for cpu, h in zip(cpu_at, full.history)],
    )
    if "prune" in a.groups:
        for spec in a.prune:
            m, keep = spec.rsplit(":", 1)[0], float(spec.rsplit(":", 1)[1])
            c = Clock()
            sel = make_selector(m, len(x_tr), keep, a.epochs, seed)
            r = train_model(cfg, tc(), x_tr, tr.labels, selector=sel)
            extra = {"agreement": sel.agreement} if hasattr(sel, "agreement") else {}
            record(f"prune-{m}-{keep}", r.model, cfg, c.read(), x_va, full_bytes, **extra)
    if "pretrain" in a.groups:
        c = Clock()
        pre = pretrain_ann(cfg, rate_inputs(x_tr), tr.labels, epochs=15, seed=seed)
        scale, _ = calibrate_transfer(pre.ann, cfg, x_tr[:200], tr.labels[:200])
        pre_t = c.read()
        for tag, warm, transfer, loss in (
            ("pipeD", 1, True, "rate_ce"),
            ("pipeD-fresh-opt", 0, False, "rate_ce"),
            ("pipeD-spike-rate-loss", 1, True, "spike_rate"),
        ):
            hk = FinetuneHooks(pre, scale, warm, transfer)
            c = Clock()
            cpu_at = []
            r = train_model(
                cfg,
                tc(epochs=a.finetune_epochs, lr=1e-4, loss=loss),
                x_tr,
                tr.labels,
                x_va,
                va.labels,
                init=hk.init,
                init_optimizer=hk.init_optimizer,
                on_epoch=lambda e, m, hk=hk, c=c, at=cpu_at: (hk.on_epoch(e, m), at.append(c.read()[1])),
            )
            t = c.read()
            curve = [[pre_t[1] + cpu, h["val_accuracy"]] for cpu, h in zip(cpu_at, r.history)]
            record(tag, r.model, cfg, (pre_t[0] + t[0], pre_t[1] + t[1]), x_va, full_bytes, curve=curve)
    if "hsd" in a.groups:
        steps = max(1, round(a.steps / 4))  # a quarter of the steps
        hc = HSDConfig(teacher_frames=10, student_steps=steps, student_epochs=a.hsd_epochs, seed=seed)
        cfgs = student_config(cfg, hc, ds.duration_us)  # the student's net, also trained directly below
        dts = cfgs.dt_us
        x_va_s = va.to_tensors(dts, steps)
        c = Clock()
        h = train_hsd(cfg, hc, tr)
        record(
            f"hsd-{steps}steps",
            h.model,
            cfgs,
            c.read(),
            x_va_s,
            full_bytes,
            teacher_accuracy=h.teacher_accuracy,
            converted_accuracy=h.converted_accuracy,
        )
        x_tr_s = tr.to_tensors(dts, steps)
        for tag, neuron in ((f"direct-{steps}steps", hc.student_neuron), (f"direct-{steps}steps-cuba", "cuba")):
            cfg_d = student_config(cfg, replace(hc, student_neuron=neuron), ds.duration_us)
            c = Clock()
            r = train_model(cfg_d, tc(), x_tr_s, tr.labels)
            record(tag, r.model, cfg_d, c.read(), x_va_s, full_bytes)
    teachers, teacher_t = None, (0.0, 0.0)
    budget = get_budget(a.budget)
    if "distill" in a.groups or "ablation" in a.groups:
        c = Clock()
        teachers, _ = train_teachers(
            cfg,
            x_tr,
            tr.labels,
            [seed + 1000 * k for k in range(budget.teacher_seeds)],
            a.epochs,
            first=snapshots,
            threads=a.threads,
        )
        extra = c.read()  # all teacher training is distillation cost
        teacher_t = (full_t[0] + extra[0], full_t[1] + extra[1])

    def distilled(name, method, ipc, **kw):
        dc = DistillConfig(
            ipc=ipc,
            iterations=budget.iterations,
            seed=seed,
            progress=False,
            frequencies=budget.frequencies,
            real_batch=budget.real_batch,
            **kw,
        )
        c = Clock()
        dd = distill(method, x_tr, tr.labels, dc, teacher=teachers if method == "pace" else None, model_cfg=cfg)
        w, u = c.read()
        prep = (w + teacher_t[0], u + teacher_t[1]) if method == "pace" else (w, u)
        ep, _ = distilled_epochs(len(dd.frames))
        # DC/DM/NCFM evaluate a distilled set by training several fresh networks on it: the
        # set's figure is their mean (one student's initialisation moves it by several points)
        per, times = [], []
        for k in range(a.students):
            c = Clock()
            r = train_model(cfg, tc(epochs=ep, augment=dc.augment, seed=seed + 100 * k), dd.frames, dd.labels)
            times.append(c.read())
            per.append(score(f"{name}-s{k}", r.model, cfg, x_va))
        scores = {key: float(np.mean([q[key] for q in per])) for key in per[0]}
        record(
            name,
            None,
            cfg,
            tuple(np.mean(times, axis=0)),
            x_va,
            int(np.packbits(dd.frames).nbytes),
            prep,
            scores=scores,
            students=a.students,
            deployed_per_student=[q["deployed"] for q in per],
            loss_first=float(np.mean(dd.history[:5])) if dd.history else 0.0,
            loss_last=float(np.mean(dd.history[-5:])) if dd.history else 0.0,
            density=float(dd.frames.mean()),
        )

    if "distill" in a.groups:
        for ipc in a.ipc:
            for m in ("pace", "dm", "prototype", "random"):
                distilled(f"distill-{m}-ipc{ipc}", m, ipc)
    if "ablation" in a.groups and seed == a.first_seed:
        ipc = max(a.ipc)
        distilled(f"ablation-pace-noaug-ipc{ipc}", "pace", ipc, augment="none")
        distilled(f"ablation-pace-timepool-ipc{ipc}", "pace", ipc, cf_pooling="time")
        distilled(f"ablation-random-noaug-ipc{ipc}", "random", ipc, augment="none")
        t0 = teachers
        teachers = snapshots.models(cfg)  # one teacher run
        distilled(f"ablation-pace-1run-ipc{ipc}", "pace", ipc)
        teachers = t0
    return out


def limit_option(a) -> dict:
    """``load_dataset`` keyword for ``--limit`` (none given: the loader's default)."""
    return {} if a.limit is None else {"limit": a.limit}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--dataset", default="nmnist")
    ap.add_argument("--root", default=None)
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        help="recordings to load (mnist-dvs: images through the emulator, default 10,000; 0 = all 60,000)",
    )
    ap.add_argument("--arch", nargs="+", default=["dense", "conv"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--finetune-epochs", type=int, default=4)
    ap.add_argument("--hsd-epochs", type=int, default=6)
    ap.add_argument("--dt-us", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--ipc", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--budget", default="standard")
    ap.add_argument(
        "--students",
        type=int,
        default=5,
        help="fresh networks trained on each distilled set; its figures are their mean (DC/DM/NCFM protocol)",
    )
    ap.add_argument(
        "--prune",
        nargs="+",
        metavar="METHOD:KEEP",
        default=["sadp:0.5", "sadp-plain:0.5", "random:0.5", "el2n:0.5", "infobatch:0.5", "sadp:0.7", "random:0.7"],
    )
    ap.add_argument("--groups", nargs="+", default=list(GROUPS), choices=GROUPS)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "efficient_training_nmnist"))
    ap.add_argument("--replot", default=None, metavar="JSON", help="only rebuild table + plot from a run's JSON")
    ap.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="combine runs made in separate processes (e.g. one per seed or arch) into --out",
    )
    ap.add_argument("--workers", type=int, default=1, help="(seed, arch) units in parallel local processes")
    ap.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads per unit (1 when units run side by side: spinning threads inflate CPU time)",
    )
    ap.add_argument("--ray", action="store_true", help="units as Ray tasks (join or start a local Ray)")
    ap.add_argument("--ray-address", default=None, help="units on the Ray cluster at HOST:PORT|auto")
    a = ap.parse_args()
    if a.replot:
        return replot(a.replot)
    if a.merge:
        return merge(a.merge, a.out)
    from neuro_deploy.cluster import Execution, run_tasks
    from neuro_deploy.data import load_dataset

    execution = Execution.from_options(a.workers, a.ray, a.ray_address)
    n_train = len(
        load_dataset(a.dataset, root=a.root, progress=True, **limit_option(a)).split(a.val_fraction, a.first_seed)[0]
    )
    units = [(seed, arch) for seed in range(a.first_seed, a.first_seed + a.seeds) for arch in a.arch]
    args = {k: v for k, v in vars(a).items() if k not in ("workers", "ray", "ray_address", "replot", "merge")}
    done: dict[int, tuple[dict, float]] = {}

    def on_result(i: int, result: tuple[dict, float]) -> None:  # rows written after every unit
        done[i] = result
        write_table(a, n_train, *collect(units, done, a.arch))

    run_tasks(
        run_unit,
        [(seed, arch, args) for seed, arch in units],
        execution,
        keys=[f"{arch}-seed{seed}" for seed, arch in units],
        on_result=on_result,
    )
    print(write_table(a, n_train, *collect(units, done, a.arch)))


def collect(
    units: list[tuple[int, str]], done: dict[int, tuple[dict, float]], archs: list[str]
) -> tuple[dict[str, list], dict[str, float]]:
    """Finished units in task order: rows per arch (seeds in order) and wall seconds per unit."""
    runs: dict[str, list] = {arch: [] for arch in archs}
    walls: dict[str, float] = {}
    for i, (seed, arch) in enumerate(units):
        if i in done:
            runs[arch].append(done[i][0])
            walls[f"{arch}-seed{seed}"] = done[i][1]
    return runs, walls


def summarize(runs: list[dict]) -> list[dict]:
    """Mean/std over seeds of every row present in all of them, and ratios to ``full``."""
    names = [n for n in runs[0] if all(n in r for r in runs)]

    def val(rec: dict, k: str) -> float:  # first-version files have wall times only
        return rec.get(k, rec.get(k.replace("_cpu_s", "_s"), 0.0))

    base = {k: np.mean([val(r["full"], k) for r in runs]) for k in KEYS}
    rows = []
    for n in names:
        v = {k: np.array([val(r[n], k) for r in runs], float) for k in KEYS}
        row = {
            "method": n,
            "seeds": len(runs),
            **{f"{k}_mean": float(v[k].mean()) for k in KEYS},
            **{f"{k}_std": float(v[k].std()) for k in KEYS},
            "accuracy_vs_full": v["float"].mean() / base["float"],
            "deployed_vs_full": v["deployed"].mean() / base["deployed"],
            "train_time_vs_full": v["train_cpu_s"].mean() / base["train_cpu_s"],
            "total_time_vs_full": (v["train_cpu_s"].mean() + v["prep_cpu_s"].mean()) / base["train_cpu_s"],
            "storage_vs_full": v["bytes"].mean() / base["bytes"],
        }
        if "curve" in runs[0][n] and n != "full":  # time to reach the full model's accuracy
            reach = []
            for r in runs:
                hit = [s for s, acc in r[n]["curve"] if acc >= r["full"]["float"] - 1e-9]
                reach.append(hit[0] / val(r["full"], "train_cpu_s") if hit else float("nan"))
            row["time_to_full_accuracy_vs_full"] = float(np.nanmean(reach)) if not np.all(np.isnan(reach)) else None
            row["reached_full_accuracy"] = int(np.sum(~np.isnan(reach)))
        if "agreement" in runs[0][n]:
            ag = [e for r in runs for e in r[n]["agreement"]]
            row["spearman_vs_plain_bound"] = float(np.mean([e["spearman"] for e in ag])) if ag else None
            row["top_k_overlap_vs_plain_bound"] = float(np.mean([e["top_k_overlap"] for e in ag])) if ag else None
        rows.append(row)
    return rows


def write_table(a, n_train: int, runs: dict[str, list], walls: dict[str, float]) -> str:
    """Rows per arch -> JSON, Markdown and a PNG beside --out."""
    md, all_rows = [], {}
    for arch, rr in runs.items():
        if not rr:
            continue
        rows = summarize(rr)
        all_rows[arch] = rows
        md += [
            f"**{arch}** on `{a.dataset}` ({n_train} training samples, {len(rr)} seed(s), {a.steps} steps of "
            f"{a.dt_us // 1000} ms, {a.epochs} epochs for full data; distillation budget `{a.budget}`)",
            "",
            "| method | float acc | deployed acc | train CPU s | prep CPU s | data bytes | µJ/inf | latency µs "
            "| acc / full | train time / full | (train+prep) / full | storage / full |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            md.append(
                f"| {r['method']} | {r['float_mean']:.3f} ± {r['float_std']:.3f} | {r['deployed_mean']:.3f} ± "
                f"{r['deployed_std']:.3f} | {r['train_cpu_s_mean']:.1f} | {r['prep_cpu_s_mean']:.1f} | "
                f"{int(r['bytes_mean'])} | {r['energy_uj_mean']:.1f} | {r['latency_us_mean']:.0f} | "
                f"{r['accuracy_vs_full']:.3f} | {r['train_time_vs_full']:.3f} | {r['total_time_vs_full']:.3f} | "
                f"{r['storage_vs_full']:.4f} |"
            )
        extra = [
            r
            for r in rows
            if r.get("time_to_full_accuracy_vs_full") is not None
            or r.get("spearman_vs_plain_bound") is not None
            or "reached_full_accuracy" in r
        ]
        for r in extra:
            if "reached_full_accuracy" in r:
                md.append(
                    f"\n{r['method']}: reached the full model's float accuracy in {r['reached_full_accuracy']}"
                    f"/{r['seeds']} seeds"
                    + (
                        f", at {r['time_to_full_accuracy_vs_full']:.3f} x full's time"
                        if r.get("time_to_full_accuracy_vs_full") is not None
                        else ""
                    )
                )
            if r.get("spearman_vs_plain_bound") is not None:
                md.append(
                    f"\n{r['method']}: SADP score vs plain last-layer bound - Spearman "
                    f"{r['spearman_vs_plain_bound']:.3f}, top-K overlap {r['top_k_overlap_vs_plain_bound']:.3f}"
                )
        md.append("")
    md.append("Wall time per (arch, seed): " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()))
    text = "\n".join(md)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from neuro_deploy._io import atomic_path

    with atomic_path(out.with_suffix(".json"), ".json") as tmp:
        Path(tmp).write_text(
            json.dumps(
                {"args": vars(a), "n_train": n_train, "rows": all_rows, "runs": runs, "walls": walls},
                indent=1,
                default=float,
            )
        )
    with atomic_path(out.with_suffix(".md"), ".md") as tmp:
        Path(tmp).write_text(text + "\n")
    plot(all_rows, f"{a.dataset} ({n_train} training samples)", out.with_suffix(".png"))
    return text


def plot(all_rows: dict[str, list[dict]], title: str, path: Path) -> None:
    """Deployed accuracy vs training time (relative to full data) per arch, and energy per inference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro_deploy._io import atomic_path

    archs = list(all_rows)
    fig, axes = plt.subplots(
        1, len(archs) + 1, figsize=(7 * len(archs) + 5, 6), gridspec_kw={"width_ratios": [3] * len(archs) + [2]}
    )
    colours = {
        "full": "k",
        "prune": "tab:blue",
        "pipeD": "tab:green",
        "hsd": "tab:orange",
        "direct": "tab:brown",
        "distill": "tab:red",
        "ablation": "tab:pink",
    }
    for ax, arch in zip(axes, archs):
        for r in all_rows[arch]:
            c = colours.get(r["method"].split("-")[0], "grey")
            ax.errorbar(
                r["total_time_vs_full"], r["deployed_mean"], yerr=r["deployed_std"], fmt="o", color=c, capsize=3
            )
            ax.annotate(
                r["method"],
                (r["total_time_vs_full"], r["deployed_mean"]),
                fontsize=6,
                xytext=(3, 2),
                textcoords="offset points",
            )
        ax.set_xscale("log")
        ax.set_xlabel("CPU time / full-data training (incl. one-off distillation)")
        ax.set_ylabel("deployed accuracy (fixed point, fast backend)")
        ax.set_title(f"{title} - {arch}")
        ax.grid(alpha=0.3)
    bx = axes[-1]
    names, vals, cols = [], [], []
    for arch in archs:
        for r in all_rows[arch]:
            names.append(f"{arch}:{r['method']}")
            vals.append(r["energy_uj_mean"])
            cols.append(colours.get(r["method"].split("-")[0], "grey"))
    bx.barh(names, vals, color=cols)
    bx.invert_yaxis()
    bx.tick_params(axis="y", labelsize=5)
    bx.set_xlabel("loihi2-sim energy per inference (µJ)")
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def replot(json_path: str) -> None:
    """Rebuild the table and plot of an earlier run from its JSON."""
    d = json.loads(Path(json_path).read_text())
    args = {"dt_us": 10_000, "steps": 30, "budget": "(iterations)", **d["args"]}
    a = argparse.Namespace(**{**args, "out": str(Path(json_path).with_suffix(""))})
    runs = d["runs"] if isinstance(d["runs"], dict) else {"dense": d["runs"]}  # first-version files
    print(write_table(a, d["n_train"], runs, d.get("walls", {})))


def merge(paths: list[str], out: str) -> None:
    """One table from several runs' JSON. Runs of different seeds are concatenated per arch; a
    later file's run of an (arch, seed) already seen adds its methods to it and replaces the
    rows of methods it re-ran (e.g. one group re-run after a change), except ``full``, the
    reference every ratio of the earlier rows was measured against: the first file's stays,
    and a re-run whose ``full`` accuracy differs (not the same training) is refused."""
    runs: dict[str, dict[int, dict]] = {}
    walls: dict[str, float] = {}
    args = None
    for p in paths:
        d = json.loads(Path(p).read_text())
        args = args or d["args"]
        first = d["args"].get("first_seed", 0)
        for arch, rr in (d["runs"] if isinstance(d["runs"], dict) else {"dense": d["runs"]}).items():
            for k, r in enumerate(rr):
                seed = first + k
                old = runs.setdefault(arch, {}).get(seed)
                if old is None:
                    runs[arch][seed] = dict(r)
                    continue
                if "full" in r and "full" in old and r["full"]["deployed"] != old["full"]["deployed"]:
                    raise SystemExit(f"{p}: {arch} seed {seed} has another full-data result than an earlier file")
                replaced = sorted(m for m in r if m in old and m != "full")
                old.update({m: v for m, v in r.items() if m != "full"})
                if replaced:
                    print(f"{p}: {arch} seed {seed}: replaces {', '.join(replaced)}")
        for key, w in d.get("walls", {}).items():
            walls[key] = walls.get(key, 0.0) + w
        n_train = d["n_train"]
    ordered = {arch: [by_seed[s] for s in sorted(by_seed)] for arch, by_seed in runs.items()}
    n = max(len(v) for v in ordered.values())
    a = argparse.Namespace(**{**args, "out": out, "seeds": n, "arch": list(ordered)})
    print(write_table(a, n_train, ordered, walls))


if __name__ == "__main__":
    main()
