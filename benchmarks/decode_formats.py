"""Decode every event format with neuro-deploy and with the reference decoder, side by side.

    .venv/bin/python benchmarks/decode_formats.py [--rounds 9] [--large-mb 50] [--fixtures ../shared/fixtures]

References: expelliarmus for EVT2/EVT3/DAT, tonic for N-MNIST .bin, aedat for AEDAT4,
faery for Event Stream - the fastest reader of each format installed here.

Two files per format: the real fixture recording, and a large one (>= ``--large-mb`` MB)
made from the fixture's own events, tiled in time and written back in the same format by
the project's writers (:mod:`neuro_deploy.events.writers`) into a temporary directory
(deleted afterwards). Both decoders read each file in alternation, ``--rounds`` times
after a warm-up (which also loads the compiled kernels from numba's disk cache); the
ratio is the median of the per-round ratios reference time / neuro-deploy time, so load
from other processes hits both sides alike. neuro-deploy's time includes its format
identification and plausibility checks. ``identical`` compares t, x, y, p of every event
(EVT3 in neuro-deploy's expelliarmus-compatible timing mode; the default, spec timing
differs in t by design - see the prophesee module).
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

from neuro_deploy.events import read_events  # noqa: E402
from neuro_deploy.events.writers import write_events  # noqa: E402


def ref_expelliarmus(enc):
    def read(path):
        from expelliarmus import Wizard

        a = Wizard(encoding=enc).read(str(path))
        return a["t"], a["x"], a["y"], a["p"]

    read.__name__ = "expelliarmus"
    return read


def ref_tonic(path):
    import tonic

    a = tonic.io.read_mnist_file(str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    return a["t"], a["x"], a["y"], a["p"]


ref_tonic.__name__ = "tonic"


def ref_aedat(path):
    import aedat

    a = np.concatenate([p["events"] for p in aedat.Decoder(str(path)) if "events" in p])
    return a["t"], a["x"], a["y"], a["on"]


ref_aedat.__name__ = "aedat"


def ref_faery(path):
    import faery

    a = np.concatenate(list(faery.events_stream_from_file(str(path))))
    return a["t"], a["x"], a["y"], a["on"]


ref_faery.__name__ = "faery"

#: (name, fixture, reference, read options, writer format, extension)
CASES = [
    (
        "EVT3",
        "evt3_pedestrians_cut_gen41_1280x720.raw",
        ref_expelliarmus("evt3"),
        {"evt3_timing": "expelliarmus"},
        "evt3",
        ".raw",
    ),
    ("EVT2", "evt2_sample_gen3_640x480.raw", ref_expelliarmus("evt2"), {}, "evt2", ".raw"),
    ("DAT", "dat2_ncars_tonic_sample_atis.dat", ref_expelliarmus("dat"), {}, "dat", ".dat"),
    ("N-MNIST bin", "tonic_sample_nmnist_digit4.bin", ref_tonic, {}, "nmnist-bin", ".bin"),
    ("AEDAT4", "aedat4_dvxplorer_320x240_tonic_sample.aedat4", ref_aedat, {}, "aedat4", ".aedat4"),
    ("ES", "es_dvs_atis_320x240_1s.es", ref_faery, {}, "es", ".es"),
]


def tiled(events: np.ndarray, copies: int, max_span_us: int | None = None) -> np.ndarray:
    """``copies`` copies of a recording, each shifted by its span + 1 us - or, within
    ``max_span_us``, shifted by ``max_span_us / copies`` and merged in time order."""
    ev = np.sort(events, order="t", kind="stable") if np.any(np.diff(events["t"]) < 0) else events
    span = int(ev["t"][-1] - ev["t"][0]) + 1
    shift = span if max_span_us is None else max(1, (max_span_us - span) // copies)
    out = np.tile(ev, copies)
    out["t"] = out["t"] - ev["t"][0] + np.repeat(np.arange(copies, dtype=np.int64) * shift, len(ev))
    if shift < span:
        out = out[np.argsort(out["t"], kind="stable")]
    return out


#: N-MNIST binaries hold 2^23 us before an overflow marker; tonic's reader is quadratic in
#: the markers (each adds 2^13 us to all later events in a Python loop), so the large
#: N-MNIST file is kept within one 2^23 us period (copies overlap in time, 1.2 events/us)
MAX_SPAN_US = {"nmnist-bin": (1 << 23) - 1}


def large_file(fixture: Path, fmt: str, ext: str, out_dir: Path, min_mb: float) -> Path:
    """The fixture's events tiled in time to >= ``min_mb`` MB, written back in ``fmt``."""
    rec = read_events(fixture)
    size = (rec.sensor_size.width, rec.sensor_size.height) if rec.sensor_size else None
    per_event = fixture.stat().st_size / max(1, len(rec.events))
    copies = int(np.ceil(min_mb * 1e6 * 1.03 / (per_event * len(rec.events))))
    path = out_dir / f"large_{fmt}{ext}"
    while True:
        write_events(tiled(rec.events, copies, MAX_SPAN_US.get(fmt)), path, size, fmt=fmt)
        if path.stat().st_size >= min_mb * 1e6:
            return path
        copies = int(copies * 1.2) + 1


def race(ours, ref, rounds: int) -> tuple[float, float, float, list, tuple]:
    """Alternate the two decoders ``rounds`` times after a warm-up: (median time ours,
    median time reference, median of per-round ratios ref/ours, last outputs)."""
    a, b = ours(), ref()
    ta, tb = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        a = ours()
        t1 = time.perf_counter()
        b = ref()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    ta, tb = np.array(ta), np.array(tb)
    return float(np.median(ta)), float(np.median(tb)), float(np.median(tb / ta)), a, b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--large-rounds", type=int, default=5)
    ap.add_argument("--large-mb", type=float, default=50.0, help="size of the large files (0: fixtures only)")
    ap.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    d = Path(a.fixtures) / "events" / "formats"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    print(
        f"{'format':12s} {'file':>8s} {'events':>10s} {'neuro-deploy ev/s':>18s} {'reference ev/s':>15s} "
        f"{'ratio':>7s}  identical  reference",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="nd-bench-") as tmp:
        for name, fname, ref, opts, fmt, ext in CASES:
            fixture = d / fname
            if not fixture.exists():
                print(f"{name:12s} skipped: {fixture} missing")
                continue
            files = [("fixture", fixture, a.rounds)]
            if a.large_mb > 0:
                files.append(("large", large_file(fixture, fmt, ext, Path(tmp), a.large_mb), a.large_rounds))
            for kind, path, rounds in files:
                t_nd, t_ref, ratio, rec, r = race(lambda: read_events(path, **opts), lambda: ref(path), rounds)
                ev = rec.events
                same = len(ev) == len(r[0]) and all((np.asarray(x) == ev[k]).all() for x, k in zip(r, "txyp"))
                n = len(ev)
                mb = path.stat().st_size / 1e6
                row = {
                    "format": name,
                    "file": kind,
                    "mb": round(mb, 3),
                    "events": n,
                    "nd_ev_per_s": n / t_nd,
                    "ref_ev_per_s": n / t_ref,
                    "ratio": ratio,
                    "identical": bool(same),
                    "reference": ref.__name__,
                }
                rows.append(row)
                print(
                    f"{name:12s} {mb:7.1f}M {n:10d} {n / t_nd:18.3e} {n / t_ref:15.3e} {ratio:6.2f}x  "
                    f"{str(same):9s}  {ref.__name__}",
                    flush=True,
                )
                if kind == "large":
                    path.unlink()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
