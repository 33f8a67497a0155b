"""Data selection for cheaper training (SADP and baselines)."""

from __future__ import annotations

import numpy as np
import pytest

from neuro_deploy.errors import BadInputError, UnknownNameError
from neuro_deploy.models.pruning import capped_probabilities, make_selector


@pytest.mark.parametrize("k", [1.0, 10.0, 37.5, 99.0])
def test_probabilities_are_normalized_and_capped(k):
    s = np.random.default_rng(0).exponential(1.0, 100) ** 3  # heavy-tailed scores
    pi = capped_probabilities(s, k)
    assert pi.sum() == pytest.approx(k) and (pi >= 0).all() and (pi <= 1).all()
    order = np.argsort(s)
    assert (np.diff(pi[order]) >= -1e-12).all()  # larger score, larger pi


def test_horvitz_thompson_weighting_is_unbiased():
    """E[sum_selected w_i g_i] = sum_i g_i for SADP's Poisson sampling and for random."""
    rng = np.random.default_rng(1)
    g = rng.normal(1.0, 2.0, 200)  # per-example 'gradients'
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
    assert all(abs(e["examples"] - 150) < 40 for e in h)  # about keep * N per epoch
    assert h[-1]["loss"] < h[0]["loss"]
    assert [e["loss"] for e in runs[0].history] == [e["loss"] for e in runs[1].history]  # seeded
    # the weighted per-example loss with the 'full' selector is SLAYER's SpikeRate(sum) exactly
    plain = train_model(cfg, TrainConfig(epochs=2, progress=False, seed=3), x, sub.labels)
    full = train_model(
        cfg,
        TrainConfig(epochs=2, progress=False, seed=3),
        x,
        sub.labels,
        selector=make_selector("full", len(sub), 1.0, 2),
    )
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
    warm = train_model(
        cfg,
        TrainConfig(epochs=1, progress=False, lr=3e-5),
        x_tr,
        tr.labels,
        init=lambda m: transfer_to_slayer(pre.ann, m, scale),
    )
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
    assert evaluate(res.model, x_va, va.labels)[0] > 0.5  # 6 steps instead of 60


def test_sadp_ablation_plain_bound_and_agreement():
    """sadp-plain scores by ||softmax(o) - y|| alone; SADP keeps both scores and says, per epoch,
    how alike they select (identical scores -> Spearman 1 and full top-K overlap)."""
    from neuro_deploy.models.pruning import selection_agreement

    rng = np.random.default_rng(0)
    out = rng.poisson(3.0, (40, 10)).astype(float)
    y = rng.integers(0, 10, 40)
    hidden = rng.poisson(5.0, (40, 6)).astype(float)
    idx = np.arange(40)
    sadp, plain = make_selector("sadp", 40, 0.5, 3), make_selector("sadp-plain", 40, 0.5, 3)
    for s in (sadp, plain):
        s.update(idx, out, y, hidden, np.zeros(40))
    assert np.allclose(plain.scores, sadp.plain_scores)
    factor = np.sqrt(hidden).mean(-1)
    assert np.allclose(sadp.scores - 1e-6, (sadp.plain_scores - 1e-6) * factor)
    sadp.select(1)
    assert sadp.agreement and set(sadp.agreement[0]) == {"epoch", "spearman", "top_k_overlap"}
    same = selection_agreement(plain.scores, plain.scores * 3, 20)
    assert same == {"spearman": pytest.approx(1.0), "top_k_overlap": 1.0}
    flipped = selection_agreement(plain.scores, -plain.scores, 20)
    assert flipped["spearman"] < -0.99 and flipped["top_k_overlap"] == 0.0


def test_rate_ce_loss_is_cross_entropy_of_scaled_rates():
    import torch

    from neuro_deploy.models.slayer_model import LOSSES, TrainConfig

    out = (torch.rand(5, 10, 12) < 0.3).float()
    y = torch.tensor([0, 3, 9, 2, 2])
    want = torch.nn.functional.cross_entropy(7.0 * out.mean(-1), y, reduction="none")
    assert torch.allclose(LOSSES["rate_ce"](out, y, TrainConfig(logit_scale=7.0)), want)
    with pytest.raises(UnknownNameError, match="rate_ce"):
        from neuro_deploy.models import ModelConfig, train_model

        train_model(
            ModelConfig(hidden=(4,), num_steps=2),
            TrainConfig(loss="hinge", progress=False),
            np.zeros((2, 2, 34, 34, 2), np.uint8),
            np.array([0, 1]),
        )


def test_piped_optimizer_state_moves_with_the_weight_scale():
    """pipeD: the ANN's Adam moments land on the SNN weights they were transferred to, divided by
    the transfer scale (first moment) and its square (second); the classifier trains alone in the
    warm-up, then everything."""
    import torch

    from neuro_deploy.models import ModelConfig
    from neuro_deploy.models.pretrain import FinetuneHooks, pretrain_ann
    from neuro_deploy.models.slayer_model import build_model

    cfg = ModelConfig(hidden=(8,), num_steps=3)
    rng = np.random.default_rng(0)
    pre = pretrain_ann(cfg, rng.random((20, 2 * 34 * 34)).astype(np.float32), rng.integers(0, 10, 20), epochs=1)
    hk = FinetuneHooks(pre, [0.5, 2.0], warmup_epochs=1)
    model = build_model(cfg)
    hk.init(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    hk.init_optimizer(model, opt)
    assert hk.moved == 2
    blocks = [b for b in model.blocks if getattr(b, "synapse", None) is not None]
    for k, (b, s) in enumerate(zip(blocks, [0.5, 2.0])):
        st, ann = opt.state[b.synapse.weight_v], pre.optimizer_state["state"][k]
        assert torch.allclose(st["exp_avg"].reshape(ann["exp_avg"].shape), ann["exp_avg"] / s)
        assert torch.allclose(st["exp_avg_sq"].reshape(ann["exp_avg_sq"].shape), ann["exp_avg_sq"] / s**2)
    assert not any(p.requires_grad for p in blocks[0].parameters())
    assert all(p.requires_grad for p in blocks[-1].synapse.parameters())
    hk.on_epoch(0, model)
    assert all(p.requires_grad for p in model.parameters())
