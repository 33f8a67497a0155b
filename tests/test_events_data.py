"""Event reading, emulation, binning and data sets."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from neuro_deploy.errors import CorruptRecordingError, DatasetError, UnknownFormatError
from neuro_deploy.events import bin_events, read_events
from neuro_deploy.events.emulator import SaccadeConfig, emulate_saccades
from neuro_deploy.events.writers import encode_atis_bin, write_events


def test_nmnist_bin_matches_tonic_on_every_fixture_file(fixtures):
    import tonic

    files = sorted(need(fixtures / "events" / "nmnist" / "train").glob("*.bin"))[:200]
    files += sorted(need(fixtures / "events" / "dvs_gesture").glob("*.bin"))
    files.append(need(fixtures / "events" / "formats" / "tonic_sample_nmnist_digit4.bin"))
    dt = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    for f in files:
        ours = read_events(f).events
        ref = tonic.io.read_mnist_file(str(f), dtype=dt)
        assert len(ours) == len(ref) > 0, f
        for k in "xytp":
            assert (ours[k] == ref[k]).all(), (f, k)


def test_dvs_gesture_geometry(fixtures):
    rec = read_events(need(fixtures / "events" / "dvs_gesture" / "1.bin"))
    assert rec.sensor_size.width == 128 and rec.events["x"].max() < 128
    assert 1_400_000 < rec.events["t"].max() < 1_460_000


def test_truncated_and_missing_files(tmp_path, fixtures):
    src = need(fixtures / "events" / "formats" / "tonic_sample_nmnist_digit4.bin").read_bytes()
    bad = tmp_path / "cut.bin"
    bad.write_bytes(src[:-3])
    with pytest.raises(CorruptRecordingError) as exc:
        read_events(bad)
    assert exc.value.offset == len(src) - 5 and "cut.bin" in str(exc.value)
    with pytest.raises(CorruptRecordingError):
        read_events(tmp_path / "nope.bin")
    odd = tmp_path / "x.weird"
    odd.write_bytes(b"123")
    with pytest.raises(UnknownFormatError) as exc:
        read_events(odd)
    assert "nmnist-bin" in str(exc.value)


def test_empty_recording_is_valid(tmp_path):
    p = tmp_path / "empty.bin"
    p.write_bytes(b"")
    assert len(read_events(p).events) == 0


@pytest.mark.parametrize("suffix", [".bin", ".npz", ".npy", ".h5", ".csv"])
def test_writers_round_trip_through_bin(tmp_path, suffix):
    ev = emulate_saccades(np.eye(8)[None] * 0.9, seed=1)[0]
    assert len(ev) > 100
    p = tmp_path / f"e{suffix}"
    write_events(ev, p, (34, 34))
    assert p.exists()
    if suffix == ".bin":
        back = read_events(p).events
        for k in "xytp":
            assert (back[k] == np.sort(ev, order="t")[k]).all()


def test_atis_overflow_words_round_trip(tmp_path):
    from neuro_deploy.events.formats.atis import decode_atis_bin
    from neuro_deploy.events.types import make_events

    ev = make_events([1, 2, 3], [4, 5, 6], [10, 2**23 + 5, 2**24 + 7], [1, 0, 1])
    back = decode_atis_bin(np.frombuffer(encode_atis_bin(ev), np.uint8))
    assert back["t"].tolist() == ev["t"].tolist()


def test_emulator_is_deterministic_and_nmnist_like():
    from sklearn.datasets import load_digits

    imgs = load_digits().images[:20] / 16.0
    a = emulate_saccades(imgs, seed=3)
    b = emulate_saccades(imgs, seed=3)
    c = emulate_saccades(imgs, seed=4)
    assert all((x == y).all() for x, y in zip(a, b))
    assert any(len(x) != len(y) for x, y in zip(a, c))
    cfg = SaccadeConfig()
    for ev in a:
        assert ev["x"].max() < 34 and ev["y"].max() < 34 and ev["t"].max() < cfg.duration_us
        assert (np.diff(ev["t"]) >= 0).all()
        assert 0.3 < ev["p"].mean() < 0.7  # ON and OFF both present
        assert 1000 < len(ev) < 20000


def test_binning_counts_and_layout():
    from neuro_deploy.events.types import make_events

    ev = make_events([0, 1, 1, 33], [0, 2, 2, 33], [0, 999, 1000, 5000], [1, 0, 0, 1])
    t = bin_events(ev, (34, 34), 1000, 6, binary=False)
    assert t.shape == (2, 34, 34, 6)
    assert t[1, 0, 0, 0] == 1 and t[0, 2, 1, 0] == 1 and t[0, 2, 1, 1] == 1 and t[1, 33, 33, 5] == 1
    assert t.sum() == 4


def test_nmnist_folder_dataset_and_split(fixtures):
    from neuro_deploy.data import load_dataset

    ds = load_dataset("nmnist", root=need(fixtures / "events" / "nmnist"))
    assert len(ds) == 1000
    assert np.bincount(ds.labels).tolist() == [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]
    tr, va = ds.split(0.2, seed=0)
    assert len(tr) + len(va) == 1000 and not set(tr.names) & set(va.names)
    assert abs(len(va) - 200) <= 10


def test_dataset_errors(tmp_path):
    from neuro_deploy.data import load_dataset, read_labels
    from neuro_deploy.errors import UnknownNameError

    with pytest.raises(DatasetError, match="not found"):
        load_dataset("nmnist", root=tmp_path / "missing")
    with pytest.raises(DatasetError, match="no labelled"):
        load_dataset("nmnist", root=tmp_path)
    with pytest.raises(UnknownNameError):
        load_dataset("imagenet")
    (tmp_path / "l.txt").write_text("# c\n1 x\n")
    with pytest.raises(DatasetError, match="not an integer"):
        read_labels(tmp_path / "l.txt")


def test_digits_dataset_is_the_embedded_default(digits):
    assert len(digits) == 1797 and digits.sensor == (34, 34)
    x = digits.subset([0, 1]).to_tensors(5000, 60)
    assert x.shape == (2, 2, 34, 34, 60) and x.dtype == np.uint8 and x.max() == 1
