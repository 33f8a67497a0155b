"""Bring your own model as NIR: a norse network (or any NIR file) onto Loihi 2, with the fidelity check.

    python examples/bring_your_own_nir.py [MODEL.nir] [--fast] [--out out/examples/nir]

Without MODEL.nir a norse LIF network is trained on the embedded digits and exported with
norse's own NIR exporter (what ``neuro-deploy train --framework norse`` does). The NIR graph
is converted to netx for Loihi 2 (``neuro_deploy.export``), which runs the fidelity check:
NIR's equations in float vs the netx network in Loihi's fixed point, layer by layer. A
network with the digits' input (2x34x34) is then deployed on them: accuracy, energy, latency.
``--fast`` (or NEURO_DEPLOY_EXAMPLES_FAST=1): one short epoch - what the test suite runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

import neuro_deploy as nd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", help="a NIR graph (.nir); default: train a norse model on digits")
    ap.add_argument("--fast", action="store_true", default=os.environ.get("NEURO_DEPLOY_EXAMPLES_FAST") == "1")
    ap.add_argument("--out", default="out/examples/nir")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = nd.load_dataset("digits")
    if a.model:
        nir_path = Path(a.model)
        if not nir_path.is_file():
            print(f"error: {nir_path}: no such NIR file")
            return 2
    else:
        from neuro_deploy.data.splits import Split
        from neuro_deploy.recipes import train_norse

        split = Split.of(data)
        train, val = split.apply(data)
        if a.fast:
            train = train.subset(range(400))
        nir_path = out / "norse.nir"
        s = train_norse(
            train, val, (64,) if a.fast else (128,), 1 if a.fast else 5, 10_000, 30, 0, str(nir_path), split
        )
        print(
            f"norse LIF 2312 -> {64 if a.fast else 128} -> 10 trained in {s['train_seconds']:.1f} s: float "
            f"accuracy {s['val_accuracy']:.3f} on {len(val)} held-out digits; NIR graph -> {nir_path} "
            f"(dt {s['dt'] * 1e3:g} ms; NIR simulated in float vs norse: same class on "
            f"{s['nir_vs_norse']['class_agreement']:.3f})"
        )

    rep = nd.export(nir_path, out / "model.net", profile="loihi2")  # convert + fidelity + fit
    conv, fid = rep.nir["conversion"], rep.nir["fidelity"]
    print(f"NIR -> netx: {len(conv['layers'])} layers at dt {conv['dt'] * 1e3:g} ms -> {rep.path}")
    for m in conv["layers"]:
        print(
            f"  {m['name']}: {'+'.join(m['nodes'])} -> {m['kind']} {m['neuron']}, scale {m['scale']:.3g}, "
            f"weights {m['weight_int_range'][0]}..{m['weight_int_range'][1]} (rel. error "
            f"{m['weight_rel_error']:.3f}), iDecay {m['i_decay']} vDecay {m['v_decay']} vThMant {m['vth_mant']}"
        )
    print(
        f"fidelity on {fid['samples']} random inputs x {fid['steps']} steps: same class "
        f"{fid['class_agreement']:.3f}, spike-count agreement per layer "
        f"{[round(x, 3) for x in fid['layer_count_agreement']]}"
    )
    for w in conv["warnings"] + fid["warnings"]:
        print(f"  warning: {w}")
    print(f"fit on loihi2: {rep.fit['cores']} cores, {rep.fit['chips']} chip(s), fits: {rep.fit['fits']}")

    from neuro_deploy.netx import load_netx

    if int(np.prod(load_netx(rep.path).input_shape_chw)) != 2 * 34 * 34:  # flat 2312 takes them too
        print("the network does not take the digits' 2x34x34 input: not deployed on them")
        return 0
    result = nd.deploy(rep.path, data)
    print("\n" + str(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
