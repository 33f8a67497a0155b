"""One output policy for every writing command (issue 14, item 1).

Every command that writes is found from the click group (its callback carries
``writes_output``); each gets the same bad destinations and must answer exit 2 with one
line naming the output, before doing any work, with nothing created or replaced.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.cli_options import walk_commands

NMNIST_BIN = "events/formats/tonic_sample_nmnist_digit4.bin"


def writing_commands() -> dict[tuple[str, ...], str]:
    return {
        path: cmd.callback.writes_output
        for path, cmd in walk_commands(main)
        if cmd.callback is not None and hasattr(cmd.callback, "writes_output")
    }


def test_every_command_with_an_output_option_has_the_policy():
    """A command with -o/--output/--out but without @writes_output would escape the policy."""
    for path, cmd in walk_commands(main):
        outs = [p for p in cmd.params if set(getattr(p, "opts", [])) & {"-o", "--output", "--out"}]
        if outs:
            assert path in writing_commands(), f"{' '.join(path)} writes without the output policy"
    assert set(writing_commands()) >= {
        ("demo",),
        ("train",),
        ("distill",),
        ("export",),
        ("run",),
        ("replay",),
        ("report",),
        ("events", "convert"),
        ("events", "show"),
        ("events", "simulate"),
    }


def _invocations(tiny_dense, fixtures) -> dict[tuple[str, ...], tuple[list[str], str, list[str]]]:
    """command -> (args before -o, output suffix, its input paths)."""
    rec = str(need(fixtures / NMNIST_BIN))
    net, ckpt = str(tiny_dense["net"]), str(tiny_dense["ckpt"])
    grid = Path(net).parent / "outputs-sweep.yaml"
    grid.write_text(f"kind: deploy\nmodels: [{net}]\ndatasets: [digits]\nlimit: 4\n")
    return {
        ("demo",): (["demo", "--epochs", "1", "--lava-samples", "0", "--out"], "", []),
        ("train",): (["train", "--epochs", "1", "-o"], ".pt", []),
        ("distill",): (["distill", "--iterations", "1", "--teacher-epochs", "1", "-o"], ".npz", []),
        ("export",): (["export", ckpt, "-o"], ".net", [ckpt]),
        ("run",): (["run", net, "--steps", "3", "-o"], ".npz", [net]),
        ("replay",): (["replay", net, rec, "--dt-us", "10000", "-o"], ".json", [net, rec]),
        ("report",): (["report", net, "--steps", "3", "-o"], ".json", [net]),
        ("events", "convert"): (["events", "convert", rec, "-o"], ".npz", [rec]),
        ("events", "show"): (["events", "show", rec, "-o"], ".png", [rec]),
        ("events", "simulate"): (["events", "simulate", "--limit", "2", "-o"], "", []),
        ("sweep",): (["sweep", str(grid), "-o"], ".json", [str(grid)]),
    }


def _check_refused(r, what: str) -> None:
    assert r.exit_code == 2, (what, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), (what, r.exception)
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: output "), (what, r.output)
    assert "Traceback" not in r.output


@pytest.fixture()
def spy_work(monkeypatch):
    """Fail the test if a command starts real work after its output was refused."""
    calls = []

    def boom(*a, **k):
        calls.append(1)
        raise AssertionError("work started before the output check")

    import neuro_deploy.data as data
    import neuro_deploy.netx

    monkeypatch.setattr(data, "load_dataset", boom)
    monkeypatch.setattr(neuro_deploy.netx, "load_netx", boom)
    monkeypatch.setattr("neuro_deploy.events.readers.read_events", boom)
    monkeypatch.setattr("neuro_deploy.api.export", boom)
    return calls


def test_bad_destinations_refused_before_work_for_every_writer(tmp_path, tiny_dense, fixtures, spy_work):
    cases = _invocations(tiny_dense, fixtures)
    assert set(cases) == set(writing_commands()), "a new writing command needs a case here"
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    dev_before = os.stat("/dev/full")
    for cmd, (args, suffix, inputs) in cases.items():
        folder_out = suffix == ""
        bad = {
            "missing parent": f"/nonexistent_dir_nd14/x{suffix}",
            "device": "/dev/full",
            "proc": f"/proc/x{suffix}",
            # a folder output may be an existing folder; a file output may not
            "wrong kind": str(tmp_path / ("afile" if folder_out else "adir")),
        }
        for i, inp in enumerate(inputs):
            bad[f"input {i}"] = inp
        for what, dest in bad.items():
            r = CliRunner().invoke(main, args + [dest])
            _check_refused(r, f"{' '.join(cmd)}: {what}")
        assert not Path("/nonexistent_dir_nd14").exists()
    assert spy_work == []
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == dev_before.st_rdev
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


@pytest.fixture()
def read_only_dir(tmp_path):
    """A folder that refuses new files: a read-only tmpfs (root), else mode 0555."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_read_only_folder_refused_before_training(read_only_dir, monkeypatch):
    called = []
    import neuro_deploy.models as models

    monkeypatch.setattr(models, "train_model", lambda *a, **k: called.append(1))
    r = CliRunner().invoke(main, ["train", "--epochs", "1", "-o", str(read_only_dir / "x.pt")])
    _check_refused(r, "train into a read-only folder")
    assert "cannot write in" in r.output and called == []


