"""The Python API: a pinned, lazily imported surface; deploy as one result; splits recorded."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import neuro_deploy as nd
from conftest import ROOT

API = [
    "Deployment",
    "Evaluation",
    "Report",
    "SplitWarning",
    "TrainedModel",
    "__version__",
    "deploy",
    "evaluate",
    "export",
    "fit",
    "load_dataset",
    "read_events",
    "replay",
    "report",
    "run",
    "train",
]


def test_all_is_pinned():
    assert sorted(nd.__all__) == sorted(API)
    for name in API:
        obj = getattr(nd, name)
        assert obj is not None and (name == "__version__" or obj.__doc__), name


def test_import_is_cheap():
    """``import neuro_deploy`` loads no numpy, torch or Lava; the first API call does."""
    code = (
        "import sys, neuro_deploy as nd; heavy = [m for m in ('numpy', 'torch', 'lava') if m in sys.modules]; "
        "print(heavy); nd.load_dataset; print('numpy' in sys.modules)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "True"]


def test_report_is_callable_whatever_was_imported():
    """``nd.report`` is the report sub-package too: it answers the call either way."""
    import neuro_deploy.report.build  # noqa: F401  (binds the sub-package on the parent)

    assert callable(nd.report) and nd.report.build_report is not None


def test_unknown_name():
    with pytest.raises(AttributeError, match="no attribute 'deploy_everything'"):
        nd.deploy_everything  # noqa: B018


def test_profile_number_format_is_the_one_home():
    from neuro_deploy.hardware import load_profile
    from neuro_deploy.loihi_format import LOIHI2

    assert load_profile("loihi2").number_format() == LOIHI2
    assert (
        LOIHI2.weight_mant_min,
        LOIHI2.weight_mant_max,
        LOIHI2.decay_unity,
        LOIHI2.threshold_mant_max,
        LOIHI2.max_delay,
        LOIHI2.slayer_weight_scale,
    ) == (-256, 254, 4096, 2**17 - 1, 62, 64)


# ------------------------------------------------------------------------------- splits
def test_split_round_trip_and_matching(digits):
    from neuro_deploy.data.splits import Split, recorded_split

    s = Split.of(digits, 0.25, 3)
    assert Split.from_meta(s.to_meta()) == s and Split.from_meta({"split": s.to_meta()}) == s
    assert s.matches(digits) and not s.matches(digits.subset(np.arange(100)))
    tr, va, used, notes = recorded_split(digits, s.to_meta())
    assert used == s and not notes
    assert set(va.names).isdisjoint(tr.names) and len(va) == len(digits.split(0.25, 3)[1])
    # nothing recorded, another data set, or an explicit seed that differs: the default or the given
    # split, each with a warning that the validation part may hold training samples
    for meta, kw in [
        ({}, {}),
        (Split.of(digits.subset(np.arange(500)), 0.2, 0).to_meta(), {}),
        (s.to_meta(), {"seed": 0}),
    ]:
        _, _, used, notes = recorded_split(digits, meta, "m.net", **kw)
        assert len(notes) == 1 and "trained on" in notes[0] and used.seed == 0


@pytest.mark.train
def test_train_records_split_evaluate_and_report_use_it(digits, tmp_path):
    """train --seed 3 then evaluate / report: both score the held-out part of seed 3's split
    (the checkpoint, its export and the netx metadata carry it), without a warning."""
    from neuro_deploy.netx.meta import read_meta

    sub = digits.subset(np.arange(300), name="digits")
    m = nd.train(sub, tmp_path / "m.pt", hidden=(16,), epochs=1, dt_us=20_000, num_steps=15, seed=3)
    assert m.split.seed == 3 and m.val_samples == len(sub.split(0.2, 3)[1])
    rep = nd.export(m, tmp_path / "m.net", verify_inputs=np.zeros((0,)))
    meta = read_meta(rep.path)
    assert meta["split_seed"] == 3 and meta["split_fingerprint"] == m.split.fingerprint
    with warnings.catch_warnings():
        warnings.simplefilter("error", nd.SplitWarning)
        ev = nd.evaluate(rep.path, sub)
    _, va = sub.split(0.2, 3)
    assert ev.samples == len(va) and np.array_equal(ev.labels, va.labels) and ev.split["split_seed"] == 3
    # the same network on another data set: loudly the default split
    with pytest.warns(nd.SplitWarning, match="cannot be applied"):
        other = nd.evaluate(rep.path, digits.subset(np.arange(300, 500), name="digits"))
    assert other.warnings


@pytest.mark.train
def test_deploy_is_one_result_and_one_answer(tiny_dense, digits, tmp_path):
    """deploy = export -> fit -> evaluate -> cost; the same numbers as report and evaluate give."""
    data = digits.subset(np.arange(400), name="digits")
    with pytest.warns(nd.SplitWarning, match="does not record"):  # conftest's checkpoint has no split
        dep = nd.deploy(tiny_dense["ckpt"], data, out=tmp_path / "d.net", limit=40)
    assert dep.fits and dep.samples == 40 and dep.netx == str(tmp_path / "d.net")
    assert 0.0 <= dep.float_accuracy <= 1.0 and 0.0 <= dep.deployed_accuracy <= 1.0
    lo, hi = dep.energy_per_inference_uj_band
    assert 0 < lo < dep.energy_per_inference_uj < hi and dep.latency_us > 0
    assert dep.export.agreement is not None and dep.export.agreement.samples == 16
    from neuro_deploy.energy.cost import fit_and_cost

    with pytest.warns(nd.SplitWarning):
        ev = nd.evaluate(dep.netx, data, limit=40, batch_size=7)  # another batching, same figures
    assert ev.accuracy == dep.deployed_accuracy
    _, cost = fit_and_cost(dep.network, ev.deployed.counts, "loihi2")
    assert cost.energy_per_inference_uj == pytest.approx(dep.energy_per_inference_uj, rel=1e-12)
    # renders itself
    html, md, text = dep._repr_html_(), dep._repr_markdown_(), str(dep)
    for s in (html, md, text):
        assert "energy per inference" in s and "deployed accuracy (fast)" in s and "band" in s
    assert html.startswith("<table") and md.startswith("| deployment")
    json.dumps(dep.to_dict())


@pytest.mark.train
def test_deploy_a_netx_file_and_bad_inputs(tiny_dense, digits, tmp_path):
    from neuro_deploy.errors import BadInputError, UnknownNameError

    x, y = tiny_dense["x"][:20], tiny_dense["y"][:20]
    dep = nd.deploy(tiny_dense["net"], (x, y))
    assert dep.float_accuracy is None and dep.export is None and dep.samples == 20
    with pytest.raises(UnknownNameError, match="loihi2-sim"):
        nd.deploy(tiny_dense["ckpt"], (x, y), target="nir")
    with pytest.raises(BadInputError, match="no such model"):
        nd.deploy(tmp_path / "missing.pt", (x, y))
    with pytest.raises(UnknownNameError, match="hardware profile"):
        nd.deploy(tiny_dense["net"], (x, y), profile="loihi9")
