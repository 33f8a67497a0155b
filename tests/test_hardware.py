"""Hardware profiles and the fit/mapping check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import need
from neuro_deploy.cli import main
from neuro_deploy.errors import ProfileError, ResourceLimitError, UnknownNameError
from neuro_deploy.hardware import load_profile
from neuro_deploy.hardware.fit import fit_network
from neuro_deploy.netx import load_netx
from neuro_deploy.netx.writer import cuba_neuron, write_netx


def test_profiles_load_with_provenance():
    for name in ("loihi2", "loihi1"):
        p = load_profile(name)
        assert p.limits.cores_per_chip == 128
        assert all(v["kind"] and v["source"] for v in p.provenance.values())
    l2 = load_profile("loihi2")
    assert l2.limits.neurons_per_core == 8192 and l2.costs.e_synop_pj == 23.6
    assert any("e_synop_pj" in a for a in l2.assumptions())  # a Loihi 1 reference, said so


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["limits"].pop("neurons_per_core"), "limits.neurons_per_core"),
        (lambda d: d["limits"]["neurons_per_core"].update(value="many"), "limits.neurons_per_core"),
        (lambda d: d["costs"]["e_synop_pj"].update(value=-1), "costs.e_synop_pj"),
        (lambda d: d["costs"]["e_hop_pj"].pop("source"), "costs.e_hop_pj"),
        (lambda d: d["costs"]["e_hop_pj"].update(kind="guess"), "costs.e_hop_pj"),
        (lambda d: d["limits"].update(bogus={"value": 1, "kind": "assumption", "source": "x"}), "limits.bogus"),
        (lambda d: d.update(schema="v0"), "schema"),
    ],
)
def test_bad_profile_names_the_field(tmp_path, mutate, field):
    data = yaml.safe_load(open(load_profile("loihi2").path))
    mutate(data)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError) as exc:
        load_profile(p)
    assert exc.value.field == field and "bad.yaml" in str(exc.value)


def test_unknown_profile_name():
    with pytest.raises(UnknownNameError, match="loihi2"):
        load_profile("truenorth")


def test_fit_fixture_networks_stable(fixtures):
    prof = load_profile("loihi2")
    ox_net = load_netx(need(fixtures / "lava-dl/oxford/network.net"))
    ox = fit_network(ox_net, prof)
    # 200 -> 256 -> 200 CUBA, 8-bit weights: 200 x (1 + ceil(256 x 20 / 64)) = 16,200 SynMem
    # words on one core > 12,000 -> 2 cores each
    assert ox.fits and ox.chips == 1 and [l.cores for l in ox.layers] == [2, 2]
    assert [l.neurons for l in ox.layers] == [256, 200]
    assert [l.synapses for l in ox.layers] == [int(np.count_nonzero(l.weight)) for l in ox_net.layers]
    assert all(l.per_core.syn_mem <= 12000 for l in ox.layers)
    assert ox.layers[0].split_log and "16200" in ox.layers[0].split_log[0]
    tiny = fit_network(load_netx(need(fixtures / "lava-dl/tinynet/tiny.net")), prof)
    assert tiny.fits and [l.kind for l in tiny.layers] == ["input", "conv", "conv"]
    assert [l.neurons for l in tiny.layers] == [768, 864, 36]
    assert tiny.layers[1].per_core.axon_in == tiny.layers[1].fanin_axons == 2  # shared conv axons: x stride
    assert fit_network(load_netx(fixtures / "lava-dl/tinynet/tiny.net"), prof).to_dict() == tiny.to_dict()


def test_pilotnet_sdnn_matches_intel_compiler_table(fixtures):
    """The nine rows Intel's Loihi 2 compiler printed for this file (output layer first),
    shared/research/loihi2-compiler-tables.md, from the netx file alone."""
    net = load_netx(need(fixtures / "lava-dl/pilotnet_sdnn/network.net"))
    res = fit_network(net, load_profile("loihi2"), skip_input=True)
    rows = list(reversed(res.layers))
    assert res.fits and res.cores == 61 and res.chips == 1 and res.skipped_layers == ["layer0"]
    assert [l.cores for l in rows] == [1, 1, 1, 12, 2, 3, 3, 13, 25]
    assert [l.tile for l in rows[4:]] == [[16, 2, 64], [8, 4, 64], [8, 7, 48], [4, 15, 36], [4, 32, 24]]
    pc = [l.per_core for l in rows]
    assert [p.neurons for p in pc[4:]] == [2048, 2048, 2688, 2160, 3072]
    assert [p.neurons for p in pc[:3]] == [1, 10, 50]
    assert [p.axon_in for p in pc] == [10, 50, 100, 2560, 1, 1, 2, 2, 2]
    # Synapses column: exact on 8 of 9 rows; the 12-core dense row is within 6 % (7,680 vs 7,253)
    syn = [p.synapses for p in pc]
    assert syn[:3] + syn[4:] == [10, 150, 1500, 2880, 2592, 1620, 864, 81]
    assert abs(syn[3] - 7253) / 7253 < 0.06
    assert all(p.neuron_groups == 1 for p in pc) and all(p.syn_mem <= 12000 for p in pc)
    # the split of the dense 2560 -> 100 layer follows the compiler's log: 66,560 -> 12,800 -> fits
    log = rows[3].split_log
    assert "66560" in log[0] and "-> 6 cores" in log[0] and "12800" in log[1] and "-> 12 cores" in log[1]
    # a conv spike reaches the one or two tiles that cover it, a dense destination every core
    assert 1.0 <= rows[8].messages_per_spike < 2.0 and rows[4].messages_per_spike == 12
    full = fit_network(net, load_profile("loihi2"))
    assert full.cores == 61 + full.layers[0].cores and full.layers[0].kind == "input"


def test_conv_synapse_count_is_exact(tmp_path):
    """3x3 stride 1 no padding on 5x5: every output has 9 inputs -> 9 * 9 synapses per channel pair."""
    write_netx(
        tmp_path / "c.net",
        [
            {"type": "input", "shape": (1, 5, 5), "neuron": cuba_neuron(4096, 0, 10)},
            {"type": "conv", "weight": np.full((2, 1, 3, 3), 2), "neuron": cuba_neuron(4096, 0, 10)},
        ],
    )
    r = fit_network(load_netx(tmp_path / "c.net"), load_profile("loihi2"))
    assert r.layers[1].synapses == 2 * 9 * 9
    # shared kernel: 9 taps x ceil(2 channels x (2 mantissa bits + 1) / 64) words on the core
    assert r.layers[1].per_core.synapses == 9 and r.layers[1].weight_bits == 2


def test_memory_limited_layer_splits(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.integers(1, 100, (1000, 2000)) * 2  # 8-bit mantissas (<= 99 after the common x2)
    write_netx(tmp_path / "big.net", [{"type": "dense", "weight": w, "neuron": cuba_neuron(1024, 128, 80)}])
    prof = load_profile("loihi2")
    r = fit_network(load_netx(tmp_path / "big.net"), prof)
    l = r.layers[0]
    assert l.weight_bits == 8 and l.limited_by.startswith("synaptic memory") and l.cores > 1
    words = lambda n: 2000 * (1 + -(-n * (8 + 12) // 64))  # noqa: E731  SynMem of an n-neuron core
    assert l.per_core.syn_mem == words(l.neurons_per_core) <= 12000
    assert words(1000) > 12000 and len(l.split_log) >= 1


def test_hard_limits_and_warnings(tmp_path):
    prof = load_profile("loihi2")
    # 5,000 inputs: beyond Loihi 1's 4,096 input axons, a Loihi 1 reference on Loihi 2 -> warning
    write_netx(
        tmp_path / "fanin.net", [{"type": "dense", "weight": np.full((4, 5000), 2), "neuron": cuba_neuron(0, 0, 10)}]
    )
    r = fit_network(load_netx(tmp_path / "fanin.net"), prof)
    assert r.fits and any("input axons" in w and "loihi1-reference" in w for w in r.warnings)
    # on Loihi 1 the same limit is published: refused
    r1 = fit_network(load_netx(tmp_path / "fanin.net"), load_profile("loihi1"))
    assert not r1.fits and any(v.used == 5000 and v.limit == 4096 for v in r1.violations)
    # 20,000 inputs: their SynMem headers alone exceed a core's 12,000 words -> no split fits
    write_netx(
        tmp_path / "wide.net", [{"type": "dense", "weight": np.full((4, 20000), 2), "neuron": cuba_neuron(0, 0, 10)}]
    )
    with pytest.raises(ResourceLimitError) as exc:
        fit_network(load_netx(tmp_path / "wide.net"), prof, strict=True)
    assert exc.value.layer == "layer0" and "SynMem" in exc.value.resource and exc.value.limit == 12000
    d = np.full((4, 6), 70)
    write_netx(
        tmp_path / "delay.net",
        [{"type": "dense", "weight": np.full((4, 6), 2), "delay": d, "neuron": cuba_neuron(0, 0, 10)}],
    )
    r = fit_network(load_netx(tmp_path / "delay.net"), prof)
    assert any(v.resource.startswith("synaptic delay") and v.used == 70 and v.limit == 62 for v in r.violations)
    write_netx(
        tmp_path / "w.net", [{"type": "dense", "weight": np.array([[300, -2]]), "neuron": cuba_neuron(0, 0, 10)}]
    )
    assert any("weight" in w for w in fit_network(load_netx(tmp_path / "w.net"), prof).warnings)


def test_tutorial_threshold_warns_not_refused(tmp_path):
    """netx's default dense readout has vThMant 1 << 17 (one above Lava's 17-bit field): Intel's
    tutorials run it on Loihi 2, so the fit warns and says why instead of refusing."""
    write_netx(
        tmp_path / "t.net",
        [
            {"type": "dense", "weight": np.full((8, 16), 2), "neuron": cuba_neuron(4096, 0, 80)},
            {"type": "dense", "weight": np.full((10, 8), 2), "neuron": cuba_neuron(0, 4096, 131072)},
        ],
    )
    r = fit_network(load_netx(tmp_path / "t.net"), load_profile("loihi2"))
    assert r.fits and not r.violations
    assert any("threshold mantissa 131072" in w and "warned, not refused" in w for w in r.warnings)


def test_chips_available_is_enforced(tmp_path):
    data = yaml.safe_load(open(load_profile("loihi2").path))
    data["limits"]["chips_available"]["value"] = 1
    data["limits"]["cores_per_chip"]["value"] = 2
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(data))
    write_netx(
        tmp_path / "n.net",
        [
            {"type": "dense", "weight": np.full((10, 10), 2), "neuron": cuba_neuron(0, 0, 10)},
            {"type": "dense", "weight": np.full((10, 10), 2), "neuron": cuba_neuron(0, 0, 10)},
            {"type": "dense", "weight": np.full((10, 10), 2), "neuron": cuba_neuron(0, 0, 10)},
        ],
    )
    r = fit_network(load_netx(tmp_path / "n.net"), load_profile(p))
    assert r.chips == 2 and not r.fits and r.violations[-1].resource == "chips"


def test_fit_cli_json_and_exit_codes(tmp_path, fixtures):
    ox = need(fixtures / "lava-dl/oxford/network.net")
    r = CliRunner().invoke(main, ["fit", str(ox), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["fits"] is True and d["cores"] == 4 and d["chips"] == 1
    assert all({"name", "kind", "neurons", "synapses", "cores", "per_core", "tile"} <= set(l) for l in d["layers"])
    assert set(d["layers"][0]["per_core"]) == {
        "axon_in",
        "neuron_groups",
        "neurons",
        "synapses",
        "axon_map",
        "axon_mem",
        "syn_mem",
    }
    write_netx(
        tmp_path / "wide.net", [{"type": "dense", "weight": np.full((4, 20000), 2), "neuron": cuba_neuron(0, 0, 10)}]
    )
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "wide.net")])
    assert r.exit_code == 3 and "layer0" in r.output and "SynMem" in r.output
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "missing.net")])
    assert r.exit_code == 2


def test_fit_cli_prints_the_compiler_table(fixtures):
    pn = need(fixtures / "lava-dl/pilotnet_sdnn/network.net")
    r = CliRunner().invoke(main, ["fit", str(pn), "--skip-input"])
    assert r.exit_code == 0, r.output
    assert "fits on 61 cores of 1 chip(s)" in r.output
    for text in ("AxonIn", "SynMem", "Conv(4, 32, 24)", "Conv(16, 2, 64)", "66560", "-> 12 cores"):
        assert text in r.output
    d = json.loads(CliRunner().invoke(main, ["fit", str(pn), "--skip-input", "--json"]).stdout)
    assert [l["cores"] for l in d["layers"]] == [25, 13, 3, 3, 2, 12, 1, 1, 1]
    assert d["layers"][0]["tile"] == [4, 32, 24] and d["layers"][0]["per_core"]["neurons"] == 3072


def test_export_with_profile_includes_fit(tmp_path, tiny_dense):
    from neuro_deploy.api import export as export_model

    rep = export_model(tiny_dense["ckpt"], tmp_path / "m.net", profile=load_profile("loihi2"))
    assert rep.fit["fits"] and rep.fit["cores"] >= 2
