"""PACE variants on the real N-MNIST fixture, one seed at a time: the seed's split and its
teacher pool (2 runs x 10 epochs of snapshots, the `standard` budget's as the benchmark
builds it) are trained once and cached, then each variant distills, ``--students`` fresh
networks train on its frames (``models.recipes.distilled_epochs``, DSA) and their mean float
and deployed (fast backend) accuracy on the validation split is appended to ``--out``.

    .venv/bin/python benchmarks/pace_variants.py --seed 0 --ipc 10 --variants base f4 random prototype

A cheaper companion of ``efficient_training.py --groups ablation`` for asking one question
(e.g. which CF frequency scale) on one seed. Variants: :data:`VARIANTS`, plus the baselines
``random``, ``prototype`` and ``dm``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


VARIANTS = {
    "base": {},
    "f4": {"frequency_scale": 4.0},  # the first reconstruction's CF frequencies
    "lr001": {"lr": 0.001},
    "lr003": {"lr": 0.003},
    "sgd": {"optimizer": "sgd", "lr": 1.0},
    "sgd10": {"optimizer": "sgd", "lr": 10.0},
    "noaug": {"augment": "none"},
    "timepool": {"cf_pooling": "time"},
    "nearest": {"rounding": "nearest"},
    "calib": {"calib_weight": 1.0},
    "all": {"layers": "all"},
    "notemp": {"temporal_weight": 0.0},
    "f1": {"frequency_scale": 1.0},
    "f1_meaninit": {"frequency_scale": 1.0, "init_real_weight": 0.0},
    "f1_lr001": {"frequency_scale": 1.0, "lr": 0.001},
    "f1_nomom": {"frequency_scale": 1.0, "moment_weight": 0.0},
    "f1_mom01": {"frequency_scale": 1.0, "moment_weight": 0.1},
    "momonly": {"cf_weight": 0.0, "temporal_weight": 0.0},  # the first-moment term alone
    "cfonly": {"moment_weight": 0.0, "temporal_weight": 0.0},  # the CF term (amplitude + phase) alone
    "paperbatch": {"frequencies": 1024, "real_batch": 64},  # the `paper` budget's CF draws and real batch
    "meaninit": {"init_real_weight": 0.0},
    "halfinit": {"init_real_weight": 0.5},
    "meaninit_nearest": {"init_real_weight": 0.0, "rounding": "nearest"},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--teachers", default="all", help="all|final|late")
    ap.add_argument("--variants", nargs="+", default=["base"])
    ap.add_argument("--set", nargs="*", default=[], help="extra k=v for every variant")
    ap.add_argument("--students", type=int, default=5)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/fixtures/events/nmnist"))
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "neuro-deploy" / "pace_variants"))
    ap.add_argument("--out", default="pace_variants.jsonl")
    a = ap.parse_args()
    from neuro_deploy.data import load_dataset
    from neuro_deploy.data.distill import DistillConfig, distill
    from neuro_deploy.models import TrainConfig, save_checkpoint, train_model
    from neuro_deploy.models.arch import dataset_config
    from neuro_deploy.models.recipes import distilled_epochs, train_teachers
    from neuro_deploy.models.slayer_model import build_model, evaluate
    from neuro_deploy.sweep.training import deployed

    torch.set_num_threads(1)
    ds = load_dataset("nmnist", root=a.root, progress=False)
    tr, va = ds.split(0.2, a.seed)
    cfg = dataset_config("dense", ds, 10_000, 30)
    x_tr, x_va = tr.to_tensors(cfg.dt_us, cfg.num_steps), va.to_tensors(cfg.dt_us, cfg.num_steps)
    Path(a.cache).mkdir(parents=True, exist_ok=True)
    ck = Path(a.cache) / f"teachers-{a.seed}.pt"
    if ck.is_file():
        states = torch.load(ck, weights_only=False)
    else:
        models, _ = train_teachers(cfg, x_tr, tr.labels, [a.seed + 1000 * k for k in range(2)], 10)
        states = [m.state_dict() for m in models]
        torch.save(states, ck)
    teachers = []
    for st in states:
        m = build_model(cfg)
        m.load_state_dict(st)
        teachers.append(m)
    sel = {"all": teachers, "final": [teachers[9], teachers[19]], "late": teachers[5:10] + teachers[15:20]}[a.teachers]
    print(
        f"x_tr {x_tr.shape} density {x_tr.mean():.4f}; teacher acc (final) "
        f"{evaluate(teachers[9], x_va, va.labels)[0]:.3f}",
        flush=True,
    )
    extra = {}
    for kv in a.set:
        k, v = kv.split("=")
        extra[k] = (
            type(getattr(DistillConfig(), k))(v) if not isinstance(getattr(DistillConfig(), k), bool) else v == "1"
        )
    for name in a.variants:
        method = "pace"
        kw = dict(VARIANTS.get(name, {}))
        if name in ("random", "prototype", "dm"):
            method, kw = name, {}
        kw.update(extra)
        dc = DistillConfig(
            **{"ipc": a.ipc, "iterations": a.iterations, "seed": a.seed, "frequencies": 256, "real_batch": 32, **kw},
            progress=False,
        )
        t0 = time.perf_counter()
        dd = distill(method, x_tr, tr.labels, dc, teacher=sel if method == "pace" else None, model_cfg=cfg)
        dt = time.perf_counter() - t0
        ep, _ = distilled_epochs(len(dd.frames))
        t_acc = evaluate(teachers[19], dd.frames.astype(np.float32), dd.labels)[0]
        fl, de = [], []
        for k in range(a.students):
            r = train_model(
                cfg,
                TrainConfig(epochs=ep, seed=a.seed + 100 * k, progress=False, augment=dc.augment, threads=1),
                dd.frames,
                dd.labels,
            )
            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / "m.pt"
                save_checkpoint(r.model, cfg, p)
                de.append(deployed(p, x_va, va.labels)["deployed"])
            fl.append(evaluate(r.model, x_va, va.labels)[0])
        row = {
            "seed": a.seed,
            "ipc": a.ipc,
            "variant": name,
            "method": method,
            "teachers": a.teachers,
            "set": a.set,
            "iterations": a.iterations,
            "float": float(np.mean(fl)),
            "deployed": float(np.mean(de)),
            "deployed_all": de,
            "students": a.students,
            "density": float(dd.frames.mean()),
            "teacher_acc_on_syn": t_acc,
            "loss_first": float(np.mean(dd.history[:5])) if dd.history else 0.0,
            "loss_last": float(np.mean(dd.history[-5:])) if dd.history else 0.0,
            "distill_s": dt,
        }
        print(json.dumps(row), flush=True)
        with open(a.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
