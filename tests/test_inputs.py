"""One input policy (issue 14, item 2) and the conveniences of item 7.

Numeric options are validated by click (ranges, choices); labels against recordings and
classes; spike inputs binary; input lengths exact unless --pad/--tile; a --sensor-size
must hold the data.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.cli_options import walk_commands
from neuro_deploy.events.types import make_events

NMNIST = "events/nmnist/train"


def _usage_error(r, option: str) -> None:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and option in r.output, r.output


@pytest.mark.parametrize(
    "args,option",
    [
        (["replay", "N", "R", "--dt-us", "-5000"], "--dt-us"),
        (["train", "--dt-us", "-5000", "-o", "x.pt"], "--dt-us"),
        (["replay", "N", "R", "--dt-us", "1000", "--downsample", "0"], "--downsample"),
        (["report", "N", "--recordings", "R", "--dt-us", "1000", "--downsample", "0"], "--downsample"),
        (["replay", "N", "R", "--dt-us", "1000", "--workers", "0"], "--workers"),
        (["replay", "N", "R", "--dt-us", "1000", "--sensor-size", "0x0"], "--sensor-size"),
        (["events", "info", "R", "--sensor-size", "0x0"], "--sensor-size"),
        (["events", "convert", "R", "-o", "x.npz", "--sensor-size", "34"], "--sensor-size"),
        (["train", "--epochs", "0", "-o", "x.pt"], "--epochs"),
        (["train", "--val-fraction", "1.5", "-o", "x.pt"], "--val-fraction"),
        (["train", "--val-fraction", "0", "-o", "x.pt"], "--val-fraction"),
        (["train", "--hidden", "128,-4", "-o", "x.pt"], "--hidden"),
        (["train", "--seed", "-1", "-o", "x.pt"], "--seed"),
        (["evaluate", "N", "--limit", "0"], "--limit"),
        (["run", "N", "--steps", "0", "-o", "x.npz"], "--steps"),
        (["replay", "N", "R", "--dt-us", "1000", "--crop", "0,0,0,5"], "--crop"),
        (["export", "M", "--target", "gpu", "-o", "x.net"], "--target"),
        (["run", "N", "--steps", "3", "--backend", "loihi9", "-o", "x.npz"], "--backend"),
        (["evaluate", "N", "--dataset", "imagenet"], "--dataset"),
        (["events", "info", "R", "--format", "mp4"], "--format"),
    ],
)
def test_numeric_and_named_options_are_checked_at_parse_time(args, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, args)
    _usage_error(r, option)
    assert list(tmp_path.iterdir()) == []


def test_every_option_has_help_and_choices_show(tmp_path):
    missing = [
        f"{' '.join(path)} {p.opts[0]}"
        for path, cmd in walk_commands(main)
        for p in cmd.params
        if isinstance(p, __import__("click").Option) and not p.help
    ]
    assert missing == []
    for cmd, option, choices in (
        (["export"], "--target", "[loihi2-sim|nir]"),
        (["run"], "--backend", "[fast|float|lava]"),
        (["evaluate"], "--dataset", "[digits|mnist-dvs|nmnist]"),
        (["events", "info"], "--format", "nmnist-bin"),
    ):
        out = CliRunner().invoke(main, cmd + ["--help"]).output
        line = " ".join(out.split())
        assert f"{option} {choices}" in line or (option in out and choices in out), (cmd, out)


def test_every_command_has_quiet():
    for path, cmd in walk_commands(main):
        if not hasattr(cmd, "commands"):
            assert any("--quiet" in p.opts for p in cmd.params), path


def test_events_formats_and_profiles_commands():
    r = CliRunner().invoke(main, ["events", "formats", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    names = {x["name"] for x in d["readers"]}
    assert {"nmnist-bin", "evt2", "evt3", "aedat4", "es", "dat", "npz"} <= names
    assert ".bin" in d["writers"] and any(x["writable"] for x in d["readers"])
    r = CliRunner().invoke(main, ["profiles", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {p["name"] for p in d["profiles"]} >= {"loihi1", "loihi2"}
    text = CliRunner().invoke(main, ["profiles"]).output
    assert "loihi2" in text and "yaml" in text


# ------------------------------------------------------------------ spike inputs
def test_run_input_values_must_be_spikes(tmp_path, tiny_dense):
    net = str(tiny_dense["net"])
    base = (np.random.default_rng(0).random((2312, 20)) < 0.1).astype(np.float32)
    for bad, word in ((np.nan, "NaN"), (-3, "0 or 1"), (2, "0 or 1"), (0.5, "integers")):
        x = base.copy()
        x[5, 3] = bad
        np.save(tmp_path / "x.npy", x)
        r = CliRunner().invoke(
            main, ["run", net, "--steps", "20", "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")]
        )
        assert r.exit_code == 2 and word in r.output and "x.npy" in r.output, r.output
        assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("dtype", ["int8", "uint8", ">i2", "<i4", "int64"])
def test_integer_spike_inputs_outside_0_1_are_bad_input(tiny_dense, dtype):
    """Integer inputs are checked in one pass (as unsigned): -3 and 2 are refused in
    every integer type and byte order, 0/1 pass."""
    from neuro_deploy.errors import BadInputError
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim.base import check_input_values

    net = load_netx(tiny_dense["net"])
    x = (np.random.default_rng(0).random((2, 2312, 5)) < 0.1).astype(dtype)
    check_input_values(net, x)
    for bad in (-3, 2):
        if bad < 0 and np.dtype(dtype).kind == "u":
            continue
        y = x.copy()
        y[1, 7, 2] = bad
        with pytest.raises(BadInputError, match="0 or 1"):
            check_input_values(net, y)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "<i2", "int64", "int8-strided"])
@pytest.mark.parametrize("where", ["first", "last-step", "dense-row"])
def test_fast_backend_checks_integer_spikes_while_it_reads_them(tiny_dense, dtype, where):
    """The fast backend's dense kernel checks integer inputs as it reads them (no pass
    before the run): a value other than 0 and 1 anywhere - the last step, whose spikes the
    run never uses, or a row dense enough for the GEMM - is the same named error as the
    up-front check's, and 0/1 inputs give the same spikes as bool ones."""
    from neuro_deploy.errors import BadInputError
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim import RunSpec, get_backend
    from neuro_deploy.sim.fast import kernel_checks_input

    net = load_netx(tiny_dense["net"])
    rng = np.random.default_rng(1)
    spikes = rng.random((3, 2312, 12)) < 0.05
    spikes[2, :, 4] = True  # a dense row: the GEMM computes its sums
    fast = get_backend("fast")
    ref = fast.run(net, RunSpec(steps=12, inputs=spikes)).spikes

    def layout(a):  # not contiguous: the kernel reads it byte by byte
        return np.repeat(a, 2, axis=-1)[..., ::2] if dtype.endswith("strided") else a

    x = spikes.astype(dtype.split("-")[0])
    spec = RunSpec(steps=12, inputs=layout(x))
    assert kernel_checks_input(net, spec)
    got = fast.run(net, spec).spikes
    assert all(np.array_equal(got[k], ref[k]) for k in ref)
    b, n, t = {"first": (0, 0, 0), "last-step": (1, 2311, 11), "dense-row": (2, 100, 4)}[where]
    for bad in (2, -1):
        if bad < 0 and x.dtype.kind == "u":
            continue
        y = x.copy()
        y[b, n, t] = bad
        with pytest.raises(BadInputError, match="0 or 1"):
            fast.run(net, RunSpec(steps=12, inputs=layout(y)))


