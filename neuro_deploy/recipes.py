"""Training recipes the ``train`` command offers besides plain SLAYER training: hybrid
step-wise distillation (HSD), ANN pretraining and norse -> NIR. Each records the data split
it trained on (:class:`~neuro_deploy.data.splits.Split`) with its output, and returns the
summary the command prints (its keys are the command's ``--json`` contract).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from neuro_deploy.errors import BadInputError


def train_hsd(
    cfg: Any,
    ds: Any,
    tr: Any,
    va: Any,
    epochs: int,
    frames: int,
    steps: int,
    seed: int,
    out: str,
    lr: float | None,
    split: Any = None,
    student_neuron: str = "if",
) -> dict[str, Any]:
    """HSD teacher/student training (:mod:`neuro_deploy.models.hsd`) of the network ``cfg``
    (any :mod:`~neuro_deploy.models.arch` architecture); the student checkpoint runs
    ``steps`` steps. Its deployed accuracy and accuracy after k steps come from
    :func:`neuro_deploy.api.deploy` on the validation recordings."""
    from neuro_deploy.api import deploy
    from neuro_deploy.models import save_checkpoint
    from neuro_deploy.models.arch import arch_of
    from neuro_deploy.models.hsd import HSDConfig
    from neuro_deploy.models.hsd import train_hsd as run_hsd
    from neuro_deploy.models.slayer_model import evaluate
    from neuro_deploy.sim.replay import running_decisions

    h = HSDConfig(
        teacher_frames=frames,
        student_steps=steps,
        student_epochs=epochs,
        seed=seed,
        student_neuron=student_neuron,
        **({"lr": lr} if lr is not None else {}),
    )
    res = run_hsd(cfg, h, tr)
    scfg = res.config
    dt = scfg.dt_us
    x_va = va.to_tensors(dt, steps)
    acc, _ = evaluate(res.model, x_va, va.labels)
    save_checkpoint(
        res.model,
        scfg,
        out,
        meta={
            "method": "hsd",
            "arch": arch_of(cfg),
            "teacher_frames": frames,
            "student_steps": steps,
            "student_neuron": student_neuron,
            "history": res.history,
            **({"split": split.to_meta()} if split is not None else {}),
        },
    )
    with tempfile.TemporaryDirectory() as d:
        dep = deploy(out, (x_va, va.labels), out=Path(d) / "s.net", verify_samples=4)
    curve = []
    ev = dep.evaluation
    if ev is not None and ev.trains_last is not None:  # deployed decision read after k simulated steps
        curve = (running_decisions(ev.trains_last) == va.labels[None, :]).mean(1).round(4).tolist()
    return {
        "checkpoint": out,
        "arch": arch_of(cfg),
        "teacher_accuracy": res.teacher_accuracy,
        "converted_accuracy": res.converted_accuracy,
        "qcfs_clips": res.clips,
        "val_accuracy": acc,
        "deployed_accuracy": dep.deployed_accuracy,
        "accuracy_vs_step": curve,
        "student_steps": steps,
        "student_neuron": student_neuron,
        "teacher_frames": frames,
        "dt_us": dt,
        "teacher_seconds": res.teacher_seconds,
        "student_seconds": res.student_seconds,
        "history": res.history,
    }


def ann_pretraining(
    cfg: Any,
    tr: Any,
    x_tr: np.ndarray,
    dataset: str,
    source: str,
    images_path: str | None,
    epochs: int,
    seed: int,
    warmup_epochs: int = 0,
    transfer_optimizer: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """ANN pretraining (:mod:`neuro_deploy.models.pretrain`) on the training split's event
    rates (``source="events"``) or on still images (``"images"``: scikit-learn digits for the
    ``digits`` data set, or an ``.npz`` with ``train_images``/``train_labels``). Returns pipeD's
    fine-tuning hooks (:class:`~neuro_deploy.models.pretrain.FinetuneHooks`: ``init``,
    ``init_optimizer`` carrying the ANN's Adam state over unless ``transfer_optimizer`` is
    False, ``on_epoch`` ending a ``warmup_epochs`` frozen-classifier warm-up) and a summary."""
    from neuro_deploy.models.pretrain import (
        FinetuneHooks,
        calibrate_transfer,
        images_to_ann_inputs,
        pretrain_ann,
        rate_inputs,
    )

    if source == "events":
        xa, ya = rate_inputs(x_tr), tr.labels
    else:
        if images_path:
            from neuro_deploy._io import load_numpy

            z = load_numpy(images_path, "--pretrain-images")
            if not hasattr(z, "files") or not {"train_images", "train_labels"} <= set(z.files):
                raise BadInputError(
                    f"{images_path}: --pretrain-images needs an .npz with train_images and train_labels"
                )
            with z:
                imgs, ya = z["train_images"][:20000] / 255.0, z["train_labels"][:20000]
        elif dataset == "digits":
            from sklearn.datasets import load_digits

            d = load_digits()
            idx = np.array([int(n) for n in tr.names])
            imgs, ya = d.images[idx] / 16.0, tr.labels
        else:
            raise BadInputError("--pretrain-source images needs --pretrain-images NPZ for this data set")
        xa = images_to_ann_inputs(imgs, (cfg.input_shape[2], cfg.input_shape[1]))
    pre = pretrain_ann(cfg, xa, np.asarray(ya), epochs=epochs, seed=seed)
    k = min(200, len(x_tr))
    scale, scores = calibrate_transfer(pre.ann, cfg, x_tr[:k], tr.labels[:k])
    info = {
        "pretrain": {
            "source": source,
            "ann_seconds": pre.seconds,
            "ann_history": pre.history,
            "transfer_scale": scale,
            "snn_accuracy_before_finetune": scores[scale],
        }
    }
    return FinetuneHooks(pre, scale, warmup_epochs, transfer_optimizer), info


def train_norse(
    tr: Any,
    va: Any,
    widths: tuple[int, ...],
    epochs: int,
    dt_us: int,
    num_steps: int,
    seed: int,
    out: str,
    split: Any = None,
) -> dict[str, Any]:
    """norse training, NIR export (norse's exporter), and a check of the NIR semantics
    against the norse model itself (both float). The NIR graph's metadata carries the
    binning and the split into every netx built from it."""
    from neuro_deploy.models.norse_model import NorseConfig, evaluate_norse, norse_to_nir
    from neuro_deploy.models.norse_model import train_norse as run_norse
    from neuro_deploy.netx.meta import binning_meta
    from neuro_deploy.nir.fidelity import simulate_nir
    from neuro_deploy.nir.io import write_nir

    if not out.endswith(".nir"):
        raise BadInputError("--framework norse writes a NIR graph: give -o FILE.nir")
    x_tr, x_va = tr.to_tensors(dt_us, num_steps), va.to_tensors(dt_us, num_steps)
    cfg = NorseConfig(input_size=int(np.prod(x_tr.shape[1:-1])), hidden=widths, epochs=epochs, seed=seed)
    res = run_norse(cfg, x_tr, tr.labels)
    acc, out_float = evaluate_norse(res.model, x_va, va.labels)
    graph = norse_to_nir(res.model, cfg)
    graph.metadata = {
        **(getattr(graph, "metadata", None) or {}),
        "dt": cfg.dt,  # NIR step; data binning:
        **binning_meta(dt_us, num_steps, tr.time_origin),
        **(split.to_meta() if split is not None else {}),
    }
    write_nir(graph, out)
    k = min(64, len(x_va))
    ref = simulate_nir(graph, x_va[:k].reshape(k, -1, x_va.shape[-1]), cfg.dt)[-1]
    agree = float(np.mean(ref.sum(0).argmax(-1) == out_float[:, :k].sum(0).argmax(-1)))
    warns = (
        []
        if agree >= 0.95
        else [
            f"the exported NIR graph (simulated in float) agrees with the norse "
            f"model on only {agree:.2f} of samples: a semantic mismatch"
        ]
    )
    return {
        "nir": out,
        "val_accuracy": acc,
        "train_seconds": res.train_seconds,
        "history": res.history,
        "dt": cfg.dt,
        "nir_vs_norse": {"class_agreement": agree, "samples": k, "warnings": warns},
    }
