"""Formats by content, not by extension; plausibility checks; empty files; --on-error; triggers.

Each finding of issue 14 (item 3) has a test here that fails on the code before it.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.errors import (
    CorruptRecordingError,
    ImplausibleRecordingError,
    NeuroDeployError,
    UnidentifiedRecordingError,
    UnknownFormatError,
)
from neuro_deploy.events import read_events
from neuro_deploy.events.readers import READERS, open_events, reader_names
from neuro_deploy.events.types import SensorSize, make_events

EVT2 = "evt2_sample_gen3_640x480.raw"


def _evt2_parts(fixtures) -> tuple[bytes, bytes]:
    raw = need(fixtures / "events" / "formats" / EVT2).read_bytes()
    end = raw.index(b"% evt 2.0\n") + len(b"% evt 2.0\n")
    return raw[:end], raw[end:]


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


# ---------------------------------------------------------------- identification
def test_raw_without_header_is_refused_and_says_evt2(fixtures, tmp_path):
    """The sparklers EVT2 file with its header stripped was decoded as EVT3 (exit 0)."""
    header, body = _evt2_parts(fixtures)
    p = tmp_path / "stripped.raw"
    p.write_bytes(body)
    with pytest.raises(UnidentifiedRecordingError) as exc:
        read_events(p)
    assert "headerless Prophesee EVT 2.0" in str(exc.value) and "--format evt2" in str(exc.value)
    r = _cli("events", "info", str(p))
    assert r.exit_code == 2 and "Traceback" not in r.output and "EVT 2.0" in r.output
    # --format is the way to read it: the same events as the file with its header
    forced = read_events(p, "evt2").events
    whole = read_events(fixtures / "events" / "formats" / EVT2).events
    assert forced.tolist() == whole.tolist()
    # forcing the wrong version is caught by the plausibility checks
    with pytest.raises(ImplausibleRecordingError, match="time runs backwards"):
        read_events(p, "evt3")


@pytest.mark.parametrize(
    "suffix", [".raw", ".aedat", ".bin", ".dat", ".aedat4", ".es", ".npy", ".npz", ".h5", ".csv", ".aedat3", ".bs2"]
)
def test_random_bytes_are_a_typed_error_in_every_format(tmp_path, suffix):
    """100 kB of random bytes as .raw, .aedat or .bin decoded into thousands of events."""
    for seed in range(3):
        p = tmp_path / f"random{suffix}"
        p.write_bytes(np.random.default_rng(seed).bytes(100_000))
        with pytest.raises((UnknownFormatError, CorruptRecordingError)):
            read_events(p)
    r = _cli("events", "info", str(p))
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_random_bytes_say_what_they_look_like(tmp_path):
    p = tmp_path / "r.raw"
    p.write_bytes(np.random.default_rng(0).bytes(100_000))
    with pytest.raises(UnidentifiedRecordingError, match="random or compressed bytes"):
        read_events(p)


def test_raw_cut_inside_header_is_not_evt3(fixtures, tmp_path):
    """An EVT2 file cut inside its header was reported as EVT3 with 0 events."""
    header, _ = _evt2_parts(fixtures)
    p = tmp_path / "cut.raw"
    for cut in (10, 60, header.index(b"% evt"), len(header) - 3):
        p.write_bytes(header[:cut])
        with pytest.raises(NeuroDeployError, match="truncated inside its") as exc:
            read_events(p)
        assert "evt3" not in str(exc.value).split(";")[0]
    r = _cli("events", "info", str(p))
    assert r.exit_code == 2 and "truncated inside" in r.output


@pytest.mark.parametrize(
    "name,strip",
    [
        ("aedat4_dvxplorer_320x240_tonic_sample.aedat4", len(b"#!AER-DAT4.0\r\n")),
        ("es_dvs_atis_320x240_1s.es", len(b"Event Stream")),
        (EVT2, None),
        ("evt3_pedestrians_cut_gen41_1280x720.raw", None),
        ("dat2_ncars_tonic_sample_atis.dat", None),
    ],
)
def test_missing_signature_is_refused_in_every_format(fixtures, tmp_path, name, strip):
    """.aedat4 and .es rejected a missing signature, the others did not."""
    raw = need(fixtures / "events" / "formats" / name).read_bytes()[:200_000]
    if strip is None:  # a '%' header: drop every header line
        lines = raw.split(b"\n")
        k = next(i for i, line in enumerate(lines) if not line.startswith(b"%"))
        strip = sum(len(line) + 1 for line in lines[:k])
    p = tmp_path / name
    p.write_bytes(raw[strip:])
    with pytest.raises(UnknownFormatError):
        read_events(p)


def test_aedat2_and_aedat3_need_their_version_line(tmp_path):
    body = b"".join(struct.pack(">Ii", (5 << 8) | (3 << 1) | 1, t) for t in range(0, 1000, 10))
    p = tmp_path / "a.aedat"
    p.write_bytes(b"#!AER-DAT2.0\r\n# HardwareInterface: DVS128\r\n" + body)
    assert read_events(p).format == "aedat2"
    p.write_bytes(b"# HardwareInterface: DVS128\r\n" + body)
    with pytest.raises(UnidentifiedRecordingError, match="#!AER-DAT"):
        read_events(p)
    p.write_bytes(body)
    with pytest.raises(UnknownFormatError):
        read_events(p)
    assert read_events(p, "aedat2").events["x"].tolist() == [3] * 100  # --format forces it


def test_content_wins_over_extension(fixtures, tmp_path):
    src = need(fixtures / "events" / "formats" / "evt3_pedestrians_cut_gen41_1280x720.raw")
    p = tmp_path / "misnamed.bin"
    p.write_bytes(src.read_bytes())
    rec = read_events(p)
    assert rec.format == "evt3" and len(rec.events) == 5000


def test_format_that_contradicts_the_header_is_refused(fixtures):
    with pytest.raises(CorruptRecordingError, match="--format evt3 given, but the file's header says evt2"):
        read_events(fixtures / "events" / "formats" / EVT2, "evt3")


def test_unsupported_raw_versions_are_named(tmp_path):
    p = tmp_path / "e21.raw"
    p.write_bytes(b"% evt 2.1\n% end\n" + bytes(64))
    with pytest.raises(UnidentifiedRecordingError, match="EVT 2.1"):
        read_events(p)


# ---------------------------------------------------------------- empty files
@pytest.mark.parametrize("suffix", sorted({e for r in READERS.values() for e in r.extensions} | {".raw"}))
def test_empty_file_is_an_empty_recording_in_every_format(tmp_path, suffix):
    """Empty .aedat4/.es/.npz/.npy/.h5 were errors while empty .raw/.bin/.dat/.csv decoded."""
    p = tmp_path / f"e{suffix}"
    p.write_bytes(b"")
    rec = read_events(p)
    assert len(rec.events) == 0 and rec.meta.get("empty_file") is True
    assert any("empty file" in w for w in rec.warnings)
    assert set(rec.format.split("|")) == {r.name for r in READERS.values() if suffix in r.extensions}


def test_empty_file_with_format_and_cli(tmp_path):
    p = tmp_path / "e.raw"
    p.write_bytes(b"")
    assert read_events(p, "evt2").format == "evt2"
    r = _cli("events", "info", str(p), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["events"] == 0 and "empty file" in r.stderr


# ---------------------------------------------------------------- plausibility
def test_nmnist_bin_is_decided_by_content(tmp_path, fixtures):
    """N-MNIST .bin has no header: zeros, 0xFF and random bytes are refused, real files pass."""
    p = tmp_path / "z.bin"
    p.write_bytes(bytes(100_000))
    with pytest.raises(ImplausibleRecordingError, match="share the timestamp 0 us"):
        read_events(p)
    p.write_bytes(b"\xff" * 100_000)
    with pytest.raises(ImplausibleRecordingError, match="y up to 255"):
        read_events(p)
    ok = read_events(need(fixtures / "events" / "nmnist" / "train" / "1.bin"))
    assert len(ok.events) > 1000 and ok.warnings == []


def _evt3_file(path, events, geometry="% geometry 20x10\n"):
    words = []
    for t, x, y, p in events:
        words += [0x8000 | ((t >> 12) & 0xFFF), 0x6000 | (t & 0xFFF), y, 0x2000 | (p << 11) | x]
    path.write_bytes(b"% evt 3.0\n" + geometry.encode() + b"% end\n" + np.array(words, "<u2").tobytes())


def test_coordinates_outside_the_declared_sensor(tmp_path):
    p = tmp_path / "s.raw"
    inside = [(100 + i, i % 20, i % 10, 1) for i in range(300)]
    _evt3_file(p, inside + [(1000, 25, 3, 0)])  # 1 of 301 outside: a warning
    rec = read_events(p)
    assert len(rec.events) == 301 and any("outside the declared 20x10 sensor" in w for w in rec.warnings)
    _evt3_file(p, inside + [(1000 + i, 25, 3, 0) for i in range(10)])  # 3 %: an error
    with pytest.raises(ImplausibleRecordingError, match="outside the declared 20x10"):
        read_events(p)
    # the user's --sensor-size is a declaration too
    _evt3_file(p, inside, geometry="")
    with pytest.raises(ImplausibleRecordingError, match="declared 10x10"):
        read_events(p, sensor_size=SensorSize(10, 10, "user"))
    r = _cli("events", "convert", str(p), "-o", str(tmp_path / "o.npz"), "--sensor-size", "10x10")
    assert r.exit_code == 2 and not (tmp_path / "o.npz").exists()


def test_time_order_and_bursts(tmp_path):
    p = tmp_path / "t.raw"
    ev = [(1000 + 10 * i, i % 20, i % 10, 1) for i in range(300)]
    _evt3_file(p, ev[:150] + [(900, 1, 1, 1)] + ev[150:])  # one step back: a warning
    assert any("time runs backwards" in w for w in read_events(p).warnings)
    _evt3_file(p, [(t if i % 2 else 5000 - t, x, y, q) for i, (t, x, y, q) in enumerate(ev)])
    with pytest.raises(ImplausibleRecordingError, match="time runs backwards"):
        read_events(p)
    _evt3_file(p, [(7, i % 20, i % 10, 1) for i in range(201)])  # 201 events in 1 us on 200 pixels
    with pytest.raises(ImplausibleRecordingError, match="201 events share the timestamp 7 us"):
        read_events(p)


def test_plausibility_verdict_does_not_depend_on_chunk_size(fixtures, tmp_path):
    """One answer: the same warnings and errors whatever the read size."""
    header, body = _evt2_parts(fixtures)
    words = np.frombuffer(body, "<u4").copy()
    cd = np.flatnonzero((words >> 28) <= 1)
    words[cd[::150]] = (words[cd[::150]] & ~np.uint32(0x7FF)) | np.uint32(479)  # y = 479 < 480: fine
    words[cd[::300]] = (words[cd[::300]] & ~np.uint32(0x7FF << 11)) | np.uint32(700 << 11)  # x = 700
    p = tmp_path / "w.raw"
    p.write_bytes(header + b"% geometry 640x480\n" + words.tobytes())
    answers = set()
    for cb in (1 << 10, 1 << 14, 1 << 20, 1 << 24):
        s = open_events(p)
        ev = np.concatenate(list(s.chunks(cb)))
        answers.add((len(ev), tuple(s.meta["warnings"])))
    assert len(answers) == 1
    ((n, warnings),) = answers
    assert n == 539481 and len(warnings) == 1 and "outside the declared 640x480" in warnings[0]


def test_evt2_time_high_wrap_is_unwrapped(tmp_path):
    top = (1 << 28) - 1
    words = [
        0x8 << 28 | top,
        (1 << 28) | (63 << 22) | (1 << 11) | 2,  # t = 2^34 - 1
        0x8 << 28 | 0,
        (0 << 28) | (5 << 22) | (3 << 11) | 4,
    ]  # wraps: t = 2^34 + 5
    p = tmp_path / "w.raw"
    p.write_bytes(b"% evt 2.0\n% end\n" + np.array(words, "<u4").tobytes())
    rec = read_events(p)
    assert rec.events["t"].tolist() == [(1 << 34) - 1, (1 << 34) + 5] and rec.warnings == []


def test_dat_timer_wrap_is_unwrapped(tmp_path):
    ts = [(1 << 32) - 10, 5]
    body = b"".join(struct.pack("<II", t, (1 << 28) | (3 << 14) | 2) for t in ts)
    p = tmp_path / "w.dat"
    p.write_bytes(b"% Data file containing CD events.\n% Version 2\n" + bytes([0, 8]) + body)
    rec = read_events(p)
    assert rec.format == "dat" and rec.events["t"].tolist() == [(1 << 32) - 10, (1 << 32) + 5]


def test_array_values_beyond_an_event_field_are_refused(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("t,x,y,p\n1,70000,3,1\n")
    with pytest.raises(CorruptRecordingError, match="field 'x' spans 70000"):
        read_events(p)
    p.write_text("t,x,y,p\nnan,1,3,1\n")
    with pytest.raises(CorruptRecordingError, match="NaN"):
        read_events(p)


# ---------------------------------------------------------------- keep-partial, --on-error
def test_keep_partial_keeps_the_complete_events(fixtures, tmp_path):
    src = need(fixtures / "events" / "formats" / "tonic_sample_nmnist_digit4.bin").read_bytes()
    p = tmp_path / "cut.bin"
    p.write_bytes(src[:-3])
    with pytest.raises(CorruptRecordingError, match="truncated"):
        read_events(p)
    rec = read_events(p, keep_partial=True)
    whole = read_events(fixtures / "events" / "formats" / "tonic_sample_nmnist_digit4.bin").events
    assert rec.events.tolist() == whole[:-1].tolist()
    assert rec.meta["partial"]["offset"] == len(src) - 5 and rec.meta["partial"]["events"] == len(whole) - 1


def _folder(fixtures, tmp_path):
    d = need(fixtures / "events" / "nmnist" / "train")
    rec = tmp_path / "rec"
    rec.mkdir()
    for i in (1, 2, 3):
        (rec / f"{i}.bin").write_bytes((d / f"{i}.bin").read_bytes())
    (rec / "4.bin").write_bytes((d / "4.bin").read_bytes()[:-2])  # truncated
    (rec / "5.raw").write_bytes(np.random.default_rng(0).bytes(10_000))  # garbage
    return rec


def test_read_recordings_policies(fixtures, tmp_path):
    from neuro_deploy.events.collection import read_recordings

    rec = _folder(fixtures, tmp_path)
    with pytest.raises(CorruptRecordingError, match="4.bin"):
        read_recordings([rec])
    recs, skipped = read_recordings([rec], "skip")
    assert [r.path.rsplit("/", 1)[1] for r in recs] == ["1.bin", "2.bin", "3.bin"]
    assert [(s.file.rsplit("/", 1)[1], s.error) for s in skipped] == [
        ("4.bin", "CorruptRecordingError"),
        ("5.raw", "UnidentifiedRecordingError"),
    ]
    assert "truncated" in skipped[0].reason and "random" in skipped[1].reason
    recs, skipped = read_recordings([rec], "keep-partial")
    assert [r.path.rsplit("/", 1)[1] for r in recs] == ["1.bin", "2.bin", "3.bin", "4.bin"]
    assert "partial" in recs[3].meta and len(skipped) == 1


def test_replay_and_report_on_error(fixtures, tmp_path, tiny_dense):
    rec = _folder(fixtures, tmp_path)
    net = str(tiny_dense["net"])
    r = _cli("replay", net, str(rec), "--dt-us", "10000", "--json")
    assert r.exit_code == 2 and "4.bin" in r.output and "Traceback" not in r.output
    r = _cli("replay", net, str(rec), "--dt-us", "10000", "--on-error", "skip", "--json")
    assert r.exit_code == 0, r.output
    o = json.loads(r.stdout)
    assert len(o["samples"]) == 3 and [s["file"].rsplit("/", 1)[1] for s in o["skipped"]] == ["4.bin", "5.raw"]
    assert all(s["reason"] for s in o["skipped"]) and "skipped" in r.stderr
    r = _cli("replay", net, str(rec), "--dt-us", "10000", "--on-error", "keep-partial", "--json")
    o = json.loads(r.stdout)
    assert len(o["samples"]) == 4 and o["partial"][0]["file"].endswith("4.bin") and len(o["skipped"]) == 1
    r = _cli("report", net, "--recordings", str(rec), "--dt-us", "10000", "--on-error", "skip", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    rep = rep[0] if isinstance(rep, list) else rep
    assert rep["samples"] == 3 and [s["file"].rsplit("/", 1)[1] for s in rep["skipped"]] == ["4.bin", "5.raw"]


def test_replay_format_option(fixtures, tmp_path, tiny_dense):
    d = need(fixtures / "events" / "nmnist" / "train")
    p = tmp_path / "1.dat"  # an N-MNIST file under a misleading name
    p.write_bytes((d / "1.bin").read_bytes())
    net = str(tiny_dense["net"])
    assert _cli("replay", net, str(p), "--dt-us", "10000").exit_code == 2
    r = _cli("replay", net, str(p), "--dt-us", "10000", "--format", "nmnist-bin", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["samples"][0]["events"] > 1000
    r = _cli("replay", net, str(p), "--dt-us", "10000", "--format", "nope")
    assert r.exit_code == 2 and "nmnist-bin" in r.output


# ---------------------------------------------------------------- triggers
def _evt2_with_triggers(path):
    words = [
        0x8 << 28 | (1000 >> 6),
        (1 << 28) | ((1000 & 63) << 22) | (17 << 11) | 9,
        0xA << 28 | ((1010 & 63) << 22) | (2 << 8) | 1,
        0xA << 28 | ((1020 & 63) << 22) | (2 << 8) | 0,
        0x8 << 28 | (70000 >> 6),
        (0 << 28) | ((70000 & 63) << 22) | (3 << 11) | 4,
    ]
    path.write_bytes(b"% evt 2.0\n% format EVT2;height=20;width=30\n% end\n" + np.array(words, "<u4").tobytes())


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_convert_keeps_triggers(tmp_path, suffix):
    """events convert dropped EXT_TRIGGER events."""
    src = tmp_path / "t.raw"
    _evt2_with_triggers(src)
    out = tmp_path / f"o{suffix}"
    r = _cli("events", "convert", str(src), "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    o = json.loads(r.stdout)
    assert o["triggers"] == 2 and o["triggers_written"] == 2
    back = read_events(out)
    assert back.meta["triggers"].tolist() == [[1010, 1, 2], [1020, 0, 2]]
    assert back.events.tolist() == read_events(src).events.tolist()
    r = _cli("events", "info", str(out), "--json")
    assert json.loads(r.stdout)["triggers"] == 2


def test_convert_says_when_triggers_cannot_be_kept(tmp_path):
    src = tmp_path / "t.raw"
    _evt2_with_triggers(src)
    r = _cli("events", "convert", str(src), "-o", str(tmp_path / "o.csv"), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["triggers_written"] == 0
    assert "2 trigger events not written" in r.stderr


def test_every_reader_has_a_signature_or_says_it_has_none():
    for name in reader_names():
        r = READERS[name]
        assert (r.sniff is not None) != r.headerless, name


def test_make_events_round_trip_through_npz_keeps_order(tmp_path):
    from neuro_deploy.events.writers import write_events

    ev = make_events([3, 1], [2, 2], [20, 10], [1, 0])  # unsorted: allowed in arrays, warned
    write_events(ev, tmp_path / "u.npz")
    rec = read_events(tmp_path / "u.npz")
    assert rec.events.tolist() == ev.tolist() and any("unsorted" in w for w in rec.warnings)


def test_nmnist_data_set_folder_refuses_garbage(fixtures, tmp_path):
    from neuro_deploy.data import load_dataset

    d = need(fixtures / "events" / "nmnist" / "train")
    for i in (1, 2):
        (tmp_path / f"{i}.bin").write_bytes((d / f"{i}.bin").read_bytes())
    (tmp_path / "labels.txt").write_text("1 5\n2 0\n3 4\n")
    (tmp_path / "3.bin").write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(ImplausibleRecordingError, match="3.bin"):
        load_dataset("nmnist", root=tmp_path)
    (tmp_path / "3.bin").write_bytes((need(fixtures / "events" / "dvs_gesture" / "1.bin")).read_bytes())
    with pytest.raises(ImplausibleRecordingError, match="outside the declared 34x34"):
        load_dataset("nmnist", root=tmp_path)
