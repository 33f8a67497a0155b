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
    assert any("e_synop_pj" in a for a in l2.assumptions())   # a Loihi 1 reference, said so


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["limits"].pop("neurons_per_core"), "limits.neurons_per_core"),
    (lambda d: d["limits"]["neurons_per_core"].update(value="many"), "limits.neurons_per_core"),
    (lambda d: d["costs"]["e_synop_pj"].update(value=-1), "costs.e_synop_pj"),
    (lambda d: d["costs"]["e_hop_pj"].pop("source"), "costs.e_hop_pj"),
    (lambda d: d["costs"]["e_hop_pj"].update(kind="guess"), "costs.e_hop_pj"),
    (lambda d: d["limits"].update(bogus={"value": 1, "kind": "assumption", "source": "x"}), "limits.bogus"),
    (lambda d: d.update(schema="v0"), "schema"),
])
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
    ox = fit_network(load_netx(need(fixtures / "lava-dl/oxford/network.net")), prof)
    assert ox.fits and ox.cores == 2 and ox.chips == 1
    assert [l.neurons for l in ox.layers] == [256, 200]
    assert [l.synapses for l in ox.layers] == [int(np.count_nonzero(l.weight)) for l in
                                                load_netx(fixtures / "lava-dl/oxford/network.net").layers]
    tiny = fit_network(load_netx(need(fixtures / "lava-dl/tinynet/tiny.net")), prof)
    assert tiny.fits and [l.kind for l in tiny.layers] == ["input", "conv", "conv"]
    assert [l.neurons for l in tiny.layers] == [768, 864, 36]
    assert tiny.layers[1].fanin_axons == 15 * 16 * 3          # rows of the receptive field
    assert fit_network(load_netx(fixtures / "lava-dl/tinynet/tiny.net"), prof).to_dict() == tiny.to_dict()


def test_conv_synapse_count_is_exact(tmp_path):
    """3x3 stride 1 no padding on 5x5: every output has 9 inputs -> 9 * 9 synapses per channel pair."""
    write_netx(tmp_path / "c.net", [
        {"type": "input", "shape": (1, 5, 5), "neuron": cuba_neuron(4096, 0, 10)},
        {"type": "conv", "weight": np.full((2, 1, 3, 3), 2), "neuron": cuba_neuron(4096, 0, 10)}])
    r = fit_network(load_netx(tmp_path / "c.net"), load_profile("loihi2"))
    assert r.layers[1].synapses == 2 * 9 * 9


def test_memory_limited_layer_splits(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.integers(1, 100, (1000, 2000)) * 2          # 2M synapses > 128 KB/core
    write_netx(tmp_path / "big.net", [{"type": "dense", "weight": w, "neuron": cuba_neuron(1024, 128, 80)}])
    r = fit_network(load_netx(tmp_path / "big.net"), load_profile("loihi2"))
    l = r.layers[0]
    assert l.limited_by == "synaptic memory" and l.cores > 1
    per_core = 2000 * l.neurons_per_core * 8 / 8 + 2000 * 4
    assert per_core <= 131072
    fewer = -(-1000 // (l.cores - 1))                    # neurons per core with one core less
    assert 2000 * fewer + 2000 * 4 > 131072              # ... would not fit: k is minimal


def test_hard_limits(tmp_path):
    prof = load_profile("loihi2")
    w = np.full((4, 5000), 2)
    write_netx(tmp_path / "fanin.net", [{"type": "dense", "weight": w, "neuron": cuba_neuron(0, 0, 10)}])
    r = fit_network(load_netx(tmp_path / "fanin.net"), prof)
    assert not r.fits and r.violations[0].resource.startswith("fan-in")
    with pytest.raises(ResourceLimitError) as exc:
        fit_network(load_netx(tmp_path / "fanin.net"), prof, strict=True)
    assert exc.value.layer == "layer0" and exc.value.used == 5000 and exc.value.limit == 4096
    d = np.full((4, 6), 70)
    write_netx(tmp_path / "delay.net", [{"type": "dense", "weight": np.full((4, 6), 2), "delay": d,
                                        "neuron": cuba_neuron(0, 0, 10)}])
    r = fit_network(load_netx(tmp_path / "delay.net"), prof)
    assert any(v.resource.startswith("synaptic delay") and v.used == 70 and v.limit == 62
               for v in r.violations)
    write_netx(tmp_path / "w.net", [{"type": "dense", "weight": np.array([[300, -2]]),
                                    "neuron": cuba_neuron(0, 0, 10)}])
    assert any(v.resource.startswith("weight") for v in fit_network(load_netx(tmp_path / "w.net"), prof).violations)


def test_chips_available_is_enforced(tmp_path):
    data = yaml.safe_load(open(load_profile("loihi2").path))
    data["limits"]["chips_available"]["value"] = 1
    data["limits"]["cores_per_chip"]["value"] = 2
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(data))
    write_netx(tmp_path / "n.net", [
        {"type": "dense", "weight": np.full((10, 10), 2), "neuron": cuba_neuron(0, 0, 10)},
        {"type": "dense", "weight": np.full((10, 10), 2), "neuron": cuba_neuron(0, 0, 10)},
        {"type": "dense", "weight": np.full((10, 10), 2), "neuron": cuba_neuron(0, 0, 10)}])
    r = fit_network(load_netx(tmp_path / "n.net"), load_profile(p))
    assert r.chips == 2 and not r.fits and r.violations[-1].resource == "chips"


def test_fit_cli_json_and_exit_codes(tmp_path, fixtures):
    ox = need(fixtures / "lava-dl/oxford/network.net")
    r = CliRunner().invoke(main, ["fit", str(ox), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["fits"] is True and d["cores"] == 2 and d["chips"] == 1
    assert all({"name", "neurons", "synapses", "cores"} <= set(l) for l in d["layers"])
    write_netx(tmp_path / "fanin.net", [{"type": "dense", "weight": np.full((4, 5000), 2),
                                        "neuron": cuba_neuron(0, 0, 10)}])
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "fanin.net")])
    assert r.exit_code == 3 and "layer0" in r.output and "5000" in r.output
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "missing.net")])
    assert r.exit_code == 2


def test_export_with_profile_includes_fit(tmp_path, tiny_dense):
    from neuro_deploy.netx.export import export_model

    rep = export_model(tiny_dense["ckpt"], tmp_path / "m.net", profile=load_profile("loihi2"))
    assert rep.fit["fits"] and rep.fit["cores"] >= 2
