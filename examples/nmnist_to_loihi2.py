"""Real N-MNIST to a simulated Loihi 2: train, export, fit, Lava vs fast, float vs deployed, energy.

    python examples/nmnist_to_loihi2.py [--fast] [--out out/examples/nmnist]

Needs the 1,000 real N-MNIST samples in ../shared/fixtures/events/nmnist (or
$NEURO_DEPLOY_SHARED/fixtures/...). ``--fast`` (or NEURO_DEPLOY_EXAMPLES_FAST=1): one
epoch of a small network at 10 ms steps, 4 recordings in Lava - what the test suite runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

import neuro_deploy as nd

SKIP = 77  # exit status when the data is not there (the test suite skips on it)


def fixtures() -> Path:
    shared = Path(os.environ.get("NEURO_DEPLOY_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
    return shared / "fixtures"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", default=os.environ.get("NEURO_DEPLOY_EXAMPLES_FAST") == "1")
    ap.add_argument("--out", default="out/examples/nmnist")
    a = ap.parse_args()
    root = fixtures() / "events" / "nmnist"
    if not root.is_dir():
        print(f"skipped: real N-MNIST not found at {root} (../shared/fixtures is absent; set NEURO_DEPLOY_SHARED)")
        return SKIP
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs, hidden, dt_us, steps, lava_n, report_n = (
        (1, (32,), 10_000, 30, 4, 100) if a.fast else (12, (128,), 5000, 60, 40, 200)
    )

    data = nd.load_dataset("nmnist", root=root)
    print(
        f"N-MNIST: {len(data)} real recordings, {data.sensor[0]}x{data.sensor[1]}, "
        f"{data.duration_us / 1000:.0f} ms, classes {np.bincount(data.labels).tolist()}"
    )

    model = nd.train(data, out / "model.pt", hidden=hidden, epochs=epochs, dt_us=dt_us, num_steps=steps)
    print(
        f"trained SLAYER 2x34x34 -> {hidden} -> 10 on {model.train_samples} recordings in "
        f"{model.train_seconds:.1f} s; split recorded: {model.split.describe()}"
    )

    result = nd.deploy(model, data, out=out / "model.net")  # export -> fit -> fast -> energy
    print("\n" + str(result) + "\n")

    # the same held-out recordings on Lava's bit-accurate simulator and on the fast backend
    lava = nd.evaluate(result.netx, data, backend="lava", limit=lava_n)
    fast = nd.evaluate(result.netx, data, backend="fast", limit=lava_n)
    same = bool(np.array_equal(lava.deployed.predictions, fast.deployed.predictions))
    counts = [c.totals() for c in lava.deployed.counts] == [c.totals() for c in fast.deployed.counts]
    print(
        f"Lava Loihi2SimCfg(fixed_pt) vs fast on {lava.samples} held-out recordings: accuracy "
        f"{lava.accuracy:.3f} vs {fast.accuracy:.3f}, predictions identical: {same}, spike and synop "
        f"counts identical: {counts} (Lava {lava.wall_s:.1f} s, fast {fast.wall_s:.2f} s)"
    )

    report = nd.report(result.netx, dataset="nmnist", root=root, limit=report_n)
    path = report.save(out / "report.html")
    r = report.reports[0]
    e_lo, e_hi = r["energy_per_inference_uj_band"]
    print(
        f"energy report -> {path}: {r['energy_per_inference_uj']:.3g} uJ per inference (band {e_lo:.3g} - "
        f"{e_hi:.3g}), latency {r['latency_us']:.3g} us, {r['cores']} cores, accuracy {r['accuracy']:.3f} "
        f"on {r['samples']} held-out recordings"
    )
    ok = same and counts and result.fits
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
