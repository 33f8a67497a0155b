"""HSD at a quarter of the steps on the real N-MNIST fixture: where the student's accuracy goes.

    .venv/bin/python benchmarks/hsd_probe.py [--arch dense|conv] [--seeds 0 1 2] [--student-epochs 6]
        [--clip-init 8]   # HSD code's constant QCFS clip instead of the data-based start
        [--set step_output=current student_neuron=cuba lr=0.001 ...]   # any other HSDConfig field
        [--model-set current_decay=1 voltage_decay=0 ...]   # ModelConfig fields of the network

Per seed (the benchmark's stratified 80/20 split): the QCFS teacher's accuracy on the training
and the held-out split (10 frames), the converted student's accuracy before fine-tuning (200
training samples, as :func:`neuro_deploy.models.hsd.train_hsd` calibrates), the fine-tuned
student's held-out accuracy at 8 steps under three readouts of its output spikes - argmax of
counts with ties to the lowest index (SLAYER's ``Rate.predict``, the project's rule), the
expected accuracy with ties broken at random, ties broken by the earliest first spike - and
the share of held-out samples whose top count is tied. One JSON line per seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def readouts(spikes: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """(N, classes, T) output spikes -> accuracy under the three tie rules, and the tied share."""
    counts = spikes.sum(-1)
    tied = counts == counts.max(1, keepdims=True)
    steps = spikes.shape[-1]
    first = np.where(spikes.any(-1), spikes.argmax(-1), steps)  # step of each class's first spike
    return {
        "argmax_lowest_index": float((counts.argmax(1) == y).mean()),
        "random_tiebreak_expected": float((tied[np.arange(len(y)), y] / tied.sum(1)).mean()),
        "first_spike_tiebreak": float(((counts * (steps + 1) - first).argmax(1) == y).mean()),
        "tied_share": float((tied.sum(1) > 1).mean()),
    }


def parse_fields(pairs: list[str]) -> dict:
    """``FIELD=VALUE`` pairs -> dict, numbers parsed as JSON, everything else kept as text."""
    return {k: json.loads(v) if v[:1].isdigit() or v[:1] == "-" else v for k, v in (kv.split("=", 1) for kv in pairs)}


def main() -> None:
    import torch

    from neuro_deploy.data import load_dataset
    from neuro_deploy.models.arch import dataset_config
    from neuro_deploy.models.hsd import HSDConfig, frames, train_hsd
    from neuro_deploy.models.slayer_model import with_drain

    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/fixtures/events/nmnist"))
    ap.add_argument("--arch", default="dense")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--student-epochs", type=int, default=6)
    ap.add_argument("--clip-init", type=float, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="other HSDConfig fields")
    ap.add_argument("--model-set", nargs="*", default=[], metavar="FIELD=VALUE", help="ModelConfig fields")
    a = ap.parse_args()
    fields = parse_fields(a.set)
    model_fields = parse_fields(a.model_set)
    torch.set_num_threads(1)
    ds = load_dataset("nmnist", root=a.root, progress=False)
    for seed in a.seeds:
        tr, va = ds.split(0.2, seed)
        cfg = replace(dataset_config(a.arch, ds, 10_000, 30), **model_fields)
        t0 = time.process_time()
        hc = HSDConfig(
            **{
                "teacher_frames": 10,
                "student_steps": a.steps,
                "student_epochs": a.student_epochs,
                "seed": seed,
                "clip_init": a.clip_init,
                **fields,
            }
        )
        h = train_hsd(cfg, hc, tr)
        with torch.no_grad():
            teacher_val = float(
                (h.teacher.logits(torch.from_numpy(frames(va, 10))).argmax(-1).numpy() == va.labels).mean()
            )
            h.model.eval()
            x = with_drain(va.to_tensors(h.config.dt_us, a.steps), len(h.model.synaptic_blocks()))
            spikes = h.model(torch.from_numpy(x).float()).numpy()
        row = {
            "arch": a.arch,
            "seed": seed,
            "student_epochs": a.student_epochs,
            **fields,
            **model_fields,
            "clips": [round(c, 4) for c in h.clips],
            "teacher_train": h.teacher_accuracy,
            "teacher_val": teacher_val,
            "converted_train200": h.converted_accuracy,
            **readouts(spikes, va.labels),
            "cpu_s": round(time.process_time() - t0, 1),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
