"""Replay throughput end to end (decode + bin + simulate + count), recordings per second,
with the stage breakdown; side by side with replay as it was before the speed work.

    .venv/bin/python benchmarks/replay_throughput.py [--nmnist 400] [--gesture-copies 4] [--rounds 3]
                                                     [--workers 1] [--baseline-rev 6cb6efe] [--json out.json]

* **N-MNIST**: the first ``--nmnist`` real fixture recordings (34x34, ~300 ms, 1-7 k
  events each) at 5 ms per step through a random dense 2x34x34-128-10 CUBA network;
* **DVS Gesture**: the ten real 128x128 clips (1.45 s, 63-181 k events each), repeated
  ``--gesture-copies`` times, downsampled to 32x32 at 20 ms per step through a random dense
  2x32x32-128-11 network.

Each round replays the whole set with the current code (in this process) and then with
the code of ``--baseline-rev`` (its own process, :mod:`baseline`), after one untimed
warm-up replay each (kernels loaded, caches warm). Reported: recordings/s (median over
rounds) and the median of per-round speed-ups; the stage columns are the seconds each
stage of the current pipeline worked (``ReplayResult.stages_s``; stages overlap, so the
wall time is not their sum) - replay is limited by the slowest. Predictions must be
identical between the two versions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from neuro_deploy.netx import load_netx  # noqa: E402
from neuro_deploy.netx.writer import cuba_neuron, write_netx  # noqa: E402
from neuro_deploy.sim.replay import ReplayConfig, replay  # noqa: E402


def net_file(path: Path, rng: np.random.Generator, n_in: int, classes: int) -> Path:
    write_netx(
        path,
        [
            {"type": "dense", "weight": rng.integers(-30, 40, (128, n_in)) * 2, "neuron": cuba_neuron(1024, 256, 60)},
            {
                "type": "dense",
                "weight": rng.integers(-60, 60, (classes, 128)) * 2,
                "neuron": cuba_neuron(1024, 256, 40),
            },
        ],
    )
    return path


def measure(name: str, net_path: Path, files: list[Path], cfg: dict, rounds: int, base) -> dict:
    net = load_netx(net_path)
    config = ReplayConfig(**cfg)
    replay(net, files, config)  # warm-up
    req = {"replay": {"net": str(net_path), "files": [str(f) for f in files], "cfg": cfg}}
    if base is not None:
        base.ask(req)
    t_new, t_old, stages, same = [], [], [], True
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = replay(net, files, config)
        t_new.append(time.perf_counter() - t0)
        stages.append(res.stages_s)
        if base is not None:
            old = base.ask(req)
            t_old.append(old["s"])
            same = same and old["predicted"] == [s.predicted for s in res.samples]
    r = {
        "set": name,
        "recordings": len(files),
        "workers": cfg["workers"],
        "recordings_per_s": len(files) / float(np.median(t_new)),
        "wall_s": float(np.median(t_new)),
        "stages_s": {k: float(np.median([s[k] for s in stages])) for k in stages[0]},
    }
    if t_old:
        r["baseline_recordings_per_s"] = len(files) / float(np.median(t_old))
        r["speedup_vs_baseline"] = float(np.median(np.array(t_old) / np.array(t_new)))
        r["identical_predictions"] = same
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nmnist", type=int, default=400)
    ap.add_argument("--gesture-copies", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    import baseline as bl

    rev = a.baseline_rev or bl.DEFAULT_REV
    use_baseline = rev != "none" and bl.available(rev)
    fx = Path(a.fixtures) / "events"
    nmnist = [fx / "nmnist" / "train" / f"{i}.bin" for i in range(1, a.nmnist + 1)]
    gesture = sorted((fx / "dvs_gesture").glob("*.bin")) * a.gesture_copies
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    rng = np.random.default_rng(0)
    out = []
    with tempfile.TemporaryDirectory() as d:
        base = bl.Baseline(rev) if use_baseline else None
        try:
            common = {"backend": "fast", "workers": a.workers, "batch_size": a.batch_size}
            if all(f.exists() for f in nmnist):
                out.append(
                    measure(
                        "N-MNIST",
                        net_file(Path(d) / "n.net", rng, 2 * 34 * 34, 10),
                        nmnist,
                        dict(common, dt_us=5000),
                        a.rounds,
                        base,
                    )
                )
            if gesture:
                out.append(
                    measure(
                        "DVS Gesture",
                        net_file(Path(d) / "g.net", rng, 2 * 32 * 32, 11),
                        gesture,
                        dict(common, dt_us=20000, downsample=0.25),
                        a.rounds,
                        base,
                    )
                )
        finally:
            if base is not None:
                base.close()
    print(
        f"{'set':12s} {'files':>6s} {'rec/s':>8s} {'before':>8s} {'speedup':>8s} {'decode s':>9s} {'bin s':>7s} "
        f"{'sim s':>7s} {'count s':>8s} {'wall s':>7s}  same predictions"
    )
    for r in out:
        st = r["stages_s"]
        print(
            f"{r['set']:12s} {r['recordings']:6d} {r['recordings_per_s']:8.1f} "
            f"{r.get('baseline_recordings_per_s', float('nan')):8.1f} "
            f"{r.get('speedup_vs_baseline', float('nan')):7.2f}x "
            f"{st['decode']:9.3f} {st['bin']:7.3f} {st['simulate']:7.3f} {st['count']:8.3f} {r['wall_s']:7.3f}  "
            f"{r.get('identical_predictions', '-')}"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if a.json:
        Path(a.json).write_text(json.dumps({"replay": out, "baseline_rev": rev if use_baseline else None}, indent=2))


if __name__ == "__main__":
    main()
