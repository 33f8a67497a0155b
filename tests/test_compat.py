"""The Lava compatibility shim: Lava imports and runs on this Python, unchanged on disk."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import neuro_deploy  # noqa: F401  (installs the shim)
from neuro_deploy._compat import lava_compat

pytestmark = pytest.mark.lava  # these compare with (or run) Lava's simulator


def _py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the dataclass failure only exists on 3.11+")
def test_lava_fails_without_the_shim():
    """Proves the shim is needed: a fresh interpreter importing Lava directly fails."""
    r = _py("import lava.magma.compiler.var_model")
    assert r.returncode != 0
    assert "mutable default" in r.stderr


def test_lava_imports_with_the_shim_in_a_fresh_interpreter():
    r = _py(
        "import neuro_deploy, lava.magma.compiler.var_model as v; "
        "a, b = v.CoreEncoder(), v.CoreEncoder(); "
        "assert a == b and a.x is not b.x; print('ok')"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_start_method_already_set_does_not_break_lava():
    """Anything that touches multiprocessing's default context before Lava (tqdm does)
    used to make Lava's import raise 'context has already been set'."""
    r = _py(
        "import multiprocessing as mp; mp.RLock(); import neuro_deploy; "
        "import lava.magma.runtime.message_infrastructure.multiprocessing; "
        "print(mp.get_start_method())"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "fork"


def test_finder_is_idempotent_and_scoped():
    import dataclasses
    import multiprocessing

    before = sum(isinstance(f, lava_compat.LavaPy311Finder) for f in sys.meta_path)
    lava_compat.install()
    lava_compat.install()
    assert sum(isinstance(f, lava_compat.LavaPy311Finder) for f in sys.meta_path) == before == 1
    # the patches are only active while Lava's module executes
    assert dataclasses.dataclass.__module__ == "dataclasses"
    assert multiprocessing.set_start_method.__module__.startswith("multiprocessing")


def test_tolerant_dataclass_turns_instance_defaults_into_factories():
    from dataclasses import dataclass

    @dataclass
    class Inner:
        a: int = 1

    class Outer:
        __annotations__ = {"x": Inner}
        x = Inner(5)

    cls = lava_compat._tolerant_dataclass(dataclass)(Outer)
    o1, o2 = cls(), cls()
    assert o1.x == Inner(5) and o1.x is not o2.x


def test_real_lava_network_runs_in_worker_processes():
    """A real LIF network in Loihi2SimCfg(fixed_pt): Lava forks one worker process per
    process model and the runtime service, so this exercises the shim in workers."""
    from neuro_deploy.sim.lava import import_lava

    import_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF

    a = LIF(shape=(3,), du=4095, dv=0, vth=10, bias_mant=np.array([20, 0, 5]), bias_exp=6)
    d = Dense(weights=np.eye(3, dtype=int) * 100)
    b = LIF(shape=(3,), du=4095, dv=0, vth=1000, bias_mant=np.zeros(3), bias_exp=6)
    a.s_out.connect(d.s_in)
    d.a_out.connect(b.a_in)
    try:
        a.run(condition=RunSteps(num_steps=5), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        vb = b.v.get()
    finally:
        a.stop()
    # a0 spikes every step (bias 20<<6 = 1280 > 10<<6); a2 integrates 320, 640, 960 and
    # spikes at step 3 only. Dense delivers one step later; b has du=4095 (u = input << 6
    # each step) and dv=0 (v accumulates): b0 gets 100 at steps 2..5 -> 4 * 6400,
    # b2 gets 100 at step 4 -> 6400.
    assert vb.tolist() == [25600, 0, 6400]


def test_slayer_dense_export_without_forward(tmp_path):
    """lava-dl's dense export right after construction used to crash in h5py (shape unset)."""
    import h5py

    from neuro_deploy.models.slayer_model import import_slayer

    slayer = import_slayer()
    p = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03}
    blocks = [slayer.block.cuba.Dense(p, 20, 7), slayer.block.cuba.Dense(p, 7, 3)]
    with h5py.File(tmp_path / "n.net", "w") as h5:
        g = h5.create_group("layer")
        for i, b in enumerate(blocks):
            b.export_hdf5(g.create_group(str(i)))
    from neuro_deploy.netx import load_netx

    net = load_netx(tmp_path / "n.net")
    assert [l.shape_chw for l in net.layers] == [(7,), (3,)]
