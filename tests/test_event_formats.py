"""Every event format: fixture files, synthetic files written to the spec, bad input, fuzzing."""

from __future__ import annotations

import signal
import struct

import numpy as np
import pytest

from conftest import need
from neuro_deploy.errors import CorruptRecordingError, NeuroDeployError, UnknownFormatError
from neuro_deploy.events import read_events
from neuro_deploy.events.stream import iter_event_chunks

# file -> (format, events, width, height, on)
FIXTURES = {
    "evt3_pedestrians_cut_gen41_1280x720.raw": ("evt3", 5000, 1280, 720, 2894),
    "evt2_sample_gen3_640x480.raw": ("evt2", 539481, 640, 480, 367855),
    "aedat4_dvxplorer_320x240_tonic_sample.aedat4": ("aedat4", 111954, 320, 240, 55023),
    "dat2_ncars_tonic_sample_atis.dat": ("dat", 2009, None, None, 1350),
    "es_dvs_atis_320x240_1s.es": ("es", 473225, 320, 240, 270001),
    "tonic_sample_nmnist_digit4.bin": ("nmnist-bin", 4325, 34, 34, 2145),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_formats(fixtures, name):
    fmt, n, w, h, on = FIXTURES[name]
    rec = read_events(need(fixtures / "events" / "formats" / name))
    ev = rec.events
    assert rec.format == fmt and len(ev) == n and int((ev["p"] == 1).sum()) == on
    assert (np.diff(ev["t"]) >= 0).all()
    if w is not None:
        assert (rec.sensor_size.width, rec.sensor_size.height) == (w, h)
        assert ev["x"].max() < w and ev["y"].max() < h
    assert ev["x"].min() >= 0 and ev["y"].min() >= 0


def test_evt3_reference_decode_exact_in_expelliarmus_mode(fixtures):
    d = need(fixtures / "events" / "formats")
    ref = np.load(d / "evt3_pedestrians_cut_gen41_1280x720.reference.npy")
    ev = read_events(d / "evt3_pedestrians_cut_gen41_1280x720.raw", evt3_timing="expelliarmus").events
    for k in "txyp":
        assert (ev[k] == ref[k]).all(), k
    # the spec decode agrees on everything but time, and has no empty 4096 us slots
    spec = read_events(d / "evt3_pedestrians_cut_gen41_1280x720.raw").events
    for k in "xyp":
        assert (spec[k] == ref[k]).all()
    slots = np.bincount((spec["t"] >> 12) - (spec["t"][0] >> 12))
    assert (slots > 0).all()
    assert (np.bincount((ref["t"] >> 12) - (ref["t"][0] >> 12))[1::2] == 0).all()


def test_reference_decoders_agree(fixtures):
    """expelliarmus (EVT2, DAT), aedat (AEDAT4), tonic (N-MNIST) give the same events."""
    from expelliarmus import Wizard

    d = need(fixtures / "events" / "formats")
    for enc, f in [("evt2", "evt2_sample_gen3_640x480.raw"), ("dat", "dat2_ncars_tonic_sample_atis.dat")]:
        a, b = Wizard(encoding=enc).read(str(d / f)), read_events(d / f).events
        for k in "txyp":
            assert (a[k] == b[k]).all(), (f, k)
    import aedat

    a = np.concatenate(
        [p["events"] for p in aedat.Decoder(str(d / "aedat4_dvxplorer_320x240_tonic_sample.aedat4")) if "events" in p]
    )
    b = read_events(d / "aedat4_dvxplorer_320x240_tonic_sample.aedat4").events
    assert (a["t"] == b["t"]).all() and (a["x"] == b["x"]).all() and (a["on"] == b["p"]).all()


# ---------------------------------------------------------------- synthetic files per spec
def evt3_words(events, triggers=()):
    """Encode events (t, x, y, p) as EVT 3.0 words: TIME_HIGH, TIME_LOW, ADDR_Y, ADDR_X."""
    words = []
    for t, x, y, p in events:
        words += [0x8000 | ((t >> 12) & 0xFFF), 0x6000 | (t & 0xFFF), 0x0000 | y, 0x2000 | (p << 11) | x]
    for pos, (value, channel) in triggers:
        words.insert(pos, 0xA000 | (channel << 8) | value)
    return np.array(words, dtype="<u2").tobytes()


def test_evt3_triggers_vectors_and_no_geometry(tmp_path):
    ev = [(100, 5, 7, 1), (200, 6, 7, 0), (5000, 1000, 600, 1), (70000, 3, 4, 0)]
    body = evt3_words(ev, triggers=[(4, (1, 3)), (9, (0, 3))])
    # a vectorised group at t=70000 (same TIME_HIGH/LOW): base x 20, pol 1, VECT_12 mask 0b101
    body += np.array([0x0000 | 9, 0x3000 | (1 << 11) | 20, 0x4000 | 0b101, 0x5000 | 0b1], "<u2").tobytes()
    p = tmp_path / "t.raw"
    p.write_bytes(b"% evt 3.0\n% end\n" + body)
    rec = read_events(p)
    got = [tuple(int(v) for v in (e["t"], e["x"], e["y"], e["p"])) for e in rec.events]
    assert got == ev + [(70000, 20, 9, 1), (70000, 22, 9, 1), (70000, 32, 9, 1)]
    assert rec.meta["triggers"][:, 1:].tolist() == [[1, 3], [0, 3]]
    assert rec.sensor_size.source == "guessed from coordinates"


def test_evt3_time_high_wraps(tmp_path):
    ev = [(2**24 - 10, 1, 1, 1), (2**24 + 5, 2, 2, 0)]
    words = []
    for t, x, y, p in ev:
        tt = t % 2**24
        words += [0x8000 | (tt >> 12), 0x6000 | (tt & 0xFFF), y, 0x2000 | (p << 11) | x]
    p = tmp_path / "w.raw"
    p.write_bytes(b"% evt 3.0\n% geometry 10x10\n% end\n" + np.array(words, "<u2").tobytes())
    rec = read_events(p)
    assert rec.events["t"].tolist() == [2**24 - 10, 2**24 + 5]
    assert (rec.sensor_size.width, rec.sensor_size.height) == (10, 10)


def test_evt2_synthetic(tmp_path):
    words = [
        0x8 << 28 | (1000 >> 6),
        (1 << 28) | ((1000 & 63) << 22) | (17 << 11) | 9,
        0xA << 28 | ((1010 & 63) << 22) | (2 << 8) | 1,
        0x8 << 28 | (70000 >> 6),
        (0 << 28) | ((70000 & 63) << 22) | (3 << 11) | 4,
    ]
    p = tmp_path / "e2.raw"
    p.write_bytes(b"% evt 2.0\n% format EVT2;height=20;width=30\n% end\n" + np.array(words, "<u4").tobytes())
    rec = read_events(p)
    assert [tuple(int(v) for v in e) for e in rec.events[["t", "x", "y", "p"]].tolist()] == [
        (1000, 17, 9, 1),
        (70000, 3, 4, 0),
    ]
    assert rec.meta["triggers"].tolist() == [[1010, 1, 2]]
    assert (rec.sensor_size.width, rec.sensor_size.height) == (30, 20)


def aedat2_bytes(addr, ts, header="#!AER-DAT2.0\r\n# This is a raw AE data file\r\n"):
    return header.encode() + b"".join(struct.pack(">Ii", a, t) for a, t in zip(addr, ts))


def test_aedat2_dvs128_and_wraparound(tmp_path):
    # DVS128: x bits 1-7, y bits 8-14, p bit 0; int32 timestamps wrapping at 2^31
    xs, ys, ps = [3, 100, 127], [5, 64, 0], [1, 0, 1]
    addr = [(y << 8) | (x << 1) | p for x, y, p in zip(xs, ys, ps)]
    ts = [2**31 - 10, -(2**31) + 5, -(2**31) + 100]  # wraps between event 0 and 1
    p = tmp_path / "d.aedat"
    p.write_bytes(aedat2_bytes(addr, ts, "#!AER-DAT2.0\r\n# HardwareInterface: DVS128\r\n"))
    rec = read_events(p)
    assert rec.format == "aedat2" and rec.sensor_size.width == 128
    assert rec.events["x"].tolist() == xs and rec.events["y"].tolist() == ys and rec.events["p"].tolist() == ps
    assert rec.events["t"].tolist() == [2**31 - 10, 2**31 + 5, 2**31 + 100]


def test_aedat2_davis_skips_aps_and_special(tmp_path):
    def dvs(x, y, p):
        return (y << 22) | (x << 12) | (p << 11)

    addr = [dvs(345, 259, 1), (1 << 31) | 123, dvs(1, 2, 0) | (1 << 10), dvs(10, 20, 0)]
    p = tmp_path / "davis.aedat"
    p.write_bytes(aedat2_bytes(addr, [1, 2, 3, 4], "#!AER-DAT2.0\r\n# chip: DAVIS346B\r\n"))
    rec = read_events(p)
    assert rec.events[["x", "y", "p", "t"]].tolist() == [(345, 259, 1, 1), (10, 20, 0, 4)]
    assert (rec.sensor_size.width, rec.sensor_size.height) == (346, 260)


def test_aedat31_packets_with_overflow(tmp_path):
    def packet(events, overflow, etype=1):
        data = b"".join(struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | 1, t) for x, y, t, p in events)
        return struct.pack("<hhiiiiii", etype, 1, 8, 4, overflow, len(events), len(events), len(events)) + data

    body = (
        packet([(1, 2, 100, 1), (300, 200, 2**31 - 1, 0)], 0)
        + packet([(5, 6, 7, 1)], 0, etype=2)
        + packet([(7, 8, 3, 1)], 1)
    )
    p = tmp_path / "a3.aedat"
    p.write_bytes(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n" + body)
    rec = read_events(p)
    assert rec.format == "aedat3"
    assert rec.events[["x", "y", "t", "p"]].tolist() == [(1, 2, 100, 1), (300, 200, 2**31 - 1, 0), (7, 8, 2**31 + 3, 1)]
    p.write_bytes(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + body[:-5])
    with pytest.raises(CorruptRecordingError, match="truncated packet"):
        read_events(p)


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".h5", ".csv"])
def test_array_formats_round_trip(tmp_path, suffix):
    from neuro_deploy.events.types import make_events
    from neuro_deploy.events.writers import write_events

    ev = make_events([1, 2, 3], [4, 5, 6], [10, 20, 30], [1, 0, 1])
    write_events(ev, tmp_path / f"e{suffix}", (8, 9))
    back = read_events(tmp_path / f"e{suffix}")
    assert back.events.tolist() == ev.tolist()


