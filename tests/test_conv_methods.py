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

    assert li._li_dynamics_fwd is li_dynamics_fwd          # what SLAYER's blocks now call
