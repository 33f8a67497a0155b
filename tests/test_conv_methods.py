"""Conv SNNs as first-class models: the training speed shim is exact, `train --arch conv`
exports to loihi2-sim and runs bit-exactly on the fast backend and in Lava, and every
efficient-training method accepts the conv net as teacher and student."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main


@pytest.mark.parametrize("threshold,dtype", [(-1, "float32"), (1.25, "float32"), (1.25, "float64")])
def test_compiled_leaky_integrator_is_lava_dl_bit_for_bit(threshold, dtype):
    """numba kernel (float32) and time-major torch loop (other types) vs lava-dl's own loop."""
    import torch

    from neuro_deploy._compat.slayer_dynamics import li_dynamics_bwd, li_dynamics_fwd, originals
    from neuro_deploy.models.slayer_model import import_slayer

    import_slayer()
    fwd, bwd = originals()
    assert fwd is not li_dynamics_fwd
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(3, 4, 5, 6, 11, generator=g) * 2).to(getattr(torch, dtype))
    state = torch.randn(3, 4, 5, 6, generator=g).to(getattr(torch, dtype))
    decay = torch.tensor([1024.0])
    a = fwd(x, decay, state, threshold, 64, dtype=torch.int64)
    b = li_dynamics_fwd(x, decay, state, threshold, 64, dtype=torch.int64)
    assert torch.equal(a, b) and (a != 0).any()
    grad = torch.randn(a.shape, generator=g).to(a.dtype)
    for u, v in zip(bwd(grad, a, decay), li_dynamics_bwd(grad, b, decay)):
        assert torch.equal(u, v)
    from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator as li

    assert li._li_dynamics_fwd is li_dynamics_fwd  # what SLAYER's blocks now call


@pytest.fixture(scope="module")
def nmnist_root(fixtures):
    return str(need(fixtures / "events" / "nmnist"))