def test_empty_recordings_are_valid(tmp_path):
    (tmp_path / "e.raw").write_bytes(b"% evt 3.0\n% end\n")
    (tmp_path / "e.dat").write_bytes(b"% Version 2\n")
    (tmp_path / "e.bin").write_bytes(b"")
    for f in ("e.raw", "e.dat", "e.bin"):
        assert len(read_events(tmp_path / f).events) == 0


def test_truncated_raw_names_offset(tmp_path, fixtures):
    src = need(fixtures / "events/formats/evt2_sample_gen3_640x480.raw").read_bytes()
    p = tmp_path / "cut.raw"
    p.write_bytes(src[:-1])
    with pytest.raises(CorruptRecordingError) as exc:
        read_events(p)
    assert exc.value.offset is not None and "cut.raw" in str(exc.value) and "truncated" in str(exc.value)


def test_unknown_format_lists_supported(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"\0" * 10)
    with pytest.raises(UnknownFormatError) as exc:
        read_events(tmp_path / "x.mp4")
    for name in ("evt3", "evt2", "aedat4", "aedat2", "aedat3", "dat", "es", "nmnist-bin", "npz", "hdf5", "csv"):
        assert name in str(exc.value)


def test_streaming_by_count_and_window(fixtures):
    f = need(fixtures / "events/formats/evt2_sample_gen3_640x480.raw")
    whole = read_events(f).events
    parts = list(iter_event_chunks(f, events=100_000, read_bytes=1 << 16))
    assert [len(p) for p in parts[:-1]] == [100_000] * (len(parts) - 1)
    assert np.concatenate(parts).tolist() == whole.tolist()
    wins = list(iter_event_chunks(f, window_us=10_000, read_bytes=1 << 16))
    t0 = int(whole["t"][0])
    assert sum(len(w) for w in wins) == len(whole)
    for k, w in enumerate(wins):
        assert len(w) == 0 or (w["t"].min() >= t0 + k * 10_000 and w["t"].max() < t0 + (k + 1) * 10_000)


