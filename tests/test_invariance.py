"""One answer per question: no figure depends on batch size, worker count or backend.

* replay: every recording is simulated and counted for its own length (+ drain steps), so
  per-recording spikes, synops, predictions and latencies are identical for
  ``--workers 1|2`` and batch sizes 1, 7, 64, on fast and on Lava (real N-MNIST fixture
  recordings, whose lengths differ by up to four steps, replayed with a network that has
  no window so each takes its own length);
* evaluate: activity counts and the energy/latency estimate are identical for batch
  sizes 1, 10 and 128 (one ``merge_counts``).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.netx import load_netx
from neuro_deploy.netx.writer import cuba_neuron, write_netx
from neuro_deploy.sim.replay import ReplayConfig, replay

pytestmark = pytest.mark.lava  # these compare with (or run) Lava's simulator


@pytest.fixture(scope="module")
def nmnist_train(fixtures):
    return need(fixtures / "events" / "nmnist" / "train")


@pytest.fixture(scope="module")
def own_length_net(tmp_path_factory):
    """A 2x34x34 -> 64 -> 10 CUBA net without export metadata: replay then bins every
    recording for its own length (60-64 steps of 5 ms from t = 0 on the fixture)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("inv") / "own.net"
    write_netx(
        path,
        [
            {
                "type": "dense",
                "weight": rng.integers(-30, 40, (64, 2 * 34 * 34)) * 2,
                "neuron": cuba_neuron(1024, 256, 60),
            },
            {"type": "dense", "weight": rng.integers(-60, 60, (10, 64)) * 2, "neuron": cuba_neuron(1024, 256, 40)},
        ],
    )
    return load_netx(path)


def per_recording(res) -> dict[str, tuple]:
    return {
        s.file: (
            s.steps,
            s.spikes,
            s.synops,
            s.output_counts,
            s.predicted,
            s.latency_steps,
            s.time_to_first_correct_steps,
        )
        for s in res.samples
    }


def counts_key(counts) -> list[tuple]:
    return [
        (
            c.name,
            c.steps,
            c.samples,
            c.neuron_updates,
            c.active_updates,
            c.synops.tolist(),
            c.output_spikes.tolist(),
            c.input_spikes.tolist(),
            c.samples_per_step.tolist(),
            c.synops_per_sample.tolist(),
            c.spikes_per_sample.tolist(),
        )
        for c in counts
    ]


def _replay_grid(net, files, backend, grid, labels=None):
    out = {}
    for workers, batch in grid:
        res = replay(net, files, ReplayConfig(dt_us=5000, backend=backend, workers=workers, batch_size=batch), labels)
        out[(workers, batch)] = res
    return out


def _assert_all_equal(runs) -> None:
    ref_key = next(iter(runs))
    ref = runs[ref_key]
    for key, res in runs.items():
        a, b = per_recording(ref), per_recording(res)
        differ = [f for f in a if a[f] != b[f]]
        assert not differ, f"{key} vs {ref_key}: {len(differ)} recordings differ, e.g. {differ[:3]}"
        assert counts_key(res.counts) == counts_key(ref.counts), f"merged counts differ for {key}"
        assert res.accuracy == ref.accuracy and res.accuracy_vs_step == ref.accuracy_vs_step
        assert res.mean_latency_steps == ref.mean_latency_steps and res.layers == ref.layers


def test_replay_fast_independent_of_workers_and_batch(nmnist_train, own_length_net):
    from neuro_deploy.data import read_labels

    files = [nmnist_train / f"{i}.bin" for i in range(1, 131)]  # 2 workers x (64 + 1)
    labels = read_labels(nmnist_train.parent / "train_labels.txt")
    runs = _replay_grid(own_length_net, files, "fast", [(1, 64), (2, 64), (2, 7), (1, 1)], labels)
    steps = {s.steps for s in runs[(1, 64)].samples}
    assert len(steps) >= 3, steps  # lengths differ: padding would show
    assert sum(s.spikes["layer1"] for s in runs[(1, 64)].samples) > 0
    _assert_all_equal(runs)


def test_replay_lava_independent_of_workers_and_batch_and_equal_to_fast(nmnist_train, own_length_net):
    """Real Lava: concatenated batches (batch 3) and own-length single runs (batch 1)."""
    files = [nmnist_train / f"{i}.bin" for i in (1, 8, 40, 43, 2)]  # 62, 63, 60, 61, 62 steps
    runs = _replay_grid(own_length_net, files, "lava", [(1, 3), (2, 2), (1, 1)])
    assert len({s.steps for s in runs[(1, 3)].samples}) == 4
    fast = replay(own_length_net, files, ReplayConfig(dt_us=5000, backend="fast", batch_size=64))
    runs[("fast", 64)] = fast
    _assert_all_equal(runs)


