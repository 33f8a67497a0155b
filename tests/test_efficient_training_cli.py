"""The efficient-training commands end to end on the real N-MNIST fixture (1,000 recordings):
SADP pruning, ANN pretraining, HSD, and PACE distillation followed by training on the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from neuro_deploy.cli import main
from conftest import need

pytestmark = pytest.mark.train  # runs the training benchmark


@pytest.fixture(scope="module")
def nmnist_root(fixtures):
    return str(need(fixtures / "events" / "nmnist"))


def _json(r):
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{") :])


SMALL = ["--hidden", "32", "--dt-us", "20000", "--steps", "15", "--json"]


def test_sadp_on_real_nmnist(tmp_path, nmnist_root):
    d = _json(
        CliRunner().invoke(
            main,
            [
                "train",
                "--dataset",
                "nmnist",
                "--root",
                nmnist_root,
                "--epochs",
                "2",
                "--prune",
                "sadp",
                "--keep",
                "0.5",
                "-o",
                str(tmp_path / "s.pt"),
                *SMALL,
            ],
        )
    )
    assert d["train_samples"] == 801 and d["prune"] == "sadp"
    assert 0.3 * 2 * 801 < d["examples_seen"] < 0.7 * 2 * 801  # about half of each epoch
    assert d["val_accuracy"] > 0.2  # well above chance (0.1)


def test_pretrain_and_hsd_on_real_nmnist(tmp_path, nmnist_root):
    d = _json(
        CliRunner().invoke(
            main,
            [
                "train",
                "--dataset",
                "nmnist",
                "--root",
                nmnist_root,
                "--epochs",
                "1",
                "--pretrain",
                "ann",
                "-o",
                str(tmp_path / "p.pt"),
                *SMALL,
            ],
        )
    )
    assert d["val_accuracy"] > 0.3
    d = _json(
        CliRunner().invoke(
            main,
            [
                "train",
                "--dataset",
                "nmnist",
                "--root",
                nmnist_root,
                "--epochs",
                "1",
                "--hsd",
                "--teacher-frames",
                "6",
                "--student-steps",
                "4",
                "-o",
                str(tmp_path / "h.pt"),
                *SMALL,
            ],
        )
    )
    assert d["val_accuracy"] > 0.2 and "deployed_accuracy" in d
    assert d["student_neuron"] == "if"  # HSD's integrate-and-fire student, deployed as CUBA du=4095 dv=0
    curve = d["accuracy_vs_step"]  # 4 input steps + the pipeline's 2 steps
    assert len(curve) == 4 + 2 and abs(curve[-1] - d["deployed_accuracy"]) < 1e-3


def test_pace_distill_then_train_on_real_nmnist(tmp_path, nmnist_root):
    out = tmp_path / "pace.npz"
    # issue 17: PACE's teachers are --teacher-seeds runs x --teacher-epochs snapshots (one run here)
    d = _json(
        CliRunner().invoke(
            main,
            [
                "distill",
                "--dataset",
                "nmnist",
                "--root",
                nmnist_root,
                "--method",
                "pace",
                "--ipc",
                "2",
                "--iterations",
                "5",
                "--teacher-seeds",
                "1",
                "--teacher-epochs",
                "1",
                "--dt-us",
                "20000",
                "--steps",
                "15",
                "-o",
                str(out),
                "--json",
            ],
        )
    )
    assert d["samples"] == 20 and d["teachers"] == 1 and d["bytes"] < d["real_train_bytes"] / 10
    with np.load(out) as z:
        assert z["frames"].shape == (20, 2, 34, 34, 15) and z["frames"].dtype == np.uint8
    # train takes dt/steps from the distilled file when not given
    d = _json(
        CliRunner().invoke(
            main,
            [
                "train",
                "--dataset",
                "nmnist",
                "--root",
                nmnist_root,
                "--data",
                str(out),
                "--epochs",
                "3",
                "--hidden",
                "32",
                "-o",
                str(tmp_path / "m.pt"),
                "--json",
            ],
        )
    )
    assert d["val_samples"] == 199