def test_graded_first_layer_takes_integers(tmp_path):
    """A netx input layer takes graded values (into its neurons' a_in): 2 and -3 are fine,
    a NaN is not (library level: sim.base.check_input_values)."""
    from neuro_deploy.errors import BadInputError
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim.base import check_input_values, takes_graded_input
    from conftest import FIXTURES

    net = load_netx(need(FIXTURES / "lava-dl" / "tinynet" / "tiny.net"))
    assert takes_graded_input(net)
    x = np.zeros(net.input_lava_shape + (4,))
    x[0, 0, 0, 0], x[1, 1, 1, 1] = 2, -3
    check_input_values(net, x)
    x[0, 0, 0, 1] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        check_input_values(net, x)


def test_short_input_does_not_wrap_silently(tmp_path, tiny_dense):
    net = str(tiny_dense["net"])
    x = (np.random.default_rng(1).random((2312, 10)) < 0.2).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    run = lambda *extra: CliRunner().invoke(
        main, ["run", net, "--steps", "25", "--input", str(tmp_path / "x.npy"), *extra, "--json"]
    )
    r = run("-o", str(tmp_path / "a.npz"))
    assert r.exit_code == 2 and "10 time steps for --steps 25" in r.output and "--pad" in r.output
    assert not (tmp_path / "a.npz").exists()
    assert run("--pad", "--tile", "-o", str(tmp_path / "a.npz")).exit_code == 2
    assert run("--pad", "-o", str(tmp_path / "pad.npz")).exit_code == 0
    assert run("--tile", "-o", str(tmp_path / "tile.npz")).exit_code == 0
    np.save(tmp_path / "xp.npy", np.concatenate([x, np.zeros((2312, 15), np.int8)], -1))
    np.save(tmp_path / "xt.npy", x[:, np.arange(25) % 10])
    for flag, explicit in (("pad", "xp"), ("tile", "xt")):
        r = CliRunner().invoke(
            main,
            [
                "run",
                net,
                "--steps",
                "25",
                "--input",
                str(tmp_path / f"{explicit}.npy"),
                "-o",
                str(tmp_path / f"{explicit}.npz"),
                "--json",
            ],
        )
        assert r.exit_code == 0
        a, b = np.load(tmp_path / f"{flag}.npz"), np.load(tmp_path / f"{explicit}.npz")
        assert all((a[k] == b[k]).all() for k in a.files)
    r = CliRunner().invoke(main, ["report", net, "--steps", "25", "--input", str(tmp_path / "x.npy")])
    assert r.exit_code == 2 and "10 time steps" in r.output


