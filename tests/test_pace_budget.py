"""PACE at a real budget: the time-step-pair phase term, siamese augmentation, resumable
checkpoints, budget presets, and the distilled file's provenance used by `train --data`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.data.distill import DistillConfig, distill, load_distilled


def test_pair_phase_identity_equals_the_sum_over_step_pairs():
    """The O(T) pair term equals NCFM's phase term summed over every pair t < t' of psi = phi_t conj(phi_t')."""
    import torch

    from neuro_deploy.data.distill import cf_pairs_loss

    g = torch.Generator().manual_seed(0)
    fr, fs = torch.rand(7, 5, 6, generator=g), torch.rand(3, 5, 6, generator=g)
    omega = torch.randn(5, 4, generator=g, dtype=torch.float32)

    def phi(f):
        p = torch.einsum("bdt,dm->tbm", f, omega)
        return torch.complex(torch.cos(p).mean(1), torch.sin(p).mean(1)).to(torch.complex128)  # (T, M)

    pr, ps = phi(fr), phi(fs)

    def pha(a, b):
        return 2 * (a.abs() * b.abs() - (a * b.conj()).real)

    T = fr.shape[-1]
    pairs = [pha(pr[i] * pr[j].conj(), ps[i] * ps[j].conj()) for i in range(T) for j in range(i + 1, T)]
    p_pair = torch.stack(pairs).mean(0)
    amp = ((pr.abs() - ps.abs()) ** 2).mean(0)
    want = torch.sqrt(0.5 * amp + 0.5 * (pha(pr, ps).mean(0) + p_pair)).mean()
    got = cf_pairs_loss(fr, fs, omega, 1.0)
    assert abs(float(got) - float(want)) < 1e-5
    # the pair term sees phase order: reversing the synthetic sequence in time changes the loss
    assert float(cf_pairs_loss(fr, fr.flip(-1), omega, 1.0)) > float(cf_pairs_loss(fr, fr, omega, 1.0)) + 1e-3


def test_siamese_augmentation_is_one_transform_for_both_batches():
    import torch

    from neuro_deploy.data.augment import FrameAugment, get_augment, shift

    x = torch.zeros(1, 2, 6, 6, 4)
    x[0, 0, 2, 3, 1] = 1
    y = shift(x, 1, -2, 1)
    assert y[0, 0, 3, 1, 2] == 1 and y.sum() == 1  # moved by (+1, -2, +1)
    assert shift(x, 0, 5, 0).sum() == 0  # moved off the sensor
    aug = get_augment("dsa")
    g = torch.Generator().manual_seed(3)
    real = (torch.rand(4, 2, 34, 34, 10, generator=g) < 0.2).float()
    syn = real[:2].clone().requires_grad_(True)
    p = aug.sample(g, tuple(real.shape))
    ar, as_ = aug.apply(real, p), aug.apply(syn, p)
    assert torch.equal(ar[:2], as_.detach())  # same transform on both
    assert set(torch.unique(ar).tolist()) <= {0.0, 1.0}  # integer frames stay integer
    as_.sum().backward()
    assert set(torch.unique(syn.grad).tolist()) <= {0.0, 1.0} and syn.grad.sum() > 0
    assert FrameAugment().identity and not aug.identity


@pytest.fixture(scope="module")
def small(digits):
    from neuro_deploy.models import ModelConfig, TrainConfig, train_model

    sub = digits.subset(np.arange(200))
    cfg = ModelConfig(hidden=(16,), dt_us=30_000, num_steps=10)
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    teacher = train_model(cfg, TrainConfig(epochs=1, progress=False), x, sub.labels).model
    return cfg, x, sub.labels, teacher


def test_interrupted_distillation_resumes_to_the_same_frames(small, tmp_path):
    cfg, x, y, teacher = small
    base = dict(ipc=1, frequencies=16, real_batch=8, progress=False, seed=2)
    whole = distill("pace", x, y, DistillConfig(iterations=4, **base), teacher=teacher)
    ck = tmp_path / "run.partial.pt"
    first = distill(
        "pace", x, y, DistillConfig(iterations=2, checkpoint=str(ck), checkpoint_every=1, **base), teacher=teacher
    )
    assert ck.is_file() and len(first.history) == 2
    resumed = distill(
        "pace", x, y, DistillConfig(iterations=4, checkpoint=str(ck), checkpoint_every=1, **base), teacher=teacher
    )
    assert np.array_equal(resumed.frames, whole.frames)
    assert np.allclose(resumed.history, whole.history)
    from neuro_deploy.errors import BadInputError

    with pytest.raises(BadInputError, match="another run"):
        distill("pace", x, y, DistillConfig(iterations=4, checkpoint=str(ck), **{**base, "seed": 3}), teacher=teacher)


@pytest.fixture(scope="module")
def nmnist_root(fixtures):
    return str(need(fixtures / "events" / "nmnist"))


def _json(r):
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{") :])


def test_distilled_file_knows_its_source_and_train_uses_it(tmp_path, nmnist_root):
    """The trap of issue 17: `train --data` used to validate on digits with 10 epochs."""
    out = tmp_path / "r.npz"
    d = _json(
        CliRunner().invoke(
            main,
            [
                "distill",
                "--method",
                "random",
                "--ipc",
                "1",
                "--dataset",
                "nmnist",
                "--root",
                nmnist_root,
                "--dt-us",
                "20000",
                "--steps",
                "15",
                "--val-fraction",
                "0.25",
                "--seed",
                "3",
                "-o",
                str(out),
                "--json",
            ],
        )
    )
    src = load_distilled(out)[2]["source"]
    assert (src.dataset, src.val_fraction, src.split_seed, src.dt_us, src.num_steps) == ("nmnist", 0.25, 3, 20000, 15)
    assert src.root.endswith("events/nmnist") and d["source"]["dataset"] == "nmnist"
    t = _json(
        CliRunner().invoke(main, ["train", "--data", str(out), "--hidden", "8", "-o", str(tmp_path / "m.pt"), "--json"])
    )
    from neuro_deploy.data import load_dataset

    _, va = load_dataset("nmnist", root=nmnist_root).split(0.25, 3)
    assert t["dataset"] == "nmnist" and t["val_samples"] == len(va) != 199  # the source's split, not 0.2/0
    assert t["epochs"] == 300 and t["train_samples"] == 10  # max(60, 3000 / 10)
    said = " ".join(t["from_data"])
    assert "dataset nmnist" in said and "epochs 300 (policy" in said and "dt_us 20000" in said


def test_distill_budget_presets_and_costs(tmp_path):
    d = _json(
        CliRunner().invoke(
            main,
            [
                "distill",
                "--method",
                "pace",
                "--budget",
                "quick",
                "--ipc",
                "1",
                "--dt-us",
                "30000",
                "--steps",
                "10",
                "--iterations",
                "3",
                "--val-fraction",
                "0.8",
                "-o",
                str(tmp_path / "p.npz"),
                "--json",
            ],
        )
    )
    assert d["budget"] == "quick" and d["teachers"] == 2 and d["iterations"] == 3
    assert d["distill_seconds"] == pytest.approx(d["seconds"] + d["teacher_seconds"])
    assert not (tmp_path / "p.npz.partial.pt").exists()  # removed once the output is written
    src = load_distilled(tmp_path / "p.npz")[2]["source"]
    assert src.budget == "quick" and src.teachers == 2 and src.teacher_seconds > 0 and src.arch == "dense"
