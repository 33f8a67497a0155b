"""Decode every fixture format with neuro-deploy and with the reference decoder, side by side.

    .venv/bin/python benchmarks/decode_formats.py [--repeat 5] [--fixtures ../shared/fixtures]

References: expelliarmus for EVT2/EVT3/DAT, tonic for N-MNIST .bin, aedat for AEDAT4,
faery for Event Stream. Prints events/s for both (best of --repeat runs after a warm-up,
which also compiles neuro-deploy's numba EVT3 kernel) and the ratio, and whether the two
decodes are identical (EVT3 is compared in neuro-deploy's expelliarmus-compatible
timing mode; the default, spec timing differs in t by design - see the prophesee module).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuro_deploy.events import read_events  # noqa: E402


def ref_expelliarmus(enc):
    def read(path):
        from expelliarmus import Wizard

        a = Wizard(encoding=enc).read(str(path))
        return a["t"], a["x"], a["y"], a["p"]
    return read


def ref_tonic(path):
    import tonic

    a = tonic.io.read_mnist_file(str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    return a["t"], a["x"], a["y"], a["p"]


def ref_aedat(path):
    import aedat

    a = np.concatenate([p["events"] for p in aedat.Decoder(str(path)) if "events" in p])
    return a["t"], a["x"], a["y"], a["on"]


def ref_faery(path):
    import faery

    a = np.concatenate(list(faery.events_stream_from_file(str(path))))
    return a["t"], a["x"], a["y"], a["on"]


CASES = [
    ("EVT3", "evt3_pedestrians_cut_gen41_1280x720.raw", ref_expelliarmus("evt3"), {"evt3_timing": "expelliarmus"}),
    ("EVT2", "evt2_sample_gen3_640x480.raw", ref_expelliarmus("evt2"), {}),
    ("DAT", "dat2_ncars_tonic_sample_atis.dat", ref_expelliarmus("dat"), {}),
    ("N-MNIST bin", "tonic_sample_nmnist_digit4.bin", ref_tonic, {}),
    ("AEDAT4", "aedat4_dvxplorer_320x240_tonic_sample.aedat4", ref_aedat, {}),
    ("ES", "es_dvs_atis_320x240_1s.es", ref_faery, {}),
]


def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
    a = ap.parse_args()
    d = Path(a.fixtures) / "events" / "formats"
    print(f"{'format':12s} {'events':>9s} {'neuro-deploy ev/s':>18s} {'reference ev/s':>15s} {'ratio':>7s}  identical  reference")
    for name, fname, ref, opts in CASES:
        path = d / fname
        if not path.exists():
            print(f"{name:12s} skipped: {path} missing")
            continue
        t_nd, rec = best(lambda: read_events(path, **opts), a.repeat)
        t_ref, r = best(lambda: ref(path), a.repeat)
        ev = rec.events
        same = len(ev) == len(r[0]) and all((np.asarray(x) == ev[k]).all() for x, k in zip(r, "txyp"))
        n = len(ev)
        print(f"{name:12s} {n:9d} {n / t_nd:18.3e} {n / t_ref:15.3e} {t_ref / t_nd:6.2f}x  {str(same):9s}  "
              f"{ref.__name__ if hasattr(ref, '__name__') else ''}")


if __name__ == "__main__":
    main()
