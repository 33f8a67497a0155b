"""Shared fixtures: paths to ../shared/fixtures (skip when absent) and a tiny trained model."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

# The signal tests send Ctrl-C (SIGINT) to the commands they start, which inherit this
# process's disposition. A suite launched as a background job without job control
# (`( bash -c "make test" & )`) starts with SIGINT ignored, and every command it starts would
# ignore Ctrl-C too: give the suite the disposition a terminal gives it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEURO_DEPLOY_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"


#: session fixtures that train a network: a test using one (directly or through another
#: fixture) is marked ``train`` (the unit tier, ``-m "not lava and not train and not slow"``, skips it)
TRAINING_FIXTURES = {"tiny_dense", "tiny_conv"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.train)


def need(path: Path) -> Path:
    """The fixture path, or skip the test saying which path is missing."""
    if not path.exists():
        pytest.skip(f"fixture not available: {path} (../shared/fixtures is absent)")
    return path


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return need(FIXTURES)


@pytest.fixture(scope="session")
def digits():
    from neuro_deploy.data import load_dataset

    return load_dataset("digits", progress=False)


@pytest.fixture(scope="session")
def tiny_dense(tmp_path_factory, digits):
    """A small dense SLAYER model trained for one epoch, its checkpoint and netx export."""
    from neuro_deploy.models import ModelConfig, TrainConfig, save_checkpoint, train_model
    from neuro_deploy.api import export as export_model

    d = tmp_path_factory.mktemp("tiny_dense")
    cfg = ModelConfig(hidden=(32,), dt_us=10_000, num_steps=30)
    sub = digits.subset(np.arange(400))
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    res = train_model(cfg, TrainConfig(epochs=2, progress=False), x, sub.labels)
    save_checkpoint(res, cfg, d / "model.pt")
    rep = export_model(d / "model.pt", d / "model.net")
    return {
        "dir": d,
        "ckpt": d / "model.pt",
        "net": d / "model.net",
        "cfg": cfg,
        "report": rep,
        "x": x,
        "y": sub.labels,
        "history": res.history,
    }


@pytest.fixture(scope="session")
def tiny_conv(tmp_path_factory, digits):
    """A small conv SLAYER model (conv -> flatten -> dense), exported."""
    from neuro_deploy.models import ModelConfig, TrainConfig, save_checkpoint, train_model
    from neuro_deploy.api import export as export_model

    d = tmp_path_factory.mktemp("tiny_conv")
    cfg = ModelConfig(conv=((4, 5, 2), (8, 3, 2)), hidden=(), dt_us=20_000, num_steps=15)
    sub = digits.subset(np.arange(200))
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    res = train_model(cfg, TrainConfig(epochs=1, progress=False), x, sub.labels)
    save_checkpoint(res, cfg, d / "model.pt")
    rep = export_model(d / "model.pt", d / "model.net", verify_inputs=x[:4])
    return {
        "dir": d,
        "ckpt": d / "model.pt",
        "net": d / "model.net",
        "cfg": cfg,
        "report": rep,
        "x": x,
        "y": sub.labels,
    }


@pytest.fixture(scope="session")
def zygote(tiny_dense):
    """Forks real CLI processes from a warm interpreter (tests/proctools.py)."""
    from proctools import Zygote

    z = Zygote(warm_net=tiny_dense["net"])
    yield z
    z.close()
