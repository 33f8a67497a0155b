"""fast vs lava: the same netx networks and inputs through both backends, side by side.

Prints sample-steps per second for each backend and their ratio, and checks that the
spikes of every layer are identical (a speed-up at any mismatch would be worthless).

    .venv/bin/python benchmarks/fast_vs_lava.py [--samples 4] [--steps 100] [--fast-batch 256]

Lava runs the samples as one network with netx's staggered resets (one compile, then
``samples x steps`` steps); its rate is reported with the fixed cost (import excluded;
build, compile, start and stop included) and without it ("run only": the difference of a
run of ``2 x samples`` and one of ``samples``). The
fast backend runs ``--fast-batch`` samples (the Lava inputs repeated) in one call.
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

from neuro_deploy.netx import load_netx  # noqa: E402
from neuro_deploy.netx.writer import cuba_neuron, write_netx  # noqa: E402
from neuro_deploy.sim import RunSpec, get_backend  # noqa: E402
from neuro_deploy.sim.lava import run_concatenated  # noqa: E402


def dense_net(path: Path, rng: np.random.Generator) -> None:
    write_netx(path, [
        {"type": "dense", "weight": rng.integers(-8, 12, (128, 2312)) * 2, "neuron": cuba_neuron(1024, 128, 80)},
        {"type": "dense", "weight": rng.integers(-30, 40, (10, 128)) * 2, "neuron": cuba_neuron(1024, 128, 80)}])


def conv_net(path: Path, rng: np.random.Generator) -> None:
    """A PilotNet-like stack on a 2x64x64 event frame: conv 24/36/48 (5x5, stride 2), conv 64 (3x3), dense 100, 10."""
    layers = [{"type": "input", "shape": (2, 64, 64)}]
    c = 2
    for co, k, s in ((24, 5, 2), (36, 5, 2), (48, 5, 2), (64, 3, 1)):
        layers.append({"type": "conv", "weight": rng.integers(-20, 30, (co, c, k, k)) * 2, "stride": (s, s),
                       "padding": (k // 2, k // 2), "neuron": cuba_neuron(1024, 128, 60)})
        c = co
    tmp = path.with_suffix(".tmp.net")
    write_netx(tmp, layers)
    n_flat = load_netx(tmp).layers[-1].num_neurons
    tmp.unlink()
    layers += [{"type": "flatten"},
               {"type": "dense", "weight": rng.integers(-20, 30, (100, n_flat)) * 2, "neuron": cuba_neuron(1024, 128, 60)},
               {"type": "dense", "weight": rng.integers(-30, 40, (10, 100)) * 2, "neuron": cuba_neuron(1024, 128, 60)}]
    write_netx(path, layers)


def bench(name: str, net_path: Path, samples: int, steps: int, fast_batch: int, density: float,
          rng: np.random.Generator) -> dict:
    net = load_netx(net_path)
    shape = net.input_lava_shape
    x = (rng.random((samples,) + shape + (steps,)) < density).astype(np.int8)   # spikes as bytes
    x[..., -len(net):] = 0                       # empty tail: samples are independent
    spec = RunSpec(steps=steps, inputs=x)
    # Lava: one network, all samples back to back with resets. Run-only rate from the
    # difference between a run of `samples` and one of 2 x `samples` (fixed costs cancel).
    t0 = time.perf_counter()
    lava = run_concatenated(net, spec)
    t1 = time.perf_counter()
    run_concatenated(net, RunSpec(steps=steps, inputs=np.concatenate([x, x])))
    t2 = time.perf_counter()
    lava_total = t1 - t0
    lava_run = (t2 - t1) - lava_total
    if lava_run <= 0:                                   # timing noise larger than the run
        lava_run = float("nan")
    fast = get_backend("fast")
    res = fast.run(net, spec)                              # warm-up + correctness
    mism = sum(int(np.count_nonzero(res.spikes[k] != lava[k])) for k in lava)
    reps = max(1, fast_batch // samples)
    xb = np.concatenate([x] * reps)
    t3 = time.perf_counter()
    fast.run(net, RunSpec(steps=steps, inputs=xb, probe="all"))
    t4 = time.perf_counter()
    r = {"network": name, "layers": len(net), "samples_lava": samples, "steps": steps,
         "mismatches": mism, "lava_sample_steps_per_s": samples * steps / lava_total,
         "lava_sample_steps_per_s_run_only": samples * steps / lava_run,
         "fast_batch": len(xb), "fast_sample_steps_per_s": len(xb) * steps / (t4 - t3)}
    r["ratio"] = r["fast_sample_steps_per_s"] / r["lava_sample_steps_per_s"]
    r["ratio_vs_run_only"] = r["fast_sample_steps_per_s"] / r["lava_sample_steps_per_s_run_only"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--conv-steps", type=int, default=20)
    ap.add_argument("--fast-batch", type=int, default=512)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    out = []
    with tempfile.TemporaryDirectory() as d:
        dense_net(Path(d) / "dense.net", rng)
        conv_net(Path(d) / "conv.net", rng)
        out.append(bench("dense 2312-128-10", Path(d) / "dense.net", a.samples, a.steps, a.fast_batch, 0.05, rng))
        out.append(bench("conv 2x64x64 PilotNet-like", Path(d) / "conv.net", max(2, a.samples // 8), a.conv_steps,
                         a.fast_batch // 4, 0.05, rng))
    print(f"{'network':28s} {'lava s-steps/s':>15s} {'(run only)':>11s} {'fast s-steps/s':>15s} "
          f"{'ratio':>8s} {'(vs run)':>9s} {'mismatch':>8s}")
    for r in out:
        print(f"{r['network']:28s} {r['lava_sample_steps_per_s']:15.1f} {r['lava_sample_steps_per_s_run_only']:11.1f} "
              f"{r['fast_sample_steps_per_s']:15.1f} {r['ratio']:8.0f}x {r['ratio_vs_run_only']:8.0f}x "
              f"{r['mismatches']:8d}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