# ------------------------------------------------------------------ labels
def _recordings(fixtures, tmp_path, n=3):
    d = need(fixtures / NMNIST)
    sub = tmp_path / "rec"
    sub.mkdir()
    for i in range(1, n + 1):
        (sub / f"{i}.bin").write_bytes((d / f"{i}.bin").read_bytes())
    return sub


def test_labels_conflict_and_out_of_range_are_errors(tmp_path, fixtures, tiny_dense):
    sub = _recordings(fixtures, tmp_path)
    net = str(tiny_dense["net"])
    cases = {
        "conflict": ("1 5\n2 0\n1 7\n", "labelled 7 here but 5 on line 1"),
        "range": ("1 77\n2 0\n", "class 77 of '1' is outside the network's 10 classes"),
        "negative": ("1 -1\n", "negative"),
        "name vs stem": ("1 3\n1.bin 4\n", "labelled [3, 4]"),
    }
    for name, (text, msg) in cases.items():
        (tmp_path / f"{name}.txt").write_text(text)
        for cmd in (
            ["replay", net, str(sub), "--dt-us", "10000"],
            ["report", net, "--recordings", str(sub), "--dt-us", "10000"],
        ):
            r = CliRunner().invoke(main, cmd + ["--labels", str(tmp_path / f"{name}.txt")])
            assert r.exit_code == 2 and msg in r.output, (name, cmd[0], r.output)


def test_unmatched_labels_warn(tmp_path, fixtures, tiny_dense):
    sub = _recordings(fixtures, tmp_path)
    (tmp_path / "l.txt").write_text("1 5\n")
    r = CliRunner().invoke(
        main,
        ["replay", str(tiny_dense["net"]), str(sub), "--dt-us", "10000", "--labels", str(tmp_path / "l.txt"), "-q"],
    )
    assert r.exit_code == 0
    assert "warning:" in r.stderr and "2 of 3 recordings have no label" in r.stderr and "2.bin" in r.stderr
    (tmp_path / "m.txt").write_text("a 5\nb 1\n")
    r = CliRunner().invoke(
        main,
        ["replay", str(tiny_dense["net"]), str(sub), "--dt-us", "10000", "--labels", str(tmp_path / "m.txt"), "-q"],
    )
    assert r.exit_code == 0 and "none of its 2 names matches a recording" in r.stderr


