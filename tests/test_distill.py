"""Event dataset distillation (PACE, DM, prototype, random): shapes, determinism, file round trip, PEQ-N."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from neuro_deploy.cli import main
from neuro_deploy.data.distill import DistillConfig, distill, load_distilled, peq, save_distilled

pytestmark = pytest.mark.train  # distillation trains teachers and students


def test_peq_is_integer_forward_straight_through_backward():
    import torch

    x = torch.tensor([-0.3, 0.2, 0.7, 1.4, 2.6], requires_grad=True)
    q = peq(x, 2)
    assert set(q.detach().numpy().tolist()) <= {0.0, 1.0, 2.0}
    q.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # clipped straight-through


@pytest.fixture(scope="module")
def small(digits):
    from neuro_deploy.models import ModelConfig, TrainConfig, train_model

    sub = digits.subset(np.arange(300))
    cfg = ModelConfig(hidden=(32,), dt_us=20_000, num_steps=15)
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    teacher = train_model(cfg, TrainConfig(epochs=1, progress=False), x, sub.labels).model
    return cfg, x, sub.labels, teacher


@pytest.mark.parametrize("method", ["pace", "dm", "prototype", "random"])
def test_distill_shapes_determinism_and_round_trip(small, method, tmp_path):
    cfg, x, y, teacher = small
    dc = DistillConfig(ipc=2, iterations=4, progress=False, seed=1)
    a = distill(method, x, y, dc, teacher=teacher, model_cfg=cfg)
    b = distill(method, x, y, dc, teacher=teacher, model_cfg=cfg)
    assert a.frames.shape == (20,) + x.shape[1:] and a.frames.dtype == np.uint8
    assert np.bincount(a.labels).tolist() == [2] * 10
    assert (a.frames == b.frames).all()
    if method in ("pace", "dm"):
        assert a.history[-1] < a.history[0] * 1.5 and len(a.history) == 4
    save_distilled(a, tmp_path / "d.npz", cfg.dt_us)
    frames, labels, meta = load_distilled(tmp_path / "d.npz")
    assert (frames == a.frames).all() and (labels == a.labels).all() and meta["method"] == method


def test_distill_cli_and_train_on_it(tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "distill",
            "--method",
            "random",
            "--ipc",
            "3",
            "--dt-us",
            "20000",
            "--steps",
            "15",
            "-o",
            str(tmp_path / "d.npz"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(tmp_path / "d.npz"),
            "--dt-us",
            "20000",
            "--steps",
            "15",
            "--epochs",
            "2",
            "--hidden",
            "16",
            "-o",
            str(tmp_path / "m.pt"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        main, ["train", "--data", str(tmp_path / "d.npz"), "--dt-us", "5000", "-o", str(tmp_path / "m2.pt")]
    )
    assert r.exit_code == 2 and "do not match" in r.output


def test_pace_loss_decreases_with_snapshot_teachers(small):
    """The matching loss falls over the optimisation (mean of the last 5 vs the first 5 iterations),
    with a list of teachers taken in turn; the frames stay integer counts in [0, N]."""
    from neuro_deploy.models import TrainConfig, train_model
    from neuro_deploy.models.slayer_model import Snapshots

    cfg, x, y, _ = small
    snaps = Snapshots()
    train_model(cfg, TrainConfig(epochs=2, progress=False), x, y, on_epoch=snaps)
    teachers = snaps.models(cfg)
    assert not all((a == b).all() for a, b in zip(snaps.states[0].values(), snaps.states[1].values()))
    assert len(teachers) == 2
    d = distill(
        "pace", x, y, DistillConfig(ipc=2, iterations=30, max_count=2, progress=False, augment="none"), teacher=teachers
    )
    h = np.asarray(d.history)
    assert h[-5:].mean() < 0.9 * h[:5].mean(), h
    assert d.frames.max() <= 2 and d.frames.min() >= 0


def test_pace_loss_is_the_weighted_sum_of_its_three_terms(small):
    """The ablation knobs (``cf_weight``, ``moment_weight``, ``temporal_weight``) switch single
    terms: on the same first batch, the loss with all three equals the sum of the losses with
    one each, and the CF term alone is not the whole loss."""
    cfg, x, y, teacher = small
    terms = ("cf_weight", "moment_weight", "temporal_weight")

    def first_loss(**w):
        dc = DistillConfig(ipc=1, iterations=1, progress=False, seed=2, **w)
        return distill("pace", x, y, dc, teacher=teacher, model_cfg=cfg).history[0]

    alone = [first_loss(**{t: float(t == on) for t in terms}) for on in terms]
    assert first_loss() == pytest.approx(sum(alone), rel=1e-5)
    assert all(v > 0 for v in alone), alone


def test_training_gives_the_caller_its_torch_thread_count_back(small):
    """``train_model`` runs with ``TrainConfig.threads`` and restores the caller's count: a
    distillation after in-process teacher training (the CLI's ``distill --method pace``) used
    to inherit the trainer's 2 threads, 4-8x the CPU time per iteration on a loaded machine."""
    import torch

    from neuro_deploy.models import TrainConfig, train_model

    cfg, x, y, _ = small
    before = torch.get_num_threads()
    seen = []
    try:
        torch.set_num_threads(1)
        train_model(
            cfg,
            TrainConfig(epochs=1, threads=2, progress=False),
            x[:40],
            y[:40],
            on_epoch=lambda e, m: seen.append(torch.get_num_threads()),
        )
        assert seen == [2]  # the trainer's own count while it runs
        assert torch.get_num_threads() == 1  # the caller's after it
    finally:
        torch.set_num_threads(before)


def test_prototype_is_class_mean_in_expectation(small):
    cfg, x, y, _ = small
    d = distill("prototype", x, y, DistillConfig(ipc=40, progress=False))
    for c in (0, 7):
        want = x[y == c].mean(0)
        got = d.frames[d.labels == c].mean(0)
        assert abs(got.mean() - want.mean()) < 0.01
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.8


@pytest.mark.parametrize("bad", [{"optimizer": "lbfgs"}, {"layers": "last"}, {"ipc": 0}, {"rounding": "up"}])
def test_distill_config_rejects_bad_settings(bad):
    from neuro_deploy.errors import BadInputError

    with pytest.raises(BadInputError):
        DistillConfig(**bad)


def test_pace_without_teacher_is_a_typed_error(small):
    from neuro_deploy.errors import BadInputError

    cfg, x, y, _ = small
    with pytest.raises(BadInputError, match="teacher"):
        distill("pace", x, y, DistillConfig(ipc=1, iterations=1, progress=False), teacher=[])


def test_distill_cli_pace_trains_its_teachers(tmp_path):
    # issue 17: teachers come from --teacher-seeds runs (the budget's 2 by default) x --teacher-epochs
    r = CliRunner().invoke(
        main,
        [
            "distill",
            "--method",
            "pace",
            "--ipc",
            "1",
            "--dt-us",
            "20000",
            "--steps",
            "15",
            "--teacher-seeds",
            "1",
            "--teacher-epochs",
            "2",
            "--iterations",
            "3",
            "-o",
            str(tmp_path / "p.npz"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    frames, labels, meta = load_distilled(tmp_path / "p.npz")
    assert frames.shape == (10, 2, 34, 34, 15) and meta["method"] == "pace"
    assert '"teachers": 2' in r.output
