"""Two models side by side in one HTML report: a dense and a conv SNN on the same digits.

    python examples/compare_models.py [--fast] [--out out/examples/compare]

Both are trained on the embedded digits with the same split (recorded in both checkpoints),
exported for Loihi 2, and reported together (``neuro_deploy.report``): accuracy, energy and
latency per inference with their uncertainty bands, cores, the per-core table and spike
rasters, one column per model - written as one HTML page.
``--fast`` (or NEURO_DEPLOY_EXAMPLES_FAST=1): one epoch each, 100 samples - what the test suite runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import neuro_deploy as nd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", default=os.environ.get("NEURO_DEPLOY_EXAMPLES_FAST") == "1")
    ap.add_argument("--out", default="out/examples/compare")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs, limit = (1, 100) if a.fast else (10, 359)
    data = nd.load_dataset("digits")
    common = dict(dt_us=10_000, num_steps=30, epochs=epochs, seed=0)
    models = {
        "dense 128": nd.train(data, out / "dense.pt", hidden=(128,), **common),
        "conv 8c5s2-16c3s2": nd.train(data, out / "conv.pt", conv=((8, 5, 2), (16, 3, 2)), hidden=(), **common),
    }
    nets = []
    for name, m in models.items():
        rep = nd.export(m, Path(m.checkpoint).with_suffix(".net"), profile="loihi2")
        nets.append(rep.path)
        print(
            f"{name}: trained in {m.train_seconds:.1f} s, float accuracy {m.float_accuracy:.3f}; "
            f"exported {rep.path} ({rep.fit['cores']} cores)"
        )
    report = nd.report(nets, dataset="digits", limit=limit)
    path = report.save(out / "compare.html")
    print(f"\n{'':24s}" + "".join(f"{n:>22s}" for n in models))
    for key, label, fmt in [
        ("accuracy", "deployed accuracy", "{:.3f}"),
        ("energy_per_inference_uj", "uJ / inference", "{:.4g}"),
        ("latency_us", "latency us", "{:.4g}"),
        ("cores", "cores", "{}"),
        ("synops", "synops / inference", "{:.4g}"),
        ("spikes", "spikes / inference", "{:.4g}"),
    ]:
        print(f"{label:24s}" + "".join(f"{fmt.format(r[key]):>22s}" for r in report.reports))
    print(f"\none report of both models -> {path} ({Path(path).stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
