"""Event dataset distillation (PACE, DM, random): shapes, determinism, file round trip, PEQ-N."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from neuro_deploy.cli import main
from neuro_deploy.data.distill import DistillConfig, distill, load_distilled, peq, save_distilled


def test_peq_is_integer_forward_straight_through_backward():
    import torch

    x = torch.tensor([-0.3, 0.2, 0.7, 1.4, 2.6], requires_grad=True)
    q = peq(x, 2)
    assert set(q.detach().numpy().tolist()) <= {0.0, 1.0, 2.0}
    q.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]          # clipped straight-through


@pytest.fixture(scope="module")
def small(digits):
    from neuro_deploy.models import ModelConfig, TrainConfig, train_model

    sub = digits.subset(np.arange(300))
    cfg = ModelConfig(hidden=(32,), dt_us=20_000, num_steps=15)
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    teacher = train_model(cfg, TrainConfig(epochs=1, progress=False), x, sub.labels).model
    return cfg, x, sub.labels, teacher


@pytest.mark.parametrize("method", ["pace", "dm", "random"])
def test_distill_shapes_determinism_and_round_trip(small, method, tmp_path):
    cfg, x, y, teacher = small
    dc = DistillConfig(ipc=2, iterations=4, progress=False, seed=1)
    a = distill(method, x, y, dc, teacher=teacher, model_cfg=cfg)
    b = distill(method, x, y, dc, teacher=teacher, model_cfg=cfg)
    assert a.frames.shape == (20,) + x.shape[1:] and a.frames.dtype == np.uint8
    assert np.bincount(a.labels).tolist() == [2] * 10
    assert (a.frames == b.frames).all()
    if method != "random":
        assert a.history[-1] < a.history[0] * 1.5 and len(a.history) == 4
    save_distilled(a, tmp_path / "d.npz", cfg.dt_us)
    frames, labels, meta = load_distilled(tmp_path / "d.npz")
    assert (frames == a.frames).all() and (labels == a.labels).all() and meta["method"] == method


def test_distill_cli_and_train_on_it(tmp_path):
    r = CliRunner().invoke(main, ["distill", "--method", "random", "--ipc", "3", "--dt-us", "20000", "--steps", "15",
                                  "-o", str(tmp_path / "d.npz"), "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.npz"), "--dt-us", "20000", "--steps", "15",
                                  "--epochs", "2", "--hidden", "16", "-o", str(tmp_path / "m.pt"), "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.npz"), "--dt-us", "5000",
                                  "-o", str(tmp_path / "m2.pt")])
    assert r.exit_code == 2 and "do not match" in r.output