def _json(r):
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{") :])


# 250 training recordings of the real N-MNIST fixture, 10 steps of 30 ms: quick conv runs
QUICK = ["--dataset", "nmnist", "--dt-us", "30000", "--steps", "10", "--val-fraction", "0.75", "--json"]


def test_train_arch_conv_exports_and_runs_bit_exact_on_fast_and_lava(tmp_path, nmnist_root):
    from neuro_deploy.netx import load_netx
    from neuro_deploy.api import export as export_model
    from neuro_deploy.netx.spec import encode_for_net
    from neuro_deploy.sim import RunSpec, run_network

    d = _json(
        CliRunner().invoke(
            main,
            ["train", "--arch", "conv", "--root", nmnist_root, "--epochs", "1", "-o", str(tmp_path / "c.pt"), *QUICK],
        )
    )
    assert d["arch"] == "conv" and d["train_samples"] == 250 and 0 <= d["val_accuracy"] <= 1
    from neuro_deploy.data import load_dataset

    _, va = load_dataset("nmnist", root=nmnist_root).split(0.75, 0)
    x = va.subset(np.arange(2)).to_tensors(30000, 10)
    rep = export_model(tmp_path / "c.pt", tmp_path / "c.net", verify_inputs=x)
    net = load_netx(tmp_path / "c.net")
    assert [l.kind for l in net.layers] == ["conv", "conv", "dense", "dense"]
    assert [l.shape_chw for l in net.layers[:2]] == [(8, 17, 17), (16, 9, 9)]
    assert rep.agreement is not None and rep.agreement.samples == 2
    assert rep.agreement.class_agreement == 1.0  # QAT (the default's last epoch): float == deployed
    spec = RunSpec(steps=10 + len(net), inputs=encode_for_net(net, x))
    fast, lava = run_network(net, spec, "fast"), run_network(net, spec, "lava")
    assert sorted(fast.spikes) == sorted(lava.spikes) == [l.name for l in net.layers]
    for k in lava.spikes:  # every layer, every step, both samples
        assert np.array_equal(fast.spikes[k], lava.spikes[k]), k
    assert all(int(np.count_nonzero(lava.spikes[k])) > 0 for k in lava.spikes), "silent layer"


def test_conv_ann_twin_transfers_one_to_one():
    """The conv ANN twin's weights land in the SLAYER blocks unchanged (shape and value)."""
    import torch

    from neuro_deploy.models.arch import arch_config
    from neuro_deploy.models.pretrain import build_ann, transfer_to_slayer
    from neuro_deploy.models.slayer_model import build_model

    cfg = arch_config("conv", num_steps=4)
    ann, snn = build_ann(cfg), build_model(cfg)
    assert [type(m).__name__ for m in ann] == ["Conv2d", "Conv2d", "Linear", "Linear"]
    out = ann[0](torch.zeros(1, 2, 34, 34))
    assert out.shape == (1, 8, 17, 17)
    transfer_to_slayer(ann, snn, 2.0)
    snn(torch.zeros(1, 2, 34, 34, 2))  # weight norm recomputes the weights
    blocks = [b for b in snn.blocks if getattr(b, "synapse", None) is not None]
    for lin, b in zip(ann, blocks):
        w = b.synapse.weight.detach().reshape(lin.weight.shape)
        assert torch.allclose(w, 2 * lin.weight.detach(), atol=1e-6)


@pytest.mark.parametrize(
    "method",
    [
        ["--prune", "sadp", "--keep", "0.5", "--epochs", "1"],
        ["--pretrain", "ann", "--pretrain-epochs", "2", "--epochs", "2", "--warmup-epochs", "1"],
        ["--hsd", "--teacher-frames", "5", "--student-steps", "4", "--epochs", "1"],
    ],
)
def test_methods_train_conv_students_from_the_cli(tmp_path, nmnist_root, method):
    d = _json(
        CliRunner().invoke(
            main, ["train", "--arch", "conv", "--root", nmnist_root, "-o", str(tmp_path / "m.pt"), *method, *QUICK]
        )
    )
    from neuro_deploy.models import load_checkpoint

    _, cfg, _ = load_checkpoint(tmp_path / "m.pt")
    assert cfg.conv == ((8, 5, 2), (16, 3, 2)) and d["arch"] == "conv"
    if "--pretrain" in method:
        assert d["pretrain"]["optimizer_state_transferred"] == 4 and d["pretrain"]["warmup_epochs"] == 1
    if "--prune" in method:
        assert d["examples_seen"] < 0.75 * 250


def test_pace_with_conv_teachers_and_student_from_the_cli(tmp_path, nmnist_root):
    out = tmp_path / "p.npz"
    d = _json(
        CliRunner().invoke(
            main,
            [
                "distill",
                "--method",
                "pace",
                "--arch",
                "conv",
                "--budget",
                "quick",
                "--root",
                nmnist_root,
                "--ipc",
                "1",
                "--iterations",
                "2",
                "-o",
                str(out),
                *QUICK,
            ],
        )
    )
    assert d["arch"] == "conv" and d["teachers"] == 2
    t = _json(
        CliRunner().invoke(main, ["train", "--data", str(out), "--epochs", "3", "-o", str(tmp_path / "s.pt"), "--json"])
    )
    assert t["arch"] == "conv" and "arch conv (the teacher's architecture)" in t["from_data"]


@pytest.mark.parametrize("arch", ["dense", "conv"])
def test_hsd_qcfs_teacher_does_not_start_dead_on_event_frames(nmnist_root, arch):
    """HSD's code starts every QCFS clip at 8: on sparse event frames every freshly initialised
    pre-activation is below 8 / (2 L), so every hidden output is 0 (the conv teacher then stayed
    at chance). The data-based start puts each clip at its layer's 99.9th percentile: every
    hidden layer passes something on."""
    import torch

    from neuro_deploy.data import load_dataset
    from neuro_deploy.models.arch import dataset_config
    from neuro_deploy.models.hsd import HSDConfig, QCFSTeacher, frames, per_frame, qcfs
    from neuro_deploy.models.pretrain import ann_forward

    ds = load_dataset("nmnist", root=nmnist_root, progress=False)
    tr = ds.subset(np.arange(64))
    cfg = dataset_config(arch, ds, 10_000, 30)
    fx = torch.from_numpy(frames(tr, 10))
    flat = per_frame(fx)

    def nonzero_share(teacher) -> list[float]:
        seen: list[float] = []

        def act(z, i):
            h = qcfs(z, teacher.clips[i], teacher.levels)
            seen.append(float((h > 0).float().mean()))
            return h

        with torch.no_grad():
            ann_forward(teacher.layers, flat, 1.0, 0.0, 1.0, act=act)
        return seen

    torch.manual_seed(0)
    fixed = QCFSTeacher(cfg, HSDConfig(clip_init=8.0))
    assert max(nonzero_share(fixed)) < 0.01  # the dead start
    torch.manual_seed(0)
    data = QCFSTeacher(cfg, HSDConfig())
    data.init_clips(fx)
    shares = nonzero_share(data)
    assert len(shares) == len(cfg.conv) + len(cfg.hidden) and min(shares) > 0.001
    assert all(0 < float(c) < 8 for c in data.clips.detach())


def test_hsd_student_config_is_integrate_and_fire_on_the_student_binning():
    """HSD's student is the network on M equal bins with IF neurons (current = the step's input,
    no leak), which netx writes as CUBA iDecay 4096 / vDecay 0; ``cuba`` keeps the net's decays."""
    from neuro_deploy.errors import UnknownNameError
    from neuro_deploy.models import ModelConfig
    from neuro_deploy.models.hsd import HSDConfig, student_config

    cfg = ModelConfig(dt_us=10_000, num_steps=30)
    s = student_config(cfg, HSDConfig(student_steps=8), 300_000)
    assert (s.dt_us, s.num_steps, s.current_decay, s.voltage_decay) == (37_500, 8, 1.0, 0.0)
    assert (s.hidden, s.conv, s.threshold) == (cfg.hidden, cfg.conv, cfg.threshold)
    c = student_config(cfg, HSDConfig(student_steps=8, student_neuron="cuba"), 300_000)
    assert (c.current_decay, c.voltage_decay) == (cfg.current_decay, cfg.voltage_decay)
    with pytest.raises(UnknownNameError, match="student_neuron"):
        HSDConfig(student_neuron="lif")