# ------------------------------------------------------------------ sensor size
def test_sensor_size_must_hold_the_data(tmp_path, tiny_dense):
    ev = make_events(np.array([3, 53, 10]), np.array([2, 5, 33]), np.array([0, 10, 20]), np.array([1, 0, 1]))
    np.save(tmp_path / "r.npy", ev)
    r = CliRunner().invoke(
        main, ["events", "convert", str(tmp_path / "r.npy"), "--sensor-size", "34x34", "-o", str(tmp_path / "o.npz")]
    )
    # the reader's plausibility check (events outside the declared sensor) or the size check
    # itself stops it first: either way exit 2, naming the sensor and how far the data reaches
    outside = lambda out: "34x34" in out and ("x 3..53" in out or "x up to 53" in out)  # noqa: E731
    assert r.exit_code == 2 and outside(r.output), r.output
    assert not (tmp_path / "o.npz").exists()
    r = CliRunner().invoke(main, ["events", "info", str(tmp_path / "r.npy"), "--sensor-size", "34x34"])
    assert r.exit_code == 2 and outside(r.output), r.output
    r = CliRunner().invoke(
        main, ["replay", str(tiny_dense["net"]), str(tmp_path / "r.npy"), "--dt-us", "1000", "--sensor-size", "34x34"]
    )
    assert r.exit_code == 2 and outside(r.output), r.output
    r = CliRunner().invoke(
        main, ["events", "convert", str(tmp_path / "r.npy"), "--sensor-size", "54x34", "-o", str(tmp_path / "o.npz")]
    )
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------ mnist-dvs laziness
def test_mnist_dvs_emulates_only_the_batches_it_uses(tmp_path, monkeypatch):
    """`evaluate --limit 20` emulates the batches its 20 samples fall in, and those
    recordings are exactly what emulating the whole set gives (same seeds per batch)."""
    import neuro_deploy.data.datasets as dsm
    import neuro_deploy.events.emulator as em

    monkeypatch.setenv("NEURO_DEPLOY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dsm, "EMULATION_BATCH", 40)
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = np.kron(d.images[:200], np.ones((3, 3)))[:, :28, :28] * 16
    np.savez(tmp_path / "m.npz", train_images=imgs.astype(np.uint8), train_labels=d.target[:200])
    made = []
    real = em.emulate_saccades
    monkeypatch.setattr(em, "emulate_saccades", lambda im, *a, **k: made.append(len(im)) or real(im, *a, **k))
    ds = dsm.load_dataset("mnist-dvs", root=tmp_path / "m.npz", limit=200)
    _, val = ds.split(0.2, 0)
    first = val.subset(np.arange(5))
    x_lazy = first.to_tensors(10_000, 30)
    assert sum(made) == 40, made  # one batch of 40, not 200 images
    full = dsm._emulated("mnist-dvs", imgs.astype(np.uint8)[:200] / 255.0, d.target[:200], 0, False)
    x_full = full.split(0.2, 0)[1].subset(np.arange(5)).to_tensors(10_000, 30)
    assert np.array_equal(x_lazy, x_full)


def test_evaluate_limit_on_mnist_dvs_does_not_emulate_everything(tmp_path, monkeypatch, tiny_dense):
    import neuro_deploy.data.datasets as dsm
    import neuro_deploy.events.emulator as em

    monkeypatch.setenv("NEURO_DEPLOY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dsm, "EMULATION_BATCH", 50)
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "m.npz",
        train_images=(rng.random((400, 28, 28)) * 255).astype(np.uint8),
        train_labels=rng.integers(0, 10, 400),
    )
    made = []
    real = em.emulate_saccades
    monkeypatch.setattr(em, "emulate_saccades", lambda im, *a, **k: made.append(len(im)) or real(im, *a, **k))
    r = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(tiny_dense["net"]),
            "--dataset",
            "mnist-dvs",
            "--root",
            str(tmp_path / "m.npz"),
            "--limit",
            "20",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["samples"] == 20
    assert sum(made) <= 150, made  # the first 20 val samples lie in the first 3 batches of 8


# ------------------------------------------------------------------ progress
def test_progress_lines_in_logs_and_quiet(tmp_path, capsys):
    from neuro_deploy import _progress

    with _progress.task(50, "replay on fast", "recordings") as bar:
        for _ in range(50):
            _progress.tick(1, "recordings")
            _progress.tick(7, "steps")  # Lava steps inside: another bar's unit
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "\r" not in err and len(lines) == 10, err
    assert lines[0].startswith("replay on fast: 10% (5/50 recordings") and lines[-1].startswith("replay on fast: 100%")
    previous = _progress.set_quiet(True)
    try:
        with _progress.task(50, "x") as bar:
            bar.update(50)
    finally:
        _progress.set_quiet(previous)
    assert capsys.readouterr().err == ""


def test_run_and_replay_print_progress_lines_not_carriage_returns(tmp_path, fixtures, tiny_dense):
    sub = _recordings(fixtures, tmp_path, 4)
    r = CliRunner().invoke(main, ["replay", str(tiny_dense["net"]), str(sub), "--dt-us", "10000"])
    assert r.exit_code == 0 and "\r" not in r.stderr
    assert "replay on fast: 100% (4/4 recordings" in r.stderr
    r = CliRunner().invoke(main, ["replay", str(tiny_dense["net"]), str(sub), "--dt-us", "10000", "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""
    r = CliRunner().invoke(main, ["run", str(tiny_dense["net"]), "--steps", "50", "-o", str(tmp_path / "o.npz")])
    assert r.exit_code == 0 and "run on fast: 100% (50/50 steps" in r.stderr and "\r" not in r.stderr


def test_lava_run_in_chunks_is_the_same_run(tiny_dense):
    """Progress splits a long Lava run into consecutive `run` calls: same spikes."""
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim import RunSpec
    from neuro_deploy.sim import lava as lv

    net = load_netx(tiny_dense["net"])
    x = (np.random.default_rng(2).random((1, 2312, 40)) < 0.2).astype(np.int8)
    spec = RunSpec(steps=40, inputs=x)
    assert lv.run_chunks(40, min_steps=10, chunks=4) == [10, 10, 10, 10]
    assert lv.run_chunks(25, min_steps=10, chunks=4) == [7, 7, 7, 4]
    whole = lv.run_one(net, spec)
    old = lv.CHUNK_MIN_STEPS
    lv.CHUNK_MIN_STEPS = 10
    try:
        chunked = lv.run_one(net, spec)
    finally:
        lv.CHUNK_MIN_STEPS = old
    assert all((whole[k] == chunked[k]).all() for k in whole) and whole["layer1"].any()


def test_readme_documents_the_cache():
    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    assert "NEURO_DEPLOY_CACHE" in text and "~/.cache/neuro-deploy" in text
    assert "events formats" in text and "neuro-deploy profiles" in text


def test_training_log_has_plain_lines_not_carriage_returns(tmp_path):
    """The demo log was 99 kB of tqdm redraws: in a log, training prints a line per 10 %."""
    r = CliRunner().invoke(
        main,
        ["train", "--epochs", "2", "--hidden", "8", "--steps", "10", "--dt-us", "30000", "-o", str(tmp_path / "m.pt")],
    )
    assert r.exit_code == 0, r.output
    lines = [l for l in r.stderr.splitlines() if l.startswith("training")]
    assert "\r" not in r.stderr and 1 <= len(lines) <= 11, r.stderr
    assert lines[-1].startswith("training: 100%")


def test_train_data_that_is_not_a_distilled_npz_is_bad_input(tmp_path):
    """Found by the CLI fuzz: `train --data x.npy` ended in a TypeError traceback."""
    np.save(tmp_path / "x.npy", np.zeros((3, 3)))
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04junk")
    for f in ("x.npy", "junk.npz"):
        r = CliRunner().invoke(
            main, ["train", "--epochs", "1", "--data", str(tmp_path / f), "-o", str(tmp_path / "m.pt")]
        )
        assert r.exit_code == 2 and "distilled data set" in r.output and f in r.output, r.output


def test_array_options_take_one_npy(tmp_path, tiny_dense):
    np.savez(tmp_path / "a.npz", x=np.zeros(3))
    r = CliRunner().invoke(
        main,
        [
            "run",
            str(tiny_dense["net"]),
            "--steps",
            "3",
            "--input",
            str(tmp_path / "a.npz"),
            "-o",
            str(tmp_path / "o.npz"),
        ],
    )
    assert r.exit_code == 2 and "not an .npz archive" in r.output, r.output
