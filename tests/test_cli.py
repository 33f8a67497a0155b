"""The command line: every command has help; contracts of run/doctor; exit codes."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and sub-group of the click group, by its path of names."""
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append((prefix + (name,), cmd))
        if isinstance(cmd, click.Group):
            out += walk(cmd, prefix + (name,))
    return out


COMMANDS = walk(main)
LEAVES = [(path, cmd) for path, cmd in COMMANDS if not isinstance(cmd, click.Group)]


def has_json(cmd: click.Command) -> bool:
    return any("--json" in p.opts for p in cmd.params if isinstance(p, click.Option))


def test_the_group_is_walked():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {
        "doctor",
        "demo",
        "train",
        "export",
        "run",
        "evaluate",
        "fit",
        "replay",
        "report",
        "distill",
        "events",
        "events info",
        "events convert",
        "events show",
        "events simulate",
    } <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_every_command_has_help(path):
    r = CliRunner().invoke(main, list(path) + ["--help"])
    assert r.exit_code == 0 and "Usage" in r.output
    cmd = dict(COMMANDS)[path]
    assert (cmd.help or "").strip(), f"{' '.join(path)} has no help text"


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=" ".join)
def test_every_command_takes_json(path):
    """Every command offers --json (one JSON object on stdout) and says so in its help."""
    cmd = dict(LEAVES)[path]
    assert has_json(cmd), f"{' '.join(path)} has no --json"
    r = CliRunner().invoke(main, list(path) + ["--help"])
    assert "--json" in r.output


@pytest.fixture(scope="module")
def cli_inputs(tmp_path_factory, tiny_dense, digits):
    """Small real inputs for one --json run of every command (a trained net, recordings)."""
    from neuro_deploy.events.writers import write_events

    d = tmp_path_factory.mktemp("cli_json")
    rec = d / "recs"
    rec.mkdir()
    for i in range(3):
        write_events(digits.events[i], rec / f"{i}.bin")
    (rec / "labels.txt").write_text("".join(f"{i}.bin {int(digits.labels[i])}\n" for i in range(3)))
    x = (np.random.default_rng(0).random((2312, 8)) < 0.1).astype(np.int8)
    np.save(d / "x.npy", x)
    np.save(d / "imgs.npy", np.random.default_rng(0).random((2, 8, 8)))
    (d / "sweep.yaml").write_text(
        f"models: [{tiny_dense['net']}]\ndatasets:\n  - {{dataset: digits, limit: 8}}\n"
        "profiles: [loihi2]\nbackends: [fast]\n"
    )
    return {
        "sweep": d / "sweep.yaml",
        "dir": d,
        "net": str(tiny_dense["net"]),
        "ckpt": str(tiny_dense["ckpt"]),
        "rec": rec,
        "x": str(d / "x.npy"),
        "imgs": str(d / "imgs.npy"),
    }


def json_args(path: tuple[str, ...], c: dict) -> list[str] | None:
    """Arguments of a cheap, real run of each command (``None``: covered in a slower tier)."""
    d = c["dir"]
    return {
        ("doctor",): ["--no-lava-run"],
        ("export",): [c["ckpt"], "-o", str(d / "e.net")],
        ("run",): [c["net"], "--steps", "8", "--input", c["x"], "-o", str(d / "r.npz")],
        ("evaluate",): [c["net"], "--limit", "8"],
        ("fit",): [c["net"]],
        ("replay",): [c["net"], str(c["rec"]), "--dt-us", "10000", "--labels", str(c["rec"] / "labels.txt")],
        ("report",): [c["net"], "--dataset", "digits", "--limit", "8"],
        ("distill",): ["--method", "random", "--ipc", "1", "--steps", "10", "-o", str(d / "d.npz")],
        ("events", "info"): [str(c["rec"] / "0.bin")],
        ("events", "formats"): [],
        ("profiles",): [],
        ("events", "convert"): [str(c["rec"] / "0.bin"), "-o", str(d / "c.npz")],
        ("events", "show"): [str(c["rec"] / "0.bin"), "-o", str(d / "s.png")],
        ("events", "simulate"): ["--images", c["imgs"], "-o", str(d / "sim")],
        ("sweep",): [str(c["sweep"]), "-o", str(d / "sw")],
    }.get(path)


SLOW_JSON = {("demo",), ("train",)}  # trained end to end in test_pipeline / test_quantize


@pytest.mark.train
@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=" ".join)
def test_every_command_json_is_one_object(path, cli_inputs):
    """A real run of each command with --json prints exactly one JSON object on stdout."""
    args = json_args(path, cli_inputs)
    if args is None:
        assert path in SLOW_JSON, f"add a cheap --json run of {' '.join(path)} to json_args"
        pytest.skip(f"{' '.join(path)} --json trains a model: covered by its own tests")
    r = CliRunner().invoke(main, list(path) + args + ["--json"])
    assert r.exit_code == 0, r.output
    assert isinstance(json.loads(r.stdout), dict)