# ---------------------------------------------------------------- fuzzing
def _fuzz_inputs(fixtures):
    d = fixtures / "events" / "formats"
    out = []
    for name in sorted(FIXTURES):
        raw = need(d / name).read_bytes()
        out.append((name, raw[: 1 << 16]))  # a prefix keeps each case fast
    return out


class _Timeout(Exception):
    pass


def _fuzz(tmp_path, fixtures, cases_per_file, seed):
    rng = np.random.default_rng(seed)

    def alarm(*_):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, alarm)
    outcomes = {"ok": 0, "typed": 0}
    try:
        for name, raw in _fuzz_inputs(fixtures):
            for i in range(cases_per_file):
                data = bytearray(raw)
                mode = rng.integers(0, 3)
                if mode == 0:
                    data = data[: int(rng.integers(0, len(data)))]
                else:
                    for _ in range(int(rng.integers(1, 20))):
                        data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
                    if mode == 2:
                        data = data[: int(rng.integers(len(data) // 2, len(data)))]
                p = tmp_path / name
                p.write_bytes(bytes(data))
                signal.alarm(10)
                try:
                    read_events(p)
                    outcomes["ok"] += 1
                except NeuroDeployError:
                    outcomes["typed"] += 1
                except _Timeout:
                    pytest.fail(f"{name} case {i}: decoding hung")
                except Exception as exc:  # anything untyped is a defect
                    pytest.fail(f"{name} case {i}: untyped {type(exc).__name__}: {exc}")
                finally:
                    signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert outcomes["typed"] > 0 and outcomes["ok"] > 0


def test_fuzz_fixtures_default(tmp_path, fixtures):
    _fuzz(tmp_path, fixtures, cases_per_file=40, seed=0)


@pytest.mark.slow
def test_fuzz_fixtures_thousands(tmp_path, fixtures):
    _fuzz(tmp_path, fixtures, cases_per_file=600, seed=1)


def test_aedat4_decoder_abort_becomes_typed_error(fixtures, tmp_path):
    """The Rust AEDAT 4 decoder aborts the process on invalid UTF-8 in the header XML; it runs
    in a child, so this is a CorruptRecordingError and the test process survives."""
    raw = bytearray(need(fixtures / "events/formats/aedat4_dvxplorer_320x240_tonic_sample.aedat4").read_bytes())
    raw[1605], raw[1606] = 0xE4, 0x41
    p = tmp_path / "bad.aedat4"
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptRecordingError, match="bad.aedat4.*AEDAT 4"):
        read_events(p)
