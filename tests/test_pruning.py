"""Data selection for cheaper training (SADP and baselines)."""
from __future__ import annotations

import numpy as np
import pytest

from neuro_deploy.errors import BadInputError, UnknownNameError
from neuro_deploy.models.pruning import capped_probabilities, make_selector


@pytest.mark.parametrize("k", [1.0, 10.0, 37.5, 99.0])
def test_probabilities_are_normalized_and_capped(k):
    s = np.random.default_rng(0).exponential(1.0, 100) ** 3       # heavy-tailed scores
    pi = capped_probabilities(s, k)
    assert pi.sum() == pytest.approx(k) and (pi >= 0).all() and (pi <= 1).all()
    order = np.argsort(s)
    assert (np.diff(pi[order]) >= -1e-12).all()                   # larger score, larger pi


def test_horvitz_thompson_weighting_is_unbiased():
    """E[sum_selected w_i g_i] = sum_i g_i for SADP's Poisson sampling and for random."""
    rng = np.random.default_rng(1)
    g = rng.normal(1.0, 2.0, 200)                                  # per-example 'gradients'
    for name in ("sadp", "random"):
        sel = make_selector(name, 200, 0.3, 10, seed=2)
        sel.scores = rng.exponential(1.0, 200) + 0.01
        est = [float((g[idx] * w).sum()) for idx, w in (sel.select(1) for _ in range(4000))]
        se = np.std(est) / np.sqrt(len(est))
        assert abs(np.mean(est) - g.sum()) < 4 * se, name


def test_selector_errors():
    with pytest.raises(BadInputError):
        make_selector("sadp", 10, 0.0, 5)
    with pytest.raises(UnknownNameError, match="sadp"):
        make_selector("magic", 10, 0.5, 5)


@pytest.mark.train
def test_sadp_training_sees_fewer_examples_and_learns(digits):
    from neuro_deploy.models import ModelConfig, TrainConfig, train_model

    sub = digits.subset(np.arange(300))
    cfg = ModelConfig(hidden=(32,), dt_us=10_000, num_steps=30)
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    runs = []
    for _ in range(2):
        sel = make_selector("sadp", len(sub), 0.5, 4, seed=3)
        res = train_model(cfg, TrainConfig(epochs=4, progress=False, seed=3), x, sub.labels, selector=sel)
        runs.append(res)
    h = runs[0].history
    assert all(abs(e["examples"] - 150) < 40 for e in h)           # about keep * N per epoch
    assert h[-1]["loss"] < h[0]["loss"]
    assert [e["loss"] for e in runs[0].history] == [e["loss"] for e in runs[1].history]   # seeded
    # the weighted per-example loss with the 'full' selector is SLAYER's SpikeRate(sum) exactly
    plain = train_model(cfg, TrainConfig(epochs=2, progress=False, seed=3), x, sub.labels)
    full = train_model(cfg, TrainConfig(epochs=2, progress=False, seed=3), x, sub.labels,
                       selector=make_selector("full", len(sub), 1.0, 2))
    assert [e["loss"] for e in plain.history] == pytest.approx([e["loss"] for e in full.history], rel=1e-5)


@pytest.mark.train
def test_ann_pretraining_beats_scratch_at_one_epoch(digits):
    """pipeS/pipeD: an ANN on event rates (one step) transferred to the SNN; after one short
    fine-tuning epoch it must beat a one-epoch SNN from scratch (measured 0.91 vs 0.55 on the
    full digits split)."""
    from neuro_deploy.models import ModelConfig, TrainConfig, train_model
    from neuro_deploy.models.pretrain import calibrate_transfer, pretrain_ann, rate_inputs, transfer_to_slayer
    from neuro_deploy.models.slayer_model import evaluate

    tr, va = digits.split(0.2, 0)
    tr = tr.subset(np.arange(600))
    cfg = ModelConfig(hidden=(64,), dt_us=10_000, num_steps=30)
    x_tr, x_va = tr.to_tensors(cfg.dt_us, cfg.num_steps), va.to_tensors(cfg.dt_us, cfg.num_steps)
    pre = pretrain_ann(cfg, rate_inputs(x_tr), tr.labels, epochs=15)
    assert pre.history[-1]["ann_train_accuracy"] > 0.8
    scale, scores = calibrate_transfer(pre.ann, cfg, x_tr[:200], tr.labels[:200])
    warm = train_model(cfg, TrainConfig(epochs=1, progress=False, lr=3e-5), x_tr, tr.labels,
                       init=lambda m: transfer_to_slayer(pre.ann, m, scale))
    cold = train_model(cfg, TrainConfig(epochs=1, progress=False), x_tr, tr.labels)
    assert evaluate(warm.model, x_va, va.labels)[0] > evaluate(cold.model, x_va, va.labels)[0] + 0.1


@pytest.mark.train
def test_hsd_student_on_few_steps(digits):
    from neuro_deploy.models import ModelConfig
    from neuro_deploy.models.hsd import HSDConfig, train_hsd
    from neuro_deploy.models.slayer_model import evaluate

    tr, va = digits.split(0.2, 0)
    tr = tr.subset(np.arange(500))
    cfg = ModelConfig(hidden=(64,))
    res = train_hsd(cfg, HSDConfig(teacher_frames=10, student_steps=6, student_epochs=2, teacher_epochs=10), tr)
    assert res.teacher_accuracy > 0.9
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    x_va = va.to_tensors(int(np.ceil(va.duration_us / 6)), 6)
    assert evaluate(res.model, x_va, va.labels)[0] > 0.5             # 6 steps instead of 60
