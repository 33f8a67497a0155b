"""fast vs lava (and vs the fast backend as it was), side by side, with the machine's roofline.

    .venv/bin/python benchmarks/fast_vs_lava.py [--samples 16] [--steps 100] [--fast-batch 256]
                                                [--rounds 5] [--baseline-rev 6cb6efe] [--json out.json]

1. **Roofline** of this machine, measured here: memory bandwidth (a STREAM-like triad
   ``a = b + s*c`` on float64 arrays far larger than the caches, 24 bytes per element),
   float32 GEMM (numpy's BLAS) and 16-bit integer adds (an int16 row added into an int16
   accumulator, cache-resident - the operation a synaptic event costs the fast backend),
   all on every core.
2. **Networks** (random netx networks, 5 % input spikes): dense 2312-128-10 and
   2312-512-10 for ``--steps`` steps, and a PilotNet-like conv stack. Lava runs
   ``--samples`` samples as one network with netx's staggered resets; its rate is given
   with its fixed costs (import excluded; build, compile, start, stop included) and
   without them ("run only": a run of 2 x samples minus one of samples). The fast
   backend runs ``--fast-batch`` samples (Lava's inputs repeated) in one call, alternated
   ``--rounds`` times with the fast backend of ``--baseline-rev`` (the code before the
   speed work, in its own process, :mod:`baseline`); ratios are medians of per-round
   ratios. Every layer's spikes are compared with Lava's (mismatches must be 0).
   *synops/s* = synaptic events (input spikes x fan-out, from the run's activity counts)
   per second of the fast run; *of peak* = that over the int16-add roofline.
3. **Kernel choice**: the dense 2312-128 layer at several input densities with every row
   event-driven vs every row through the float GEMM (the fast backend picks per row by
   :data:`neuro_deploy.sim.fast.DENSE_GEMM_DENSITY`).
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
from neuro_deploy.sim import RunSpec, get_backend  # noqa: E402


# ---------------------------------------------------------------------------- roofline
def roofline(rounds: int = 5) -> dict:
    """Memory bandwidth (GB/s), float32 GEMM (GFLOP/s) and int16 adds (G adds/s), best of ``rounds``."""
    import numba

    @numba.njit(parallel=True)
    def triad(a, b, c, s):
        for i in numba.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    @numba.njit(parallel=True)
    def int16_adds(w, reps, out):
        # per thread: add every row of w into a private accumulator, reps times (all in L1)
        for k in numba.prange(out.shape[0]):
            acc = np.zeros(w.shape[1], np.int16)
            for _ in range(reps):
                for r in range(w.shape[0]):
                    for j in range(w.shape[1]):
                        acc[j] += w[r, j]
            out[k] = acc[0]

    n = 1 << 24
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    m = 2048
    x, y = np.ones((m, m), np.float32), np.ones((m, m), np.float32)
    w = np.ones((64, 128), np.int16)
    threads = numba.get_num_threads()
    out = np.zeros(threads * 4, np.int64)
    reps = 2000
    triad(a, b, c, 3.0)
    int16_adds(w, 1, out)
    best = {"triad": 1e9, "gemm": 1e9, "adds": 1e9}
    for _ in range(rounds):
        t0 = time.perf_counter()
        triad(a, b, c, 3.0)
        t1 = time.perf_counter()
        x @ y
        t2 = time.perf_counter()
        int16_adds(w, reps, out)
        t3 = time.perf_counter()
        best = {
            "triad": min(best["triad"], t1 - t0),
            "gemm": min(best["gemm"], t2 - t1),
            "adds": min(best["adds"], t3 - t2),
        }
    return {
        "memory_gb_per_s": 24 * n / best["triad"] / 1e9,
        "gemm_f32_gflop_per_s": 2 * m**3 / best["gemm"] / 1e9,
        "int16_adds_g_per_s": len(out) * reps * w.size / best["adds"] / 1e9,
        "threads": threads,
    }


# ---------------------------------------------------------------------------- networks
def dense_net(path: Path, rng: np.random.Generator, hidden: int = 128) -> None:
    write_netx(
        path,
        [
            {"type": "dense", "weight": rng.integers(-8, 12, (hidden, 2312)) * 2, "neuron": cuba_neuron(1024, 128, 80)},
            {"type": "dense", "weight": rng.integers(-30, 40, (10, hidden)) * 2, "neuron": cuba_neuron(1024, 128, 80)},
        ],
    )


def conv_net(path: Path, rng: np.random.Generator) -> None:
    """A PilotNet-like stack on a 2x64x64 event frame: conv 24/36/48 (5x5, stride 2), conv 64 (3x3), dense 100, 10."""
    layers = [{"type": "input", "shape": (2, 64, 64)}]
    c = 2
    for co, k, s in ((24, 5, 2), (36, 5, 2), (48, 5, 2), (64, 3, 1)):
        layers.append(
            {
                "type": "conv",
                "weight": rng.integers(-20, 30, (co, c, k, k)) * 2,
                "stride": (s, s),
                "padding": (k // 2, k // 2),
                "neuron": cuba_neuron(1024, 128, 60),
            }
        )
        c = co
    tmp = path.with_suffix(".tmp.net")
    write_netx(tmp, layers)
    n_flat = load_netx(tmp).layers[-1].num_neurons
    tmp.unlink()
    layers += [
        {"type": "flatten"},
        {"type": "dense", "weight": rng.integers(-20, 30, (100, n_flat)) * 2, "neuron": cuba_neuron(1024, 128, 60)},
        {"type": "dense", "weight": rng.integers(-30, 40, (10, 100)) * 2, "neuron": cuba_neuron(1024, 128, 60)},
    ]
    write_netx(path, layers)


def synops_of(net, spec, res) -> int:
    from neuro_deploy.energy.counts import count_activity
    from neuro_deploy.sim.fast import source_spikes

    counts = count_activity(
        net, res.extra["trains"], source_spikes(spec, net, spec.steps) if net.layers[0].kind != "input" else None
    )
    return int(sum(int(c.synops.sum()) for c in counts))


def bench(
    name: str,
    net_path: Path,
    samples: int,
    steps: int,
    fast_batch: int,
    density: float,
    rng: np.random.Generator,
    rounds: int,
    baseline,
    tmp: Path,
) -> dict:
    from neuro_deploy.sim.lava import run_concatenated

    net = load_netx(net_path)
    shape = net.input_lava_shape
    x = (rng.random((samples,) + shape + (steps,)) < density).astype(np.int8)  # spikes as bytes
    x[..., -len(net) :] = 0  # empty tail: samples are independent
    spec = RunSpec(steps=steps, inputs=x)
    t0 = time.perf_counter()
    lava = run_concatenated(net, spec)
    t1 = time.perf_counter()
    run_concatenated(net, RunSpec(steps=steps, inputs=np.concatenate([x, x])))
    t2 = time.perf_counter()
    lava_total = t1 - t0
    lava_run = (t2 - t1) - lava_total
    if lava_run <= 0:  # timing noise larger than the run
        lava_run = float("nan")
    fast = get_backend("fast")
    res = fast.run(net, spec)  # warm-up + correctness
    mism = sum(int(np.count_nonzero(res.spikes[k] != lava[k])) for k in lava)
    xb = np.concatenate([x] * max(1, fast_batch // samples))
    spec_b = RunSpec(steps=steps, inputs=xb, probe="all")
    res_b = fast.run(net, spec_b)
    synops = synops_of(net, spec_b, res_b)
    t_new, t_old = [], []
    req = None
    if baseline is not None:
        np.save(tmp / f"{name[:5]}_x.npy", xb)
        req = {"fast": {"net": str(net_path), "inputs": str(tmp / f"{name[:5]}_x.npy"), "steps": steps}}
        baseline.ask(req)  # warm-up (compiles the old kernels)
    for _ in range(rounds):
        t3 = time.perf_counter()
        fast.run(net, spec_b)
        t_new.append(time.perf_counter() - t3)
        if req is not None:
            t_old.append(baseline.ask(req)["s"])
    t_new_med = float(np.median(t_new))
    r = {
        "network": name,
        "layers": len(net),
        "samples_lava": samples,
        "steps": steps,
        "mismatches": mism,
        "lava_sample_steps_per_s": samples * steps / lava_total,
        "lava_sample_steps_per_s_run_only": samples * steps / lava_run,
        "fast_batch": len(xb),
        "fast_sample_steps_per_s": len(xb) * steps / t_new_med,
        "synops": synops,
        "synops_per_s": synops / t_new_med,
    }
    r["ratio"] = r["fast_sample_steps_per_s"] / r["lava_sample_steps_per_s"]
    r["ratio_vs_run_only"] = r["fast_sample_steps_per_s"] / r["lava_sample_steps_per_s_run_only"]
    if t_old:
        r["baseline_sample_steps_per_s"] = len(xb) * steps / float(np.median(t_old))
        r["speedup_vs_baseline"] = float(np.median(np.array(t_old) / np.array(t_new)))
    return r


def kernel_choice(rng: np.random.Generator, tmp: Path, rounds: int) -> list[dict]:
    """The 2312-128 layer at several densities: all rows event-driven vs all rows by GEMM."""
    import neuro_deploy.sim.fast as fast

    dense_net(tmp / "k.net", rng)
    net = load_netx(tmp / "k.net")
    out = []
    saved = fast.DENSE_GEMM_DENSITY
    try:
        for density in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
            x = (rng.random((128, 2312, 50)) < density).astype(np.int8)
            spec = RunSpec(steps=50, inputs=x)
            times = {}
            for kind, thr in (("event", 2.0), ("gemm", 0.0)):
                fast.DENSE_GEMM_DENSITY = thr
                fast.FastBackend().run(net, spec)
                ts = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    fast.FastBackend().run(net, spec)
                    ts.append(time.perf_counter() - t0)
                times[kind] = float(np.median(ts))
            out.append({"density": density, "event_s": times["event"], "gemm_s": times["gemm"]})
    finally:
        fast.DENSE_GEMM_DENSITY = saved
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--conv-steps", type=int, default=20)
    ap.add_argument("--fast-batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--baseline-rev",
        default=None,
        help="compare with the fast backend at this commit "
        "(default: the commit before the speed work, when this checkout has it; 'none': skip)",
    )
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    import baseline as bl

    rev = a.baseline_rev or bl.DEFAULT_REV
    use_baseline = rev != "none" and bl.available(rev)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    roof = roofline()
    print(
        f"roofline: memory {roof['memory_gb_per_s']:.1f} GB/s (triad), float32 GEMM "
        f"{roof['gemm_f32_gflop_per_s']:.1f} GFLOP/s, int16 adds {roof['int16_adds_g_per_s']:.1f} G/s "
        f"({roof['threads']} threads)",
        flush=True,
    )
    rng = np.random.default_rng(0)
    out = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = bl.Baseline(rev) if use_baseline else None
        try:
            dense_net(tmp / "dense.net", rng, 128)
            dense_net(tmp / "dense512.net", rng, 512)
            conv_net(tmp / "conv.net", rng)
            cases = [  # name, file, Lava samples, steps, fast batch
                ("dense 2312-128-10", "dense.net", a.samples, a.steps, a.fast_batch),
                ("dense 2312-512-10", "dense512.net", a.samples, a.steps, a.fast_batch),
                ("conv 2x64x64 PilotNet-like", "conv.net", max(2, a.samples // 8), a.conv_steps, a.fast_batch // 4),
            ]
            for name, file, samples, steps, batch in cases:
                out.append(bench(name, tmp / file, samples, steps, batch, 0.05, rng, a.rounds, base, tmp))
        finally:
            if base is not None:
                base.close()
        choice = kernel_choice(rng, tmp, a.rounds)
    print(
        f"\n{'network':28s} {'lava s-steps/s':>15s} {'(run only)':>11s} {'fast s-steps/s':>15s} "
        f"{'vs lava':>8s} {'(vs run)':>9s} {'before':>10s} {'speedup':>8s} {'synops/s':>10s} {'of peak':>8s} "
        f"{'mismatch':>8s}"
    )
    for r in out:
        before = f"{r['baseline_sample_steps_per_s']:10.0f}" if "baseline_sample_steps_per_s" in r else f"{'-':>10s}"
        speed = f"{r['speedup_vs_baseline']:7.2f}x" if "speedup_vs_baseline" in r else f"{'-':>8s}"
        r["fraction_of_int16_add_peak"] = r["synops_per_s"] / (roof["int16_adds_g_per_s"] * 1e9)
        print(
            f"{r['network']:28s} {r['lava_sample_steps_per_s']:15.1f} {r['lava_sample_steps_per_s_run_only']:11.1f} "
            f"{r['fast_sample_steps_per_s']:15.1f} {r['ratio']:7.0f}x {r['ratio_vs_run_only']:8.0f}x {before} {speed} "
            f"{r['synops_per_s']:10.3e} {100 * r['fraction_of_int16_add_peak']:7.2f}% {r['mismatches']:8d}"
        )
    print(
        f"\nkernel choice (dense 2312-128, 128 samples x 50 steps; the fast backend sends rows with >= "
        f"{100 * __import__('neuro_deploy.sim.fast', fromlist=['x']).DENSE_GEMM_DENSITY:.0f} % active inputs to the GEMM)"
    )
    print(f"{'density':>8s} {'event-driven s':>15s} {'GEMM s':>8s}  faster")
    for c in choice:
        print(
            f"{c['density']:8.2f} {c['event_s']:15.3f} {c['gemm_s']:8.3f}  "
            f"{'event' if c['event_s'] <= c['gemm_s'] else 'GEMM'}"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if a.json:
        Path(a.json).write_text(
            json.dumps(
                {
                    "roofline": roof,
                    "networks": out,
                    "kernel_choice": choice,
                    "baseline_rev": rev if use_baseline else None,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
