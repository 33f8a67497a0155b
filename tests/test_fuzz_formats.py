"""Fuzzing every event format: mutated, truncated and spliced inputs give events or a typed
error - never a traceback, a crash or a hang.

Seeds: one real recording per format from ../shared/fixtures (its first 64 KiB; AEDAT 4
whole, 0.9 MB, since its header points at a table at the end) and, for
the formats without a fixture (AEDAT 2.0 / 3.1, numpy, HDF5, CSV), files written to the
spec from the real N-MNIST digit. Each case is decoded in a watchdog worker process: a
case that does not answer within ``TIMEOUT_S`` is a hang (the worker is killed and
replaced), a worker that dies is a crash, an exception that is not a
:class:`~neuro_deploy.errors.NeuroDeployError` is a traceback.

Default run: ``DEFAULT_CASES`` per format. Slow tier (``-m slow``): ``SLOW_CASES`` (10,000)
per format; ``pytest tests/test_fuzz_formats.py -m slow -s`` prints the table.
"""

from __future__ import annotations

import multiprocessing as mp
import struct
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, need

TIMEOUT_S = 20.0
DEFAULT_CASES = 30
SLOW_CASES = 10_000
PREFIX = 1 << 16

FIXTURE_SEEDS = {
    "evt2": "evt2_sample_gen3_640x480.raw",
    "evt3": "evt3_pedestrians_cut_gen41_1280x720.raw",
    "dat": "dat2_ncars_tonic_sample_atis.dat",
    "aedat4": "aedat4_dvxplorer_320x240_tonic_sample.aedat4",
    "es": "es_dvs_atis_320x240_1s.es",
    "nmnist-bin": "tonic_sample_nmnist_digit4.bin",
}
FORMATS = ["evt2", "evt3", "dat", "aedat2", "aedat3", "aedat4", "es", "nmnist-bin", "npy", "npz", "hdf5", "csv"]
SUFFIX = {
    "evt2": ".raw",
    "evt3": ".raw",
    "dat": ".dat",
    "aedat2": ".aedat",
    "aedat3": ".aedat",
    "aedat4": ".aedat4",
    "es": ".es",
    "nmnist-bin": ".bin",
    "npy": ".npy",
    "npz": ".npz",
    "hdf5": ".h5",
    "csv": ".csv",
}


def _digit_events():
    from neuro_deploy.events import read_events

    return read_events(need(FIXTURES / "events" / "formats" / FIXTURE_SEEDS["nmnist-bin"])).events


def _seed_bytes(fmt: str, tmp: Path) -> bytes:
    """The unmutated input of one format."""
    if fmt in FIXTURE_SEEDS:
        raw = need(FIXTURES / "events" / "formats" / FIXTURE_SEEDS[fmt]).read_bytes()
        # AEDAT 4 needs its whole file (the header points at a table at the end)
        return raw if fmt == "aedat4" else raw[:PREFIX]
    ev = _digit_events()[:2000]
    if fmt == "aedat2":
        addr = (ev["y"].astype(np.int64) << 8) | (ev["x"].astype(np.int64) << 1) | ev["p"]
        return b"#!AER-DAT2.0\r\n# HardwareInterface: DVS128\r\n" + b"".join(
            struct.pack(">Ii", int(a), int(t)) for a, t in zip(addr, ev["t"])
        )
    if fmt == "aedat3":
        out = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
        for k in range(0, len(ev), 250):
            part = ev[k : k + 250]
            data = b"".join(
                struct.pack("<Ii", (int(x) << 17) | (int(y) << 2) | (int(p) << 1) | 1, int(t))
                for x, y, t, p in part[["x", "y", "t", "p"]].tolist()
            )
            out += struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, len(part), len(part), len(part)) + data
        return out
    from neuro_deploy.events.writers import write_events

    p = tmp / f"seed{SUFFIX[fmt]}"
    trig = np.array([[100, 1, 0], [200, 0, 0]]) if fmt in ("npz", "hdf5") else None
    write_events(ev, p, (34, 34), trig)
    return p.read_bytes()


