"""Every script in examples/ runs end to end in its fast mode (``--fast``), as a user would
run it, and prints what it shows. A script whose data is absent (../shared/fixtures) exits
with 77 and says so: the test skips with that message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
SKIP = 77
#: what each example's output must show (the end of its story)
SHOWS = {
    "nmnist_to_loihi2": [
        "Lava Loihi2SimCfg(fixed_pt) vs fast",
        "predictions identical: True",
        "energy report ->",
        "energy per inference",
        "OK",
    ],
    "bring_your_own_nir": ["NIR -> netx", "fidelity on", "fit on loihi2", "energy per inference"],
    "dvs_gesture_replay": ["replayed 10 whole clips", "decided after", "air guitar"],
    "compare_models": ["one report of both models ->", "uJ / inference"],
    "cheap_training": ["full data", "SADP keep 0.5", "PACE ipc", "plot ->"],
}
#: examples that take over a minute in fast mode on the 2-core machine (the `slow` tier);
#: none: in fast mode each takes 15-35 s here, so CI runs them all
SLOW: set[str] = set()


def test_every_example_is_covered():
    assert {p.stem for p in EXAMPLES} == set(SHOWS)


@pytest.mark.train
@pytest.mark.parametrize(
    "script", [pytest.param(p, marks=[pytest.mark.slow] if p.stem in SLOW else [], id=p.stem) for p in EXAMPLES]
)
def test_example_runs_in_fast_mode(script, tmp_path):
    env = dict(os.environ, NEURO_DEPLOY_EXAMPLES_FAST="1", PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    r = subprocess.run(
        [sys.executable, str(script), "--fast", "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if r.returncode == SKIP:
        pytest.skip(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for text in SHOWS[script.stem]:
        assert text in r.stdout, f"{script.name} did not print {text!r}:\n{r.stdout[-3000:]}"
