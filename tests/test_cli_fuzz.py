"""A CLI fuzz (issue 14, item 6): hypothesis draws command lines for every command of the
click group - each option's values from its own type (ranges and their edges, choices
and wrong names, paths of every kind, junk text) - and runs them as real processes.
Accepted: exit 0, 2, 3 or 130, with a message for 2 and 3; never a traceback, never a
hang (a case is killed after ``FUZZ_TIMEOUT_S``).

Default run: ``FUZZ_CASES`` cases (default 12) over the commands that do not train,
derandomized. ``-m slow``: ``FUZZ_CASES_PER_COMMAND`` (default 30) per command (a share
of it for the commands that train: ``HEAVY``).
Each test prints its figures.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
from pathlib import Path

import click
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.cli_options import CropType, RegistryChoice, SensorSizeType, WidthsType, walk_commands

COMMANDS = {" ".join(path): cmd for path, cmd in walk_commands(main) if not isinstance(cmd, click.Group)}
OK_CODES = {0, 2, 3, 130}
TIMEOUT_S = float(os.environ.get("FUZZ_TIMEOUT_S", "240"))
#: values used when the fuzzer leaves an option out, so that a valid command stays cheap
CHEAP = {
    "epochs": "1",
    "teacher_epochs": "1",
    "pretrain_epochs": "1",
    "iterations": "2",
    "lava_samples": "0",
    "ipc": "1",
    "hidden": "8",
    "limit": "3",
    "teacher_frames": "2",
    "student_steps": "3",
}
OUT_SUFFIXES = ["", ".net", ".npz", ".json", ".pt", ".png", ".nir", ".csv", ".bin", ".h5", ".md", ".txt"]
#: (no NUL: a command line cannot carry one)
JUNK = ["", " ", "-", "--", "nan", "inf", "-inf", "1e309", "0x10", "é", "a,b", "1,2,3,4,5", "99999999999999999999"]


@pytest.fixture(scope="session")
def pool(tmp_path_factory, tiny_dense, fixtures):
    """Files of every kind the path options may get."""
    d = tmp_path_factory.mktemp("fuzz-pool")
    rec_dir = need(fixtures / "events" / "nmnist" / "train")
    recs = d / "recs"
    recs.mkdir()
    for i in range(1, 4):
        (recs / f"{i}.bin").write_bytes((rec_dir / f"{i}.bin").read_bytes())
    (d / "labels.txt").write_text("1 1\n2 2\n3 3\n")
    (d / "bad_labels.txt").write_text("1 77\n1 2\nx\n")
    (d / "empty.bin").write_bytes(b"")
    (d / "junk.net").write_bytes(np.random.default_rng(0).bytes(3000))
    (d / "junk.pt").write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(500))
    np.save(d / "x.npy", (np.random.default_rng(2).random((2312, 6)) < 0.2).astype(np.int8))
    np.save(d / "nan.npy", np.full((2312, 6), np.nan))
    np.save(d / "bias.npy", np.zeros((3, 3, 3), np.int32))
    np.savez(d / "imgs.npz", images=np.random.default_rng(3).random((2, 8, 8)), labels=np.array([1, 2]))
    kinds = {
        "net": [str(tiny_dense["net"])],
        "ckpt": [str(tiny_dense["ckpt"])],
        "rec": [str(recs / "1.bin"), str(recs)],
        "labels": [str(d / "labels.txt")],
        "x": [str(d / "x.npy")],
        "bias": [str(d / "bias.npy")],
        "recs": [str(rec_dir.parent)],
        "imgs": [str(d / "imgs.npz")],
    }
    files = [
        str(tiny_dense["net"]),
        str(tiny_dense["ckpt"]),
        str(recs / "1.bin"),
        str(recs),
        str(d / "labels.txt"),
        str(d / "bad_labels.txt"),
        str(d / "empty.bin"),
        str(d / "junk.net"),
        str(d / "junk.pt"),
        str(d / "x.npy"),
        str(d / "nan.npy"),
        str(d / "bias.npy"),
        str(d / "imgs.npz"),
        str(d / "does-not-exist.net"),
        "/dev/null",
        str(d),
    ]
    tinynet = fixtures / "lava-dl" / "tinynet" / "tiny.net"
    if tinynet.exists():
        files.append(str(tinynet))
        kinds["net"].append(str(tinynet))
    return {"dir": d, "files": files, "kinds": kinds}


#: the kind of file a path parameter usually wants (drawn 70 % of the time; else any file)
PREFERRED = {
    "net": "net",
    "nets": "net",
    "model": "ckpt",
    "teacher": "ckpt",
    "recordings": "rec",
    "file": "rec",
    "labels": "labels",
    "input_path": "x",
    "bias_path": "bias",
    "root": "recs",
    "images": "imgs",
}
OUT_SUFFIX = {
    "run": ".npz",
    "export": ".net",
    "report": ".json",
    "replay": ".json",
    "train": ".pt",
    "distill": ".npz",
    "events convert": ".npz",
    "events show": ".png",
}


def _mostly(valid: st.SearchStrategy[str], invalid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """70 % valid values (so that cases get past parsing), 30 % edges and junk."""
    return st.integers(0, 9).flatmap(lambda k: valid if k < 7 else invalid)


def _edge_ints(t: click.IntRange) -> st.SearchStrategy[str]:
    lo = t.min if t.min is not None else -2
    edges = {lo - 1, lo, lo + 1, 0, -1}
    if t.max is not None:
        edges |= {t.max, t.max + 1}
    return _mostly(
        st.integers(lo, lo + 3).map(str),
        st.one_of(st.sampled_from(sorted(edges)).map(str), st.sampled_from(JUNK + ["1.5", "-5000"])),
    )


def _edge_floats(t: click.FloatRange) -> st.SearchStrategy[str]:
    lo = t.min if t.min is not None else -1.0
    hi = t.max if t.max is not None else lo + 2.0
    edges = [lo, hi, lo - 1, hi + 0.5, 0.0, -0.0, 1e-300, (lo + hi) / 2]
    valid = st.floats(lo, hi, exclude_min=bool(t.min_open), exclude_max=bool(t.max_open))
    return _mostly(
        valid.map(repr), st.one_of(st.sampled_from(edges).map(repr), st.sampled_from(JUNK + ["-5000", "1.5"]))
    )


def _text(param: click.Parameter) -> st.SearchStrategy[str]:
    t = param.type
    if isinstance(t, SensorSizeType):
        pool = ["34x34", "128x128", "0x0", "1x1", "34x", "x34", "-1x5", "100000x100000", "34X34"]
    elif isinstance(t, CropType):
        pool = ["0,0,34,34", "1,1,10,10", "0,0,0,5", "-1,0,5,5", "0,0,5", "0,0,100000,100000"]
    elif isinstance(t, WidthsType):
        pool = ["8", "8,4", "", "0", "-4", "a", "8,,4"]
    else:
        pool = ["loihi2", "images", "0", "1", "x", "loihi1", "labels", "events"]
    return _mostly(
        st.sampled_from(pool[:2]),
        st.one_of(
            st.sampled_from(pool), st.sampled_from(JUNK), st.text(st.characters(exclude_characters="\x00"), max_size=6)
        ),
    )


def _value(param: click.Parameter, pool: dict) -> st.SearchStrategy[str]:
    t = param.type
    if isinstance(t, (click.Choice, RegistryChoice)):
        return _mostly(st.sampled_from(list(t.choices)), st.sampled_from(["gpu", "", "FAST", "xyz"]))
    if isinstance(t, click.IntRange):
        return _edge_ints(t)
    if isinstance(t, click.FloatRange):
        return _edge_floats(t)
    if isinstance(t, click.Path):
        kind = PREFERRED.get(param.name or "")
        if kind is None:
            return st.sampled_from(pool["files"])
        return st.integers(0, 9).flatmap(lambda k: st.sampled_from(pool["kinds"][kind] if k < 7 else pool["files"]))
    if t is click.INT:
        return st.one_of(st.integers(-2, 5).map(str), st.sampled_from(JUNK))
    if t is click.FLOAT:
        return st.one_of(st.floats(allow_nan=True).map(repr), st.sampled_from(JUNK))
    return _text(param)


def _is_output(param: click.Parameter) -> bool:
    return bool(set(getattr(param, "opts", [])) & {"-o", "--output", "--out"})


#: a known-good minimal command line per command (parameter -> value; "@kind" = a file of
#: that kind from the pool), which the fuzzer mutates: cases get past parsing and the first
#: checks often enough to reach the code behind them
BASE = {
    "run": {"net": "@net", "steps": "5", "out": "{CASE}/out.npz"},
    "replay": {"net": "@net", "recordings": "@rec", "dt_us": "10000"},
    "report": {"nets": "@net", "steps": "5"},
    "export": {"model": "@ckpt", "out": "{CASE}/out.net"},
    "train": {"out": "{CASE}/out.pt"},
    "distill": {"out": "{CASE}/out.npz"},
    "evaluate": {"net": "@net"},
    "fit": {"net": "@net"},
    "events info": {"file": "@rec"},
    "events convert": {"file": "@rec", "out": "{CASE}/out.npz"},
    "events show": {"file": "@rec", "out": "{CASE}/out.png"},
    "events simulate": {"limit": "2", "out": "{CASE}/out"},
    "demo": {"out_dir": "{CASE}/out"},
}
MUTATE_P, ADD_P = 3, 3  #: out of 10: mutate a base value / add another option


def _resolve(value: str, pool: dict) -> st.SearchStrategy[str]:
    if value.startswith("@"):
        return st.sampled_from(pool["kinds"][value[1:]])
    return st.just(value)


def _output(draw, name: str, pool: dict) -> str:
    k = draw(st.integers(0, 9))
    if k < 7:
        return "{CASE}/out" + OUT_SUFFIX.get(name, "")
    if k < 8:
        return draw(st.sampled_from(OUT_SUFFIXES).map(lambda s: "{CASE}/out" + s))
    # not the pool's files: a valid overwrite would spoil them for the cases after
    return draw(st.sampled_from(["{CASE}", "/dev/full", "/nonexistent_nd/x.npz", "/proc/x.json", "{CASE}/sub/x.npz"]))


@st.composite
def command_lines(draw, name: str, pool: dict) -> list[str]:
    """A base command line with some values mutated and some options added."""
    cmd = COMMANDS[name]
    base = BASE.get(name, {})
    argv = name.split()
    for p in cmd.params:
        if p.name == "help":
            continue
        mutate = draw(st.integers(0, 9)) < MUTATE_P
        if isinstance(p, click.Argument):
            n = 1 if p.nargs == 1 else draw(st.integers(1, 2))
            for _ in range(n):
                v = base.get(p.name or "")
                argv.append(draw(_resolve(v, pool) if v is not None and not mutate else _value(p, pool)))
            continue
        if not isinstance(p, click.Option):
            continue
        in_base = (p.name or "") in base
        include = p.required or in_base or draw(st.integers(0, 9)) < ADD_P
        if not include:
            if p.name in CHEAP:
                argv += [p.opts[-1], CHEAP[p.name]]
            continue
        if p.is_flag:
            argv.append(p.opts[0])
            continue
        for _ in range(1 if not p.multiple else draw(st.integers(1, 2))):
            if in_base and not mutate:
                value = draw(_resolve(base[p.name], pool))
            elif _is_output(p):
                value = _output(draw, name, pool)
            else:
                value = draw(_value(p, pool))
            argv += [p.opts[0] if _is_output(p) else p.opts[-1], value]
    return argv


FIGURES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
MESSAGES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def _run_case(zygote, argv: list[str], case_dir: Path) -> tuple[int | None, str]:
    case_dir.mkdir(parents=True, exist_ok=True)
    argv = [a.replace("{CASE}", str(case_dir)) for a in argv]
    cli = zygote.run(argv, case_dir)
    try:
        code = cli.proc.wait(TIMEOUT_S)
    except Exception:
        os.kill(cli.pid, signal.SIGKILL)
        cli.proc.wait(30)
        code = None
    return code, cli.stdout() + cli.stderr()


def _judge(name: str, argv: list[str], code: int | None, output: str) -> str | None:
    """The failure, if any; counts every case into FIGURES."""
    f = FIGURES[name]
    f["cases"] += 1
    f[f"exit {code}"] += 1
    if code is None:
        f["hangs"] += 1
        return f"hang: {argv}"
    if "Traceback" in output:
        f["tracebacks"] += 1
        return f"traceback (exit {code}): {argv}\n{output[-3000:]}"
    if code not in OK_CODES:
        f["bad exit"] += 1
        return f"exit {code}: {argv}\n{output[-3000:]}"
    if code in (2, 3) and not output.strip():
        f["silent errors"] += 1
        return f"exit {code} without a message: {argv}"
    if code in (2, 3):
        last = output.strip().splitlines()[-1]
        MESSAGES[name][re.sub(r"(/[^ :']+)+", "PATH", last)[:90]] += 1
    return None


def _fuzz(zygote, pool, tmp_path, names: list[str], cases: int, derandomize: bool) -> None:
    counter = iter(range(10**9))

    @settings(
        max_examples=cases,
        deadline=None,
        derandomize=derandomize,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(data=st.data())
    def one(data):
        name = data.draw(st.sampled_from(names), label="command")
        argv = data.draw(command_lines(name, pool), label="argv")
        code, output = _run_case(zygote, argv, tmp_path / f"case{next(counter)}")
        problem = _judge(name, argv, code, output)
        assert problem is None, problem

    try:
        one()
    finally:
        total = collections.Counter()
        for n in names:
            total.update(FIGURES[n])
        msgs = collections.Counter()
        for n in names:
            msgs.update(MESSAGES[n])
        print(
            f"\nfuzz figures ({', '.join(names) if len(names) < 4 else f'{len(names)} commands'}): "
            f"{json.dumps(dict(sorted(total.items())))}"
        )
        for m, k in msgs.most_common(int(os.environ.get("FUZZ_SHOW_MESSAGES", "0"))):
            print(f"  {k:4d}  {m}")


#: commands whose valid cases train a model: a share of the per-command cases
HEAVY = {"demo": 0.15, "distill": 0.4, "train": 0.5}


def test_cli_fuzz_every_command(zygote, pool, tmp_path):
    names = sorted(n for n in COMMANDS if n not in HEAVY)
    _fuzz(zygote, pool, tmp_path, names, int(os.environ.get("FUZZ_CASES", "12")), True)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_fuzz_per_command(zygote, pool, tmp_path, name):
    cases = int(os.environ.get("FUZZ_CASES_PER_COMMAND", "30"))
    _fuzz(zygote, pool, tmp_path, [name], max(2, int(cases * HEAVY.get(name, 1.0))), False)
