"""``neuro-deploy doctor``: what is installed, and whether Lava really runs here."""

from __future__ import annotations

import importlib
import platform
import sys
from dataclasses import asdict, dataclass, field

#: (import name, distribution name, required, fix)
COMPONENTS = [
    ("numpy", "numpy", True, "pip install 'numpy<2' (Lava needs numpy 1.x)"),
    ("torch", "torch", True, "pip install torch==2.14.1 torchvision==0.29.1"),
    ("torchvision", "torchvision", True, "pip install torch==2.14.1 torchvision==0.29.1"),
    ("lava", "lava-nc", True, "pip install --no-deps --ignore-requires-python lava-nc==0.10.0"),
    ("lava.lib.dl.netx", "lava-dl", True, "pip install --no-deps --ignore-requires-python lava-dl==0.6.0"),
    ("h5py", "h5py", True, "pip install h5py"),
    ("tonic", "tonic", False, "pip install tonic==1.7.0"),
    ("norse", "norse", False, "pip install norse==1.1.0"),
    ("nir", "nir", False, "pip install nir"),
    ("ray", "ray", False, "pip install -e '.[cluster]' (Ray, for --ray / --ray-address / sweep on a cluster)"),
]


@dataclass
class Check:
    name: str
    version: str | None
    ok: bool
    required: bool
    detail: str = ""
    fix: str = ""


@dataclass
class DoctorReport:
    python: str
    platform: str
    checks: list[Check] = field(default_factory=list)
    lava_run: Check | None = None

    @property
    def ok(self) -> bool:
        req = [c for c in self.checks if c.required]
        return all(c.ok for c in req) and (self.lava_run is None or self.lava_run.ok)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        d["versions"] = {c.name: c.version for c in self.checks}
        return d


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def lava_smoke_test() -> Check:
    """One step of a 2-neuron LIF network in Loihi2SimCfg(select_tag='fixed_pt')."""
    import numpy as np

    try:
        import neuro_deploy  # noqa: F401

        from neuro_deploy._compat import quiet_imports

        with quiet_imports():
            from lava.magma.core.run_conditions import RunSteps
            from lava.magma.core.run_configs import Loihi2SimCfg
            from lava.proc.lif.process import LIF
        lif = LIF(shape=(2,), du=4095, dv=0, vth=1000, bias_mant=np.array([0, 100]), bias_exp=6)
        try:
            lif.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            v = lif.v.get()
        finally:
            lif.stop()
        ok = int(v[0]) == 0 and int(v[1]) == 100 << 6
        return Check(
            "lava-run",
            None,
            ok,
            True,
            f"1 step fixed_pt LIF: v = {v.tolist()} (expected [0, {100 << 6}])",
            "" if ok else "reinstall lava-nc 0.10.0; see README",
        )
    except Exception as exc:
        return Check(
            "lava-run",
            None,
            False,
            True,
            f"{type(exc).__name__}: {exc}",
            "make install (lava-nc/lava-dl with --no-deps --ignore-requires-python, "
            "numpy<2); on Python 3.11 import neuro_deploy before lava",
        )


def run_doctor(run_lava: bool = True) -> DoctorReport:
    import neuro_deploy  # noqa: F401  (shim first)

    rep = DoctorReport(python=sys.version.split()[0], platform=platform.platform())
    for mod, dist, required, fix in COMPONENTS:
        version = _version(dist)
        try:
            from neuro_deploy._compat import quiet_imports

            with quiet_imports():
                importlib.import_module(mod)
            ok, detail = True, ""
        except Exception as exc:
            ok, detail = False, f"import {mod}: {type(exc).__name__}: {exc}"
        if ok and dist == "numpy" and version and int(version.split(".")[0]) >= 2:
            ok, detail = False, "numpy >= 2 breaks Lava"
        rep.checks.append(Check(dist, version, ok, required, detail, "" if ok else fix))
    if run_lava:
        rep.lava_run = lava_smoke_test()
    return rep
