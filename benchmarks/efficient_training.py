"""Efficient-training methods side by side: accuracy (float and deployed fixed point),
training wall time, data-set storage, ratios vs full-data training; mean ± std over seeds.

    .venv/bin/python benchmarks/efficient_training.py [--seeds 3] [--dataset digits] [--root R]
        [--epochs 10] [--distill-iterations 60] [--out benchmarks/results/efficient_training]

Methods: full data; SADP / random / EL2N / InfoBatch at keep 0.5; ANN pretraining (event
rates) + 1 epoch fine-tuning; HSD (10 teacher frames, 8 student steps); PACE / DM / random
real subset at IPC 10 (training a fresh SNN on the distilled frames; distillation time is
counted in the wall time). Deployed accuracy = the exported netx model on the fast
backend (bit-exact Loihi fixed point). Writes JSON and Markdown next to --out.
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


def deployed(model_path: Path, x: np.ndarray, y: np.ndarray) -> float:
    from neuro_deploy.netx import load_netx
    from neuro_deploy.netx.export import export_model
    from neuro_deploy.sim.evaluate import evaluate_deployed

    net_path = model_path.with_suffix(".net")
    export_model(model_path, net_path, verify_inputs=np.zeros((0,)))
    return float(evaluate_deployed(load_netx(net_path), x, y).accuracy)


def run_seed(seed: int, a, ds, d: Path) -> dict[str, dict]:
    from neuro_deploy.data.distill import DistillConfig, distill
    from neuro_deploy.models import ModelConfig, TrainConfig, save_checkpoint, train_model
    from neuro_deploy.models.hsd import HSDConfig, train_hsd
    from neuro_deploy.models.pretrain import calibrate_transfer, pretrain_ann, rate_inputs, transfer_to_slayer
    from neuro_deploy.models.pruning import make_selector
    from neuro_deploy.models.slayer_model import evaluate

    tr, va = ds.split(0.2, seed)
    cfg = ModelConfig(input_shape=(2, ds.sensor[1], ds.sensor[0]), hidden=(128,), dt_us=10_000, num_steps=30)
    x_tr, x_va = tr.to_tensors(cfg.dt_us, cfg.num_steps), va.to_tensors(cfg.dt_us, cfg.num_steps)
    full_bytes = int(np.packbits(x_tr).nbytes)
    out: dict[str, dict] = {}

    def record(name, model, mcfg, seconds, x_eval, nbytes):
        p = d / f"{name}-{seed}.pt"
        save_checkpoint(model, mcfg, p)
        out[name] = {"float": evaluate(model, x_eval, va.labels)[0], "deployed": deployed(p, x_eval, va.labels),
                     "seconds": seconds, "bytes": nbytes}

    t = time.perf_counter()
    full = train_model(cfg, TrainConfig(epochs=a.epochs, seed=seed, progress=False), x_tr, tr.labels)
    record("full", full.model, cfg, time.perf_counter() - t, x_va, full_bytes)
    for m in ("sadp", "random", "el2n", "infobatch"):
        t = time.perf_counter()
        r = train_model(cfg, TrainConfig(epochs=a.epochs, seed=seed, progress=False), x_tr, tr.labels,
                        selector=make_selector(m, len(x_tr), 0.5, a.epochs, seed))
        record(f"prune-{m}-0.5", r.model, cfg, time.perf_counter() - t, x_va, full_bytes)
    t = time.perf_counter()
    pre = pretrain_ann(cfg, rate_inputs(x_tr), tr.labels, epochs=15, seed=seed)
    scale, _ = calibrate_transfer(pre.ann, cfg, x_tr[:200], tr.labels[:200])
    r = train_model(cfg, TrainConfig(epochs=1, seed=seed, lr=3e-5, progress=False), x_tr, tr.labels,
                    init=lambda mdl: transfer_to_slayer(pre.ann, mdl, scale))
    record("pretrain-ann+1ep", r.model, cfg, time.perf_counter() - t, x_va, full_bytes)
    t = time.perf_counter()
    h = train_hsd(cfg, HSDConfig(teacher_frames=10, student_steps=8, student_epochs=2, seed=seed), tr)
    dt8 = int(np.ceil(ds.duration_us / 8))
    cfg8 = ModelConfig(**{**cfg.__dict__, "dt_us": dt8, "num_steps": 8})
    record("hsd-8steps", h.model, cfg8, time.perf_counter() - t, va.to_tensors(dt8, 8), full_bytes)
    teacher = full.model
    for m in ("pace", "dm", "random"):
        t = time.perf_counter()
        dd = distill(m, x_tr, tr.labels, DistillConfig(ipc=10, iterations=a.distill_iterations, seed=seed,
                                                       progress=False), teacher=teacher, model_cfg=cfg)
        r = train_model(cfg, TrainConfig(epochs=60, seed=seed, progress=False), dd.frames, dd.labels)
        record(f"distill-{m}-ipc10", r.model, cfg, time.perf_counter() - t, x_va, int(np.packbits(dd.frames).nbytes))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--root", default=None)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--distill-iterations", type=int, default=60)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "efficient_training"))
    a = ap.parse_args()
    from neuro_deploy.data import load_dataset

    ds = load_dataset(a.dataset, root=a.root, progress=False)
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for seed in range(a.seeds):
            runs.append(run_seed(seed, a, ds, Path(d)))
            print(f"seed {seed} done", flush=True)
    names = list(runs[0])
    rows = []
    base = {k: np.mean([r["full"][k] for r in runs]) for k in ("float", "seconds", "bytes")}
    for n in names:
        v = {k: np.array([r[n][k] for r in runs], float) for k in ("float", "deployed", "seconds", "bytes")}
        rows.append({"method": n, "float_mean": v["float"].mean(), "float_std": v["float"].std(),
                     "deployed_mean": v["deployed"].mean(), "deployed_std": v["deployed"].std(),
                     "seconds_mean": v["seconds"].mean(), "bytes": int(v["bytes"].mean()),
                     "accuracy_vs_full": v["float"].mean() / base["float"],
                     "time_vs_full": v["seconds"].mean() / base["seconds"],
                     "storage_vs_full": v["bytes"].mean() / base["bytes"]})
    md = [f"Efficient training on `{a.dataset}` ({a.seeds} seeds, SLAYER 2312-128-10, 30 steps of 10 ms; "
          "deployed = netx on the bit-exact fast backend)", "",
          "| method | float acc | deployed acc | train time (s) | data bytes | acc / full | time / full | storage / full |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['method']} | {r['float_mean']:.3f} ± {r['float_std']:.3f} | {r['deployed_mean']:.3f} ± "
                  f"{r['deployed_std']:.3f} | {r['seconds_mean']:.1f} | {r['bytes']} | {r['accuracy_vs_full']:.3f} | "
                  f"{r['time_vs_full']:.3f} | {r['storage_vs_full']:.4f} |")
    text = "\n".join(md)
    print(text)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "runs": runs}, indent=2, default=float))
    out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