def test_doctor_json():
    r = CliRunner().invoke(main, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["ok"] and d["lava_run"]["ok"]
    for k in ("numpy", "torch", "lava-nc", "lava-dl", "tonic", "norse", "nir"):
        assert d["versions"][k]


def test_run_contract_tinynet(tmp_path, fixtures):
    d = need(fixtures / "lava-dl" / "tinynet")
    np.save(tmp_path / "b.npy", np.load(d / "input_bias.npy"))
    outs = {}
    for be in ("fast", "lava"):
        r = CliRunner().invoke(
            main,
            [
                "run",
                str(d / "tiny.net"),
                "--backend",
                be,
                "--steps",
                "16",
                "--input-bias",
                str(tmp_path / "b.npy"),
                "--probe",
                "all",
                "-o",
                str(tmp_path / f"{be}.npz"),
            ],
        )
        assert r.exit_code == 0, r.output
        outs[be] = np.load(tmp_path / f"{be}.npz")
    assert outs["fast"].files == outs["lava"].files == ["layer0", "layer1", "layer2"]
    assert outs["fast"]["layer1"].shape == (6, 6, 24, 16)
    for k in outs["fast"].files:
        assert (outs["fast"][k] == outs["lava"][k]).all()


def test_run_input_and_errors(tmp_path, tiny_dense):
    net = str(tiny_dense["net"])
    x = (np.random.default_rng(0).random((2312, 20)) < 0.1).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(
        main,
        [
            "run",
            net,
            "--steps",
            "20",
            "--input",
            str(tmp_path / "x.npy"),
            "--probe",
            "output",
            "-o",
            str(tmp_path / "o.npz"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "o.npz")["layer1"].shape == (10, 20)
    np.save(tmp_path / "bad.npy", x[:100])
    r = CliRunner().invoke(
        main, ["run", net, "--steps", "20", "--input", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "b.npz")]
    )
    assert r.exit_code == 2 and "expected shape (2312, 20)" in r.output
    assert not (tmp_path / "b.npz").exists()
    r = CliRunner().invoke(main, ["run", net, "--steps", "5", "--backend", "loihi9", "-o", str(tmp_path / "c.npz")])
    assert r.exit_code == 2 and "fast" in r.output and "lava" in r.output


def test_unsupported_layer_is_named(tmp_path):
    import h5py

    p = tmp_path / "pool.net"
    with h5py.File(p, "w") as h5:
        g = h5.create_group("layer/0")
        g.create_dataset("type", data=np.array([b"pool"]))
    r = CliRunner().invoke(main, ["run", str(p), "--steps", "3", "-o", str(tmp_path / "o.npz")])
    assert r.exit_code == 2 and "layer 0" in r.output and "'pool'" in r.output and "dense" in r.output


def test_export_cli_bad_target_and_checkpoint(tmp_path, tiny_dense):
    r = CliRunner().invoke(main, ["export", str(tiny_dense["ckpt"]), "--target", "gpu", "-o", str(tmp_path / "m.net")])
    assert r.exit_code == 2 and "loihi2-sim" in r.output
    r = CliRunner().invoke(
        main, ["export", str(tmp_path / "none.pt"), "--target", "loihi2-sim", "-o", str(tmp_path / "m.net")]
    )
    assert r.exit_code == 2 and "none.pt" in r.output
    assert not (tmp_path / "m.net").exists()


def test_events_info_json(fixtures):
    f = need(fixtures / "events" / "formats" / "tonic_sample_nmnist_digit4.bin")
    r = CliRunner().invoke(main, ["events", "info", str(f), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["events"] == 4325 and d["format"] == "nmnist-bin" and d["width"] == 34
    assert d["on"] + d["off"] == 4325 and d["t_end_us"] == 311175


def test_evaluate_missing_root_is_bad_input(tmp_path, tiny_dense):
    r = CliRunner().invoke(
        main, ["evaluate", str(tiny_dense["net"]), "--dataset", "nmnist", "--root", str(tmp_path / "nope")]
    )
    assert r.exit_code == 2 and "nope" in r.output


def test_export_cli_success_with_profile(tmp_path, tiny_dense):
    r = CliRunner().invoke(
        main,
        [
            "export",
            str(tiny_dense["ckpt"]),
            "--target",
            "loihi2-sim",
            "-o",
            str(tmp_path / "m.net"),
            "--profile",
            "loihi2",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["target"] == "loihi2-sim" and d["fit"]["fits"] and len(d["layers"]) == 2
    assert (tmp_path / "m.net").stat().st_mode & 0o044  # readable like any other file
    r = CliRunner().invoke(main, ["export", str(tiny_dense["ckpt"]), "--target", "nir", "-o", str(tmp_path / "m.nir")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        main, ["export", str(tmp_path / "m.nir"), "--target", "loihi2-sim", "-o", str(tmp_path / "n.net")]
    )
    assert r.exit_code == 0 and "class agreement" in r.output


def test_events_convert_show_simulate(tmp_path, fixtures):
    import json as _json

    from neuro_deploy.events import read_events

    f = need(fixtures / "events" / "formats" / "dat2_ncars_tonic_sample_atis.dat")
    r = CliRunner().invoke(main, ["events", "convert", str(f), "-o", str(tmp_path / "e.h5"), "--json"])
    assert r.exit_code == 0 and _json.loads(r.stdout)["events"] == 2009
    assert len(read_events(tmp_path / "e.h5").events) == 2009
    r = CliRunner().invoke(main, ["events", "show", str(f), "-o", str(tmp_path / "e.png")])
    assert r.exit_code == 0 and (tmp_path / "e.png").stat().st_size > 5000
    np.save(tmp_path / "imgs.npy", np.random.default_rng(0).random((3, 8, 8)))
    r = CliRunner().invoke(
        main, ["events", "simulate", "--images", str(tmp_path / "imgs.npy"), "-o", str(tmp_path / "sim"), "--json"]
    )
    assert r.exit_code == 0 and _json.loads(r.stdout)["recordings"] == 3
    assert len(read_events(tmp_path / "sim" / "1.bin").events) > 0