def mutate(data: bytes, rng: np.random.Generator, others: list[bytes]) -> tuple[str, bytes]:
    """One random mutation (name, bytes): truncation, byte/bit flips, splices with another
    format's seed, insertions, deletions, duplications, header damage, overwrite runs,
    boundary words - or two of them stacked."""

    def one(d: bytearray) -> tuple[str, bytearray]:
        n = len(d)
        kind = int(rng.integers(0, 11))
        if n == 0:
            return "grow", bytearray(rng.bytes(int(rng.integers(1, 64))))
        if kind == 0:
            return "truncate", d[: int(rng.integers(0, n))]
        if kind == 1:
            for _ in range(int(rng.integers(1, 20))):
                d[int(rng.integers(0, n))] = int(rng.integers(0, 256))
            return "bytes", d
        if kind == 2:
            for _ in range(int(rng.integers(1, 8))):
                d[int(rng.integers(0, n))] ^= 1 << int(rng.integers(0, 8))
            return "bits", d
        if kind == 3:
            o = others[int(rng.integers(0, len(others)))]
            return "splice", d[: int(rng.integers(0, n))] + bytearray(o[int(rng.integers(0, max(1, len(o)))) :])
        if kind == 4:
            at = int(rng.integers(0, n))
            return "insert", d[:at] + bytearray(rng.bytes(int(rng.integers(1, 300)))) + d[at:]
        if kind == 5:
            a = int(rng.integers(0, n))
            return "delete", d[:a] + d[a + int(rng.integers(1, 300)) :]
        if kind == 6:
            a = int(rng.integers(0, n))
            b = min(n, a + int(rng.integers(1, 2000)))
            return "duplicate", d[:b] + d[a:b] + d[b:]
        if kind == 7:
            for _ in range(int(rng.integers(1, 10))):
                d[int(rng.integers(0, min(n, 300)))] = int(rng.integers(0, 256))
            return "header", d
        if kind == 8:
            a = int(rng.integers(0, n))
            b = min(n, a + int(rng.integers(1, 4000)))
            d[a:b] = bytes([int(rng.choice([0, 255]))]) * (b - a)
            return "overwrite", d
        if kind == 9:
            for _ in range(int(rng.integers(1, 10))):
                w = int(rng.choice([2, 4, 8]))
                a = int(rng.integers(0, max(1, n - w))) // w * w
                val = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
                d[a : a + w] = bytes([val]) * w if int(rng.integers(0, 2)) else rng.bytes(w)
            return "words", d
        return "random-tail", d[: int(rng.integers(0, n))] + bytearray(rng.bytes(int(rng.integers(1, 5000))))

    name, d = one(bytearray(data))
    if rng.random() < 0.2:
        name2, d = one(d)
        name = f"{name}+{name2}"
    return name, bytes(d)