def test_replay_cli_workers_identical_json(nmnist_train, own_length_net):
    args = (
        ["replay", own_length_net.path]
        + [str(nmnist_train / f"{i}.bin") for i in range(1, 41)]
        + ["--dt-us", "5000", "--json"]
    )
    outs = []
    for workers in ("1", "2"):
        r = CliRunner().invoke(main, args + ["--workers", workers])
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        outs.append([d["samples"], d["layers"], d["accuracy_vs_step"]])
    assert outs[0] == outs[1]


@pytest.mark.slow
def test_replay_all_1000_recordings_independent_of_workers_and_batch(nmnist_train, own_length_net):
    """The full fixture on fast (six worker/batch settings) and 100 recordings on Lava."""
    from neuro_deploy.data import read_labels

    files = [nmnist_train / f"{i}.bin" for i in range(1, 1001)]
    labels = read_labels(nmnist_train.parent / "train_labels.txt")
    runs = _replay_grid(own_length_net, files, "fast", [(1, 64), (2, 64), (1, 7), (2, 7), (1, 1), (2, 1)], labels)
    _assert_all_equal(runs)
    sub = files[:100]
    lava = _replay_grid(own_length_net, sub, "lava", [(1, 64), (2, 7), (1, 1)])
    lava[("fast", 64)] = replay(own_length_net, sub, ReplayConfig(dt_us=5000, backend="fast"))
    _assert_all_equal(lava)


# --------------------------------------------------------------------------- evaluate counts
def _cost(net, counts):
    from neuro_deploy.energy.cost import estimate_cost
    from neuro_deploy.hardware.fit import fit_network
    from neuro_deploy.hardware.profile import load_profile

    profile = load_profile("loihi2")
    return estimate_cost(net, counts, fit_network(net, profile), profile).to_dict()


@pytest.mark.parametrize("which", ["tiny_dense", "tiny_conv"])
def test_evaluate_counts_and_cost_independent_of_batch_size(which, request, digits):
    from neuro_deploy.sim.evaluate import evaluate_deployed

    model = request.getfixturevalue(which)
    net = load_netx(model["net"])
    cfg = model["cfg"]
    sub = digits.subset(np.arange(400, 530))  # 130 samples: 128 + 2
    x = sub.to_tensors(cfg.dt_us, cfg.num_steps)
    evs = {b: evaluate_deployed(net, x, sub.labels, batch_size=b) for b in (1, 10, 128)}
    ref = evs[128]
    assert sum(c.active_updates for c in ref.counts) > 0
    for b, ev in evs.items():
        assert counts_key(ev.counts) == counts_key(ref.counts), f"counts differ at batch size {b}"
        assert (ev.predictions == ref.predictions).all() and ev.accuracy == ref.accuracy
        assert _cost(net, ev.counts) == _cost(net, ref.counts), f"cost differs at batch size {b}"


def test_evaluate_with_lengths_matches_separate_runs(tiny_dense, digits):
    """Per-sample lengths: a batch gives each sample exactly what its own run gives."""
    from neuro_deploy.energy.counts import merge_counts
    from neuro_deploy.sim.evaluate import evaluate_deployed, run_tensors

    net = load_netx(tiny_dense["net"])
    sub = digits.subset(np.arange(40))
    x = sub.to_tensors(10_000, 30)
    lens = np.random.default_rng(1).integers(5, 31, len(x))
    together = evaluate_deployed(net, x, sub.labels, batch_size=64, lengths=lens)
    alone = [run_tensors(net, x[i : i + 1, ..., : lens[i]]) for i in range(len(x))]
    assert [int(r.trains[-1].sum(0).argmax()) for r in alone] == together.predictions.tolist()
    assert counts_key(merge_counts([r.counts for r in alone])) == counts_key(together.counts)
    assert together.run_steps.tolist() == (lens + len(net)).tolist()


def test_merge_counts_equals_one_run(tiny_dense, digits):
    """Splitting a run and merging gives the counts of the whole run (active updates too)."""
    from neuro_deploy.energy.counts import merge_counts
    from neuro_deploy.sim.evaluate import run_tensors

    net = load_netx(tiny_dense["net"])
    x = digits.subset(np.arange(30)).to_tensors(10_000, 30)
    whole = run_tensors(net, x).counts
    parts = merge_counts([run_tensors(net, x[i : i + 7]).counts for i in range(0, 30, 7)])
    assert counts_key(parts) == counts_key(whole)
    assert [dataclasses.asdict(c)["active_updates"] for c in parts] == [c.active_updates for c in whole]