def test_read_only_folder_refused_for_export_and_run(read_only_dir, tiny_dense):
    for args in (["export", str(tiny_dense["ckpt"])], ["run", str(tiny_dense["net"]), "--steps", "2"]):
        r = CliRunner().invoke(main, args + ["-o", str(read_only_dir / "x.out")])
        _check_refused(r, args[0])


def test_atomic_path_library_level(tmp_path):
    """The policy holds for library calls too: no parents created, no device replaced,
    the temp file removed on an exception and named so that it is recognisable."""
    from neuro_deploy._io import TEMP_MARK, atomic_path
    from neuro_deploy.errors import OutputPathError

    with pytest.raises(OutputPathError):
        with atomic_path(tmp_path / "no" / "such" / "x.npz"):
            pass
    assert not (tmp_path / "no").exists()
    with pytest.raises(OutputPathError):
        with atomic_path("/dev/null"):
            pass
    seen = []
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.npz") as tmp:
            seen.append(tmp)
            assert TEMP_MARK in tmp.name and tmp.parent == tmp_path
            tmp.write_bytes(b"half")
            raise RuntimeError("fail mid-write")
    assert not seen[0].exists() and not (tmp_path / "x.npz").exists()
    with atomic_path(tmp_path / "x.npz") as tmp:
        tmp.write_bytes(b"whole")
    assert (tmp_path / "x.npz").read_bytes() == b"whole"
    assert os.listdir(tmp_path) == ["x.npz"]


def test_symlinked_output_replaces_the_link_target(tmp_path):
    from neuro_deploy._io import write_text_atomic

    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    write_text_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    """A temp file of our naming whose process is gone (and old enough) goes with the next
    write in that folder; one of a live process stays."""
    from neuro_deploy import _io

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".x.net{_io.TEMP_MARK}{dead.pid}-0badc0de.net"
    live = tmp_path / f".y.net{_io.TEMP_MARK}1-0badc0de.net"  # pid 1 is alive
    for p in (stale, live):
        p.write_bytes(b"junk")
        os.utime(p, (1, 1))
    other = tmp_path / ".not-ours.net"
    other.write_bytes(b"keep")
    _io.write_text_atomic(tmp_path / "z.json", "{}")
    assert not stale.exists() and live.exists() and other.exists()


def test_disk_full_is_a_one_line_error(tmp_path, fixtures):
    """ENOSPC while writing: exit 2, one line, no temp file left (a 64 kB tmpfs)."""
    rec = need(fixtures / "events/formats/es_dvs_atis_320x240_1s.es")
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    d = tmp_path / "small"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
    try:
        r = CliRunner().invoke(main, ["events", "convert", str(rec), "-o", str(d / "e.csv")])
        _check_refused(r, "disk full")
        assert "No space left" in r.output and os.listdir(d) == []
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_simulate_npz_without_images_labels_keys_fails_before_writing(tmp_path):
    """x_train/y_train keys: labels found by shape; images used as labels (the old bug)
    or wrong labels arrays stop before any recording is written."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", x_train=rng.random((3, 8, 8)), y_train=np.array([1, 2, 3]))
    r = CliRunner().invoke(
        main, ["events", "simulate", "--images", str(tmp_path / "a.npz"), "-o", str(tmp_path / "sim")]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "sim" / "labels.txt").read_text().split("\n")[1:4] == ["1 1", "2 2", "3 3"]
    np.savez(tmp_path / "b.npz", x=rng.random((3, 8, 8)), y=np.array([1.5, 2, 3]))
    r = CliRunner().invoke(
        main,
        ["events", "simulate", "--images", str(tmp_path / "b.npz"), "--labels-key", "y", "-o", str(tmp_path / "sim2")],
    )
    assert r.exit_code == 2 and "non-negative" in r.output and not (tmp_path / "sim2").exists()
    np.savez(tmp_path / "c.npz", imgs=rng.random((3, 8, 8)), a=np.arange(3), b=np.arange(3))
    r = CliRunner().invoke(
        main, ["events", "simulate", "--images", str(tmp_path / "c.npz"), "-o", str(tmp_path / "sim3")]
    )
    assert r.exit_code == 2 and "--labels-key" in r.output and not (tmp_path / "sim3").exists()
    r = CliRunner().invoke(
        main, ["events", "simulate", "--images", str(tmp_path / "c.npz"), "--key", "nope", "-o", str(tmp_path / "sim4")]
    )
    assert r.exit_code == 2 and "'nope'" in r.output and not (tmp_path / "sim4").exists()