def _worker(conn, workdir: str) -> None:  # pragma: no cover - runs in the worker process
    import faulthandler

    from neuro_deploy.errors import NeuroDeployError
    from neuro_deploy.events import read_events

    faulthandler.disable()
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        suffix, data = msg
        p = Path(workdir) / f"case{suffix}"
        p.write_bytes(data)
        try:
            rec = read_events(p)
            conn.send(("ok", len(rec.events)))
        except NeuroDeployError as exc:
            conn.send(("typed", type(exc).__name__))
        except BaseException as exc:  # noqa: BLE001 - exactly what the test hunts for
            conn.send(("untyped", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class Watchdog:
    """A decoding worker process; a case gets ``timeout_s`` or the worker is replaced."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.dir = tempfile.TemporaryDirectory(prefix="nd-fuzz-")
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        # not a daemon: the AEDAT 4 / ES readers fork a child of their own; the worker
        # ends when the pipe closes, so it cannot outlive the test process
        self.proc = ctx.Process(target=_worker, args=(child, self.dir.name))
        self.proc.start()
        child.close()

    def decode(self, suffix: str, data: bytes) -> tuple[str, object]:
        try:
            self.conn.send((suffix, data))
            if self.conn.poll(self.timeout_s):
                return self.conn.recv()
            outcome: tuple[str, object] = ("hang", f"no answer in {self.timeout_s} s")
        except (EOFError, BrokenPipeError, ConnectionResetError):
            outcome = ("crash", f"worker died (exit {self.proc.exitcode})")
        self.proc.kill()
        self.proc.join()
        self._start()
        return outcome

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
        self.dir.cleanup()


@dataclass
class Tally:
    cases: int = 0
    outcomes: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    wall_s: float = 0.0


def fuzz(fmt: str, cases: int, seed: int, dog: Watchdog, tmp: Path, seeds: dict[str, bytes]) -> Tally:
    rng = np.random.default_rng([seed, FORMATS.index(fmt)])
    others = [v for k, v in seeds.items() if k != fmt]
    tally = Tally()
    t0 = time.perf_counter()
    for i in range(cases):
        name, data = mutate(seeds[fmt], rng, others)
        kind, detail = dog.decode(SUFFIX[fmt], data)
        tally.cases += 1
        tally.outcomes[kind] = tally.outcomes.get(kind, 0) + 1
        if kind not in ("ok", "typed"):
            keep = tmp / f"fail-{fmt}-{i}{SUFFIX[fmt]}"
            keep.write_bytes(data)
            tally.failures.append((i, name, kind, str(detail)[:2000], str(keep)))
    tally.wall_s = time.perf_counter() - t0
    return tally


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    need(FIXTURES / "events" / "formats")
    tmp = tmp_path_factory.mktemp("seeds")
    return {fmt: _seed_bytes(fmt, tmp) for fmt in FORMATS}


@pytest.fixture(scope="module")
def dog():
    w = Watchdog()
    yield w
    w.close()


def test_seeds_decode_cleanly(seeds, dog):
    """The unmutated seeds are real recordings."""
    for fmt, data in seeds.items():
        kind, detail = dog.decode(SUFFIX[fmt], data)
        assert kind == "ok" and detail > 0, (fmt, detail)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_default(fmt, seeds, dog, tmp_path):
    t = fuzz(fmt, DEFAULT_CASES, seed=0, dog=dog, tmp=tmp_path, seeds=seeds)
    assert not t.failures, t.failures[:3]


def test_watchdog_catches_hangs_and_crashes(tmp_path):
    """The harness itself: a decode that never returns is a hang, a dying worker a crash."""
    import os
    import signal

    dog = Watchdog(timeout_s=1.0)
    try:
        dog.conn.send(None)  # the worker exits: the next case finds it dead
        dog.proc.join(5)
        assert dog.decode(".bin", b"")[0] == "crash"
        os.kill(dog.proc.pid, signal.SIGSTOP)  # a stopped worker never answers
        assert dog.decode(".bin", b"")[0] == "hang"
        assert dog.decode(".bin", b"")[0] == "ok"  # replaced
    finally:
        dog.close()


@pytest.mark.slow
def test_fuzz_slow_tier(seeds, dog, tmp_path):
    """SLOW_CASES per format; prints cases, outcomes, tracebacks, hangs and crashes per format."""
    rows, bad = [], []
    for fmt in FORMATS:
        t = fuzz(fmt, SLOW_CASES, seed=1, dog=dog, tmp=tmp_path, seeds=seeds)
        o = t.outcomes
        rows.append(
            f"{fmt:11s} {t.cases:7d} {o.get('ok', 0):7d} {o.get('typed', 0):7d} "
            f"{o.get('untyped', 0):10d} {o.get('hang', 0):5d} {o.get('crash', 0):6d} {t.wall_s:8.1f}"
        )
        bad += t.failures
    print("\nformat        cases      ok   typed tracebacks hangs crashes   wall_s")
    print("\n".join(rows))
    assert not bad, bad[:5]
