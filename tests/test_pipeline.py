"""The main job end to end on the embedded data (short settings)."""
from __future__ import annotations

import json

from neuro_deploy.pipeline import DemoConfig, run_demo


def test_demo_end_to_end(tmp_path):
    r = run_demo(DemoConfig(out_dir=str(tmp_path), epochs=2, lava_samples=12, progress=False),
                 log=lambda s: None)
    assert r.val_samples == 359 and r.lava_samples == 12
    assert r.float_accuracy > 0.5 and r.fast_accuracy > 0.5
    assert r.lava_accuracy is not None
    assert r.lava_fast_prediction_agreement == 1.0          # bit-exact backends
    assert r.export["lava_fast_counts_equal"] is True
    assert [l["name"] for l in r.layers] == ["layer0", "layer1"]
    assert all(l["synops"] > 0 and l["spikes"] > 0 for l in r.layers)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["schema"] == "neuro-deploy-demo/1"
    assert (tmp_path / "model.net").exists() and (tmp_path / "summary.png").stat().st_size > 1000
