"""The ``neuro-deploy`` command line: a thin front end over the package's functions.

Exit codes: 0 ok; 1 internal error; 2 bad input or usage; 3 the model does not fit
the hardware profile; 4 a required dependency is broken (see :mod:`neuro_deploy.errors`);
130 interrupted (Ctrl-C); 143 terminated (SIGTERM). Option types, the output policy and
what every command runs inside are in :mod:`neuro_deploy.cli_options`.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from neuro_deploy.cli_options import (
    ARCH,
    BACKEND,
    CROP,
    DATASET,
    DISTILL_BUDGET,
    DOWNSAMPLE,
    EVENT_FORMAT,
    FRACTION,
    NON_NEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    SENSOR_SIZE,
    TARGET,
    WIDTHS,
    add_common_options,
    command_runtime,
    writes_output,
)
from neuro_deploy.errors import BadInputError, NeuroDeployError
from neuro_deploy.events.tensor import TIME_ORIGINS
from neuro_deploy.models.hsd import STUDENT_NEURONS

TIME_ORIGIN_HELP = (
    "Where step 0 of a recording starts: 'zero' = t = 0 of its own clock, 'first-event' = "
    "its first event (one binning for training, evaluate, replay and report)"
)


def _jsonable(obj: Any) -> Any:
    from neuro_deploy._io import jsonable

    return jsonable(obj)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(_jsonable(obj), indent=2))


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


def event_format_option(*names: str) -> Callable:
    """``--format NAME``: force an event reader (default: identified by the file's content)."""

    def deco(f: Callable) -> Callable:
        return click.option(
            *names,
            "event_fmt",
            default=None,
            help="Force an event reader by name (see `events formats`); default: "
            "identified by the file's header or signature.",
        )(f)

    return deco


def on_error_option(f: Callable) -> Callable:
    return click.option(
        "--on-error",
        "on_error",
        default="fail",
        show_default=True,
        type=click.Choice(["fail", "skip", "keep-partial"]),
        help="A bad recording: stop (fail), leave it out and list it under "
        "'skipped' (skip), or keep the complete events of a truncated one "
        "(keep-partial; undecodable ones are skipped).",
    )(f)


def execution_options(f: Callable) -> Callable:
    """``--workers N``, ``--ray``, ``--ray-address HOST:PORT|auto`` -> one ``execution``
    argument (:class:`neuro_deploy.cluster.Execution`); a Ray the command starts or joins
    lives for the whole command (every model of a ``report``) and is shut down after it."""

    @functools.wraps(f)
    def wrapper(*args: Any, workers: int, ray: bool, ray_address: str | None, **kwargs: Any) -> Any:
        from neuro_deploy.cluster import Execution, open_session

        execution = Execution.from_options(workers, ray, ray_address)
        with open_session(execution):
            return f(*args, execution=execution, **kwargs)

    for opt in reversed(
        [
            click.option(
                "--workers",
                default=1,
                show_default=True,
                help="Parallel local processes; with --ray, tasks in flight (default: every CPU of the cluster).",
            ),
            click.option(
                "--ray",
                "ray",
                is_flag=True,
                help="Run the tasks on Ray: join the Ray running on this machine, or start one "
                "for this command (pip install -e '.[cluster]').",
            ),
            click.option(
                "--ray-address",
                default=None,
                metavar="HOST:PORT|auto",
                help="Run the tasks on the running Ray cluster at this address (implies --ray).",
            ),
        ]
    ):
        wrapper = opt(wrapper)
    return wrapper


def echo_warnings(warnings: list[str], prefix: str = "") -> None:
    for w in warnings:
        click.echo(f"warning: {prefix}{w}", err=True)


def handle_errors(f: Callable) -> Callable:
    """Typed errors -> one line on stderr and their exit code; no traceback."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except NeuroDeployError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
            from neuro_deploy._process import Terminated, stop_children

            stop_children()
            term = isinstance(exc, Terminated)
            click.echo("terminated" if term else "interrupted", err=True)
            sys.exit(143 if term else 130)

    return wrapper


def _load_array(path: str | None, what: str) -> np.ndarray | None:
    if path is None:
        return None
    from neuro_deploy._io import load_numpy

    arr = load_numpy(path, what)
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise BadInputError(f"{path}: {what} must be one .npy array, not an .npz archive")
    return arr


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="neuro-deploy")
@click.pass_context
def main(ctx: click.Context) -> None:
    """neuro-deploy: spiking networks from event data to a simulated Intel Loihi 2."""
    ctx.with_resource(command_runtime())


# ---------------------------------------------------------------------------- doctor
@main.command()
@json_option
@click.option("--no-lava-run", is_flag=True, help="Skip the one-step Loihi2SimCfg run.")
@handle_errors
def doctor(as_json: bool, no_lava_run: bool) -> None:
    """Versions of the stack and whether a Lava fixed_pt run works here."""
    from neuro_deploy.doctor import run_doctor

    rep = run_doctor(run_lava=not no_lava_run)
    if as_json:
        emit_json(rep.to_dict())
    else:
        click.echo(f"python {rep.python} on {rep.platform}")
        for c in rep.checks + ([rep.lava_run] if rep.lava_run else []):
            mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
            click.echo(f"  {mark} {c.name:12s} {c.version or '':10s} {c.detail}")
            if c.fix:
                click.echo(f"       fix: {c.fix}")
    if not rep.ok:
        sys.exit(4)


# ---------------------------------------------------------------------------- demo
@main.command()
@click.option(
    "--out",
    "out_dir",
    default="out/demo",
    show_default=True,
    type=click.Path(),
    help="Output folder (its parent must exist unless this is the default).",
)
@click.option(
    "--dataset",
    default="digits",
    show_default=True,
    type=DATASET,
    help="digits (embedded), nmnist (needs --root) or mnist-dvs (needs --root).",
)
@click.option("--root", default=None, type=click.Path(), help="Data set folder or file.")
@click.option("--epochs", default=10, show_default=True, type=POSITIVE_INT, help="Training epochs.")
@click.option(
    "--lava-samples",
    default=120,
    show_default=True,
    type=NON_NEGATIVE_INT,
    help="Held-out samples to run in Lava (all run on the fast backend).",
)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Random seed.")
@json_option
@handle_errors
@writes_output("out_dir", folder=True, parents_if_default=True)
def demo(
    out_dir: str, dataset: str, root: str | None, epochs: int, lava_samples: int, seed: int, as_json: bool
) -> None:
    """The main job: data -> SLAYER training -> netx export -> Lava run -> accuracy & counts."""
    from neuro_deploy.pipeline import DemoConfig, run_demo

    log = (lambda s: click.echo(s, err=True)) if as_json else click.echo
    r = run_demo(
        DemoConfig(out_dir=out_dir, dataset=dataset, root=root, epochs=epochs, lava_samples=lava_samples, seed=seed),
        log=log,
    )
    if as_json:
        emit_json(r)
        return
    click.echo("")
    click.echo(f"{'layer':8s} {'kind':6s} {'neurons':>8s} {'spikes/sample':>14s} {'synops/sample':>14s}")
    for l in r.layers:
        click.echo(
            f"{l['name']:8s} {l['kind']:6s} {l['neurons']:8d} {l['spikes_per_sample']:14.1f} "
            f"{l['synops_per_sample']:14.1f}"
        )
    click.echo("")
    for k, v in r.files.items():
        click.echo(f"{k:10s} {v}")
    # the mission's ending: float vs deployed accuracy, then fit, energy and latency on Loihi 2
    click.echo("")
    label = f"float accuracy (SLAYER, {r.quantization})"
    click.echo(f"{label:32s} {r.float_accuracy:.4f}  ({r.val_samples} held-out, same inputs and steps as deployed)")
    click.echo(
        f"{'deployed accuracy (fast, fixed)':32s} {r.fast_accuracy:.4f}  ({r.val_samples} held-out; same "
        f"prediction as float {r.float_fast_prediction_agreement:.3f})"
    )
    if r.lava_accuracy is not None:
        click.echo(
            f"{'deployed accuracy (Lava)':32s} {r.lava_accuracy:.4f}  ({r.lava_samples} held-out; "
            f"fast on the same: {r.fast_accuracy_on_lava_subset:.4f}, predictions agree "
            f"{r.lava_fast_prediction_agreement:.3f})"
        )
    h = r.loihi2
    if h:
        e_lo, e_hi = h["energy_per_inference_uj_band"]
        t_lo, t_hi = h["time_per_step_us_band"]
        click.echo(
            f"{'fit on ' + h['profile']:32s} {h['fit_summary']} "
            f"({', '.join(f'{k} {v}' for k, v in h['cores_per_layer'].items())})"
        )
        click.echo(
            f"{'energy per inference':32s} {h['energy_per_inference_uj']:.4g} uJ "
            f"(band {e_lo:.3g} - {e_hi:.3g}; dynamic {h['dynamic_energy_uj']:.3g}, static "
            f"{h['static_energy_uj']:.3g})"
        )
        click.echo(
            f"{'time per step':32s} {h['time_per_step_us']:.4g} us "
            f"(band {t_lo:.3g} - {t_hi:.3g}); latency {h['latency_us']:.4g} us over "
            f"{h['steps_per_inference']} steps"
        )


# ---------------------------------------------------------------------------- train
@main.command()
@click.option("--dataset", default="digits", show_default=True, type=DATASET, help="Labelled data set.")
@click.option("--root", default=None, type=click.Path(), help="Data set folder or file (nmnist, mnist-dvs).")
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="Checkpoint (.pt).")
@click.option("--epochs", default=10, show_default=True, type=POSITIVE_INT, help="Training epochs.")
@click.option(
    "--arch",
    default="dense",
    show_default=True,
    type=ARCH,
    help="dense: flatten -> hidden -> classes; conv: conv 8c5s2 -> conv 16c3s2 -> hidden -> classes "
    "(strided convs, exportable to netx).",
)
@click.option(
    "--hidden",
    default=None,
    type=WIDTHS,
    help="Comma-separated dense hidden widths [default: the arch's, 128 for dense, 64 for conv].",
)
@click.option("--dt-us", default=5000, show_default=True, type=POSITIVE_INT, help="Time bin per step (us).")
@click.option("--steps", "num_steps", default=60, show_default=True, type=POSITIVE_INT, help="Time steps per sample.")
@click.option(
    "--time-origin",
    default="zero",
    show_default=True,
    type=click.Choice(list(TIME_ORIGINS)),
    help=TIME_ORIGIN_HELP + "; stored in the checkpoint and its exports.",
)
@click.option(
    "--val-fraction", default=0.2, show_default=True, type=OPEN_FRACTION, help="Held-out fraction, in (0, 1)."
)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Random seed.")
@click.option(
    "--framework",
    default="slayer",
    show_default=True,
    type=click.Choice(["slayer", "norse"]),
    help="slayer: checkpoint (.pt); norse: trained norse model exported to NIR (-o model.nir).",
)
@click.option(
    "--prune",
    default=None,
    type=click.Choice(["sadp", "sadp-plain", "random", "el2n", "infobatch", "full"]),
    help="Per-epoch data selection (SLAYER): spike-aware pruning, its ablation without the spike "
    "factor (sadp-plain), or a baseline.",
)
@click.option("--keep", default=0.5, show_default=True, type=FRACTION, help="Fraction kept per epoch with --prune.")
@click.option(
    "--pretrain",
    default=None,
    type=click.Choice(["ann"]),
    help="ANN pretraining (sharpened ReLU), then SNN fine-tuning (pipeS/pipeD): the ANN's optimizer "
    "state, a frozen-classifier warm-up, cross-entropy on output rates, lr 1e-4.",
)
@click.option(
    "--pretrain-source",
    default="events",
    show_default=True,
    type=click.Choice(["events", "images"]),
    help="events: time-averaged event rates of the training set; images: static images "
    "(scikit-learn digits for --dataset digits, or --pretrain-images NPZ).",
)
@click.option("--pretrain-images", default=None, type=click.Path(), help=".npz with train_images/train_labels.")
@click.option("--pretrain-epochs", default=15, show_default=True, type=POSITIVE_INT, help="ANN pretraining epochs.")
@click.option(
    "--warmup-epochs",
    default=1,
    show_default=True,
    type=NON_NEGATIVE_INT,
    help="pipeD: first fine-tuning epochs train only the classifier (the rest frozen).",
)
@click.option(
    "--fresh-optimizer",
    is_flag=True,
    help="pipeD ablation: start fine-tuning with a fresh Adam instead of the ANN's optimizer state.",
)
@click.option(
    "--lr", default=None, type=POSITIVE_FLOAT, help="SNN learning rate (default 1e-3; 1e-4 after pretraining)."
)
@click.option(
    "--augment",
    default="none",
    show_default=True,
    type=click.Choice(["none", "dsa"]),
    help="Batch augmentation (shift, time shift, cutout); with --data: the distilled file's.",
)
@click.option(
    "--data",
    "data_path",
    default=None,
    type=click.Path(),
    help="Train on a distilled data set (.npz from `distill`) instead of --dataset's train split.",
)
@click.option(
    "--hsd", is_flag=True, help="Hybrid step-wise distillation: ANN teacher on many frames, SNN student on few steps."
)
@click.option(
    "--teacher-frames", default=10, show_default=True, type=POSITIVE_INT, help="HSD: frames the ANN teacher sees."
)
@click.option(
    "--student-steps", default=15, show_default=True, type=POSITIVE_INT, help="HSD: time steps of the SNN student."
)
@click.option(
    "--student-neuron",
    default="if",
    show_default=True,
    type=click.Choice(list(STUDENT_NEURONS)),
    help="HSD: the student's neuron (if: integrate-and-fire as HSD converts to; cuba: the net's own decays).",
)
@click.option(
    "--qat",
    is_flag=True,
    help="Quantization-aware training in every epoch (the export's "
    "per-layer quantizer in the forward pass; float and deployed agree by construction).",
)
@click.option(
    "--qat-epochs",
    default=None,
    type=click.IntRange(min=0),
    help="QAT in the last N epochs [default: ceil(epochs/5); 0: float training only].",
)
@json_option
@handle_errors
@writes_output("out")
def train(
    dataset: str,
    root: str | None,
    out: str,
    epochs: int,
    arch: str,
    hidden: str | None,
    dt_us: int,
    num_steps: int,
    time_origin: str,
    val_fraction: float,
    seed: int,
    framework: str,
    prune: str | None,
    keep: float,
    pretrain: str | None,
    pretrain_source: str,
    pretrain_images: str | None,
    pretrain_epochs: int,
    warmup_epochs: int,
    fresh_optimizer: bool,
    lr: float | None,
    augment: str,
    data_path: str | None,
    hsd: bool,
    teacher_frames: int,
    student_steps: int,
    student_neuron: str,
    qat: bool,
    qat_epochs: int | None,
    as_json: bool,
) -> None:
    """Train a spiking model on an event data set (SLAYER checkpoint, or norse -> NIR).

    With ``--data FILE`` (from ``distill``) the model trains on the distilled frames and takes
    from the file whatever was not given: the source data set and root, its recorded split
    (validation on the part the distillation never saw), dt, steps, time origin,
    architecture, augmentation, and an epoch count for a tiny set
    (``models.recipes.distilled_epochs``); it says what it took."""
    import dataclasses

    from neuro_deploy import recipes
    from neuro_deploy.data import load_dataset
    from neuro_deploy.data.splits import Split, recorded_split
    from neuro_deploy.models import TrainConfig, save_checkpoint, train_model
    from neuro_deploy.models.arch import dataset_config
    from neuro_deploy.models.slayer_model import evaluate

    if qat and qat_epochs is not None and qat_epochs != epochs:
        raise BadInputError(f"--qat means QAT in all {epochs} epochs; it contradicts --qat-epochs {qat_epochs}")
    distilled, notes = None, []
    if data_path is not None:
        from neuro_deploy.data.distill import load_distilled

        distilled = load_distilled(data_path)
        given = {
            "dataset": dataset,
            "root": root,
            "val_fraction": val_fraction,
            "dt_us": dt_us,
            "num_steps": num_steps,
            "time_origin": time_origin,
            "arch": arch,
            "epochs": epochs,
            "augment": augment,
        }
        for k, (v, why) in _distilled_defaults(distilled[2], len(distilled[1])).items():
            if not _given(k) and v is not None:
                given[k] = v
                notes.append(f"{k} {v} ({why})")
        dataset, root, val_fraction = given["dataset"], given["root"], given["val_fraction"]
        dt_us, num_steps, time_origin = given["dt_us"], given["num_steps"], given["time_origin"]
        arch, epochs, augment = given["arch"], given["epochs"], given["augment"]
    ds = dataclasses.replace(load_dataset(dataset, root=root), time_origin=time_origin)
    if distilled is not None:  # validate outside distillation's pool: the file's recorded split
        tr, va, split, warns = recorded_split(
            ds, distilled[2], what=data_path, val_fraction=val_fraction if _given("val_fraction") else None
        )
        notes += [f"warning: {w}" for w in warns]
    else:
        split = Split.of(ds, val_fraction, seed)  # recorded with the model
        tr, va = split.apply(ds)
    widths = None if hidden is None else tuple(int(v) for v in hidden.split(",") if v.strip())
    if framework == "norse":
        summary = recipes.train_norse(tr, va, widths or (128,), epochs, dt_us, num_steps, seed, out, split)
        emit_json(summary) if as_json else click.echo(
            f"saved {out}: norse float validation accuracy {summary['val_accuracy']:.4f}; NIR float "
            f"vs norse class agreement {summary['nir_vs_norse']['class_agreement']:.3f}"
        )
        for w in summary["nir_vs_norse"]["warnings"]:
            click.echo(f"warning: {w}", err=True)
        return
    cfg = dataset_config(arch, ds, dt_us, num_steps, widths)
    if hsd:
        summary = recipes.train_hsd(
            cfg, ds, tr, va, epochs, teacher_frames, student_steps, seed, out, lr, split, student_neuron
        )
        emit_json(summary) if as_json else click.echo(
            f"saved {out}: HSD teacher ({teacher_frames} frames) {summary['teacher_accuracy']:.4f}, student "
            f"({student_steps} steps) float {summary['val_accuracy']:.4f}, deployed "
            f"{summary['deployed_accuracy']:.4f}"
        )
        return
    if distilled is not None:
        x_tr, y_tr, dmeta = distilled
        src_dt = int(dmeta["source"].dt_us or dmeta.get("dt_us", dt_us))
        if x_tr.shape[1:] != (2, ds.sensor[1], ds.sensor[0], num_steps) or src_dt != dt_us:
            raise BadInputError(
                f"{data_path}: frames {x_tr.shape[1:]} at dt {src_dt} us do not match "
                f"--dt-us {dt_us} / --steps {num_steps} for {dataset}"
            )
    else:
        x_tr, y_tr = tr.to_tensors(dt_us, num_steps), tr.labels
    selector = None
    if prune is not None:
        from neuro_deploy.models.pruning import make_selector

        selector = make_selector(prune, len(x_tr), keep, epochs, seed)
    hooks, pre_info = None, {}
    if pretrain == "ann":
        hooks, pre_info = recipes.ann_pretraining(
            cfg,
            tr,
            x_tr,
            dataset,
            pretrain_source,
            pretrain_images,
            pretrain_epochs,
            seed,
            min(warmup_epochs, max(0, epochs - 1)),
            not fresh_optimizer,
        )
    if not as_json:
        for n in notes:
            click.echo(n if n.startswith("warning") else f"from {data_path}: {n}", err=n.startswith("warning"))
    tcfg = TrainConfig(
        epochs=epochs,
        seed=seed,
        augment=augment,
        lr=lr if lr is not None else (1e-4 if pretrain else 1e-3),
        loss="rate_ce" if pretrain else "spike_rate",
        qat_epochs=epochs if qat else qat_epochs,
    )
    res = train_model(
        cfg,
        tcfg,
        x_tr,
        y_tr,
        selector=selector,
        init=hooks.init if hooks else None,
        on_epoch=hooks.on_epoch if hooks else None,
        init_optimizer=hooks.init_optimizer if hooks else None,
    )
    if hooks is not None:
        pre_info["pretrain"].update(optimizer_state_transferred=hooks.moved, warmup_epochs=hooks.warmup_epochs)
    acc, _ = evaluate(res.model, va.to_tensors(dt_us, num_steps), va.labels)
    mode, exps = res.model.quantization
    save_checkpoint(
        res,
        cfg,
        out,
        meta={
            "dataset": dataset,
            "val_accuracy": acc,
            "arch": arch,
            "history": res.history,
            "prune": prune,
            "keep": keep,
            "val_fraction": split.val_fraction,
            "seed": split.seed,
            "split": split.to_meta(),
            "data": str(data_path) if data_path else None,
        },
    )
    summary = {
        "checkpoint": out,
        "val_accuracy": acc,
        "train_seconds": res.train_seconds,
        "arch": arch,
        "epochs": epochs,
        "augment": augment,
        "dataset": dataset,
        "train_samples": len(x_tr),
        "val_samples": len(va),
        "prune": prune,
        "keep": keep,
        "examples_seen": int(sum(h["examples"] for h in res.history)),
        "qat_epochs": tcfg.qat_epoch_count(),
        "quantization": mode,
        "weight_exponents": exps if mode == "qat" else None,
        **({"sadp_vs_plain_bound": selector.agreement} if hasattr(selector, "agreement") else {}),
        **({"data": str(data_path), "from_data": notes} if data_path else {}),
        **pre_info,
    }
    emit_json(summary) if as_json else click.echo(
        f"saved {out}: float validation accuracy {acc:.4f} ({len(va)} samples), "
        f"{res.train_seconds:.1f} s training"
        + (f"; QAT in the last {tcfg.qat_epoch_count()} epochs, weight exponents {exps}" if mode == "qat" else "")
    )


def _given(name: str) -> bool:
    """Whether the current command's option ``name`` was given (not its default)."""
    src = click.get_current_context().get_parameter_source(name)
    return src is not None and src != click.core.ParameterSource.DEFAULT


def _distilled_defaults(meta: dict, n_samples: int) -> dict[str, tuple[Any, str]]:
    """Option values a distilled file supplies (value, reason), for options not given."""
    from neuro_deploy.models.arch import ARCHS
    from neuro_deploy.models.recipes import distilled_epochs

    src = meta["source"]
    out: dict[str, tuple[Any, str]] = {}
    if str(meta.get("augment", "none")) != "none":
        out["augment"] = (str(meta["augment"]), "the augmentation the set was distilled under")
    if src.dataset:
        out["dataset"] = (src.dataset, "the distilled set's source")
        out["root"] = (src.root or None, "the source's root")
        out["val_fraction"] = (
            src.val_fraction,
            f"the source's split, seed {src.split_seed}: validation on samples the distillation never saw",
        )
        out["time_origin"] = (src.time_origin, "the source binning")
    if src.dt_us:
        out["dt_us"] = (src.dt_us, "the distilled frames' bin")
        out["num_steps"] = (src.num_steps or None, "the distilled frames' steps")
    if src.arch in ARCHS:
        out["arch"] = (src.arch, "the teacher's architecture")
    ep, why = distilled_epochs(n_samples)
    out["epochs"] = (ep, why)
    return out


# ---------------------------------------------------------------------------- distill
@main.command()
@click.option(
    "--method",
    default="pace",
    show_default=True,
    type=click.Choice(["pace", "dm", "prototype", "random"]),
    help="pace: reconstruction against the teachers; dm: distribution matching; prototype/random: baselines.",
)
@click.option("--ipc", default=10, show_default=True, type=POSITIVE_INT, help="Synthetic samples per class.")
@click.option("--dataset", default="digits", show_default=True, type=DATASET, help="Labelled data set.")
@click.option("--root", default=None, type=click.Path(), help="Data set folder or file (nmnist, mnist-dvs).")
@click.option(
    "--arch",
    default="dense",
    show_default=True,
    type=ARCH,
    help="Teacher architecture (PACE; DM's random embedding nets); stored in the file as the student's default.",
)
@click.option(
    "--budget",
    default="standard",
    show_default=True,
    type=DISTILL_BUDGET,
    help="quick: 20 iterations, 2 seeds x 1 epoch of teachers (tests); standard: 300 iterations, 2 seeds x 4 "
    "epochs; paper: 3,000 iterations, 4 seeds x 5 epochs = 20 teachers. Options below override.",
)
@click.option(
    "--teacher",
    default=None,
    type=click.Path(),
    help="Teacher checkpoint (PACE), distilled from its own recorded training split; default: train "
    "the budget's teachers on the training split (several seeds, every epoch's snapshot).",
)
@click.option("--teacher-seeds", default=None, type=POSITIVE_INT, help="Teacher training runs [budget].")
@click.option(
    "--teacher-epochs", default=None, type=POSITIVE_INT, help="Epochs (= snapshots) per teacher run [budget]."
)
@click.option("--iterations", default=None, type=NON_NEGATIVE_INT, help="Optimisation steps [budget].")
@click.option("--lr", default=0.01, show_default=True, type=POSITIVE_FLOAT, help="Step size on the synthetic latents.")
@click.option(
    "--max-count", default=1, show_default=True, type=POSITIVE_INT, help="N of PEQ-N: events per pixel per bin."
)
@click.option(
    "--augment",
    default="dsa",
    show_default=True,
    type=click.Choice(["dsa", "none"]),
    help="Siamese augmentation of real and synthetic batches (shift, time shift, cutout).",
)
@click.option("--dt-us", default=10000, show_default=True, type=POSITIVE_INT, help="Time bin per step (us).")
@click.option("--steps", "num_steps", default=30, show_default=True, type=POSITIVE_INT, help="Time steps per sample.")
@click.option(
    "--val-fraction",
    default=0.2,
    show_default=True,
    type=OPEN_FRACTION,
    help="Held-out share of the data set (never distilled; `train --data` validates on it).",
)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Split, initialisation and teacher seeds.")
@click.option(
    "--checkpoint",
    "checkpoint_path",
    default=None,
    type=click.Path(),
    help="Periodic checkpoint of the synthetic set [OUTPUT.partial.pt]; an existing one of the same "
    "run is resumed; removed when the output is written.",
)
@click.option(
    "--checkpoint-every", default=None, type=NON_NEGATIVE_INT, help="Iterations between checkpoints [budget]."
)
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="Distilled data set (.npz).")
@json_option
@handle_errors
@writes_output("out")
def distill(
    method: str,
    ipc: int,
    dataset: str,
    root: str | None,
    arch: str,
    budget: str,
    teacher: str | None,
    teacher_seeds: int | None,
    teacher_epochs: int | None,
    iterations: int | None,
    lr: float,
    max_count: int,
    augment: str,
    dt_us: int,
    num_steps: int,
    val_fraction: float,
    seed: int,
    checkpoint_path: str | None,
    checkpoint_every: int | None,
    out: str,
    as_json: bool,
) -> None:
    """Distill an event data set into IPC synthetic integer event-frame samples per class.

    The file records its source (data set, root, split, binning, architecture, budget), so
    `train --data FILE` trains and validates like the source. Distillation cost (teacher
    training + optimisation) is reported separately from any later training."""
    from dataclasses import asdict

    from neuro_deploy.data import load_dataset
    from neuro_deploy.data.distill import DistillConfig, DistilledSource, get_budget, save_distilled
    from neuro_deploy.data.distill import distill as run_distill
    from neuro_deploy.data.splits import Split, recorded_split
    from neuro_deploy.models import load_checkpoint
    from neuro_deploy.models.arch import arch_of, dataset_config
    from neuro_deploy.models.recipes import train_teachers

    b = get_budget(budget)
    iterations = b.iterations if iterations is None else iterations
    teacher_seeds = b.teacher_seeds if teacher_seeds is None else teacher_seeds
    teacher_epochs = b.teacher_epochs if teacher_epochs is None else teacher_epochs
    checkpoint_every = b.checkpoint_every if checkpoint_every is None else checkpoint_every
    if checkpoint_path is None:
        checkpoint_path = str(out) + ".partial.pt"
    dcfg = DistillConfig(
        ipc=ipc,
        iterations=iterations,
        lr=lr,
        max_count=max_count,
        seed=seed,
        frequencies=b.frequencies,
        real_batch=b.real_batch,
        augment=augment,
        budget=budget,
        checkpoint=checkpoint_path if method in ("pace", "dm") else None,
        checkpoint_every=checkpoint_every,
        progress=not as_json,
    )
    ds = load_dataset(dataset, root=root)
    teacher_loaded = load_checkpoint(teacher) if method == "pace" and teacher else None
    if teacher_loaded is not None:  # distil from the teacher's own training part, never its held-out one
        tr, _, split, notes = recorded_split(
            ds,
            teacher_loaded[2],
            what=teacher,
            val_fraction=val_fraction if _given("val_fraction") else None,
            seed=seed if _given("seed") else None,
        )
        echo_warnings(notes)
    else:
        split = Split.of(ds, val_fraction, seed)
        tr, _ = split.apply(ds)
    x_tr = tr.to_tensors(dt_us, num_steps)
    cfg = dataset_config(arch, ds, dt_us, num_steps)
    teachers: list = []
    teacher_s = 0.0
    if method == "pace":
        if teacher_loaded is not None:
            model, cfg, _ = teacher_loaded
            teachers = [model]
        else:
            teachers, teacher_s = train_teachers(
                cfg, x_tr, tr.labels, [seed + k for k in range(teacher_seeds)], teacher_epochs, progress=not as_json
            )
        want = (2, ds.sensor[1], ds.sensor[0])
        if tuple(cfg.input_shape) != want or cfg.num_steps != num_steps:
            raise BadInputError(
                f"{teacher}: teacher input {tuple(cfg.input_shape)} x {cfg.num_steps} steps does not "
                f"match {dataset} frames {want} x {num_steps} steps"
            )
    d = run_distill(method, x_tr, tr.labels, dcfg, teacher=teachers, model_cfg=cfg)
    source = DistilledSource(
        dataset=dataset,
        root=str(Path(root).resolve()) if root else "",
        val_fraction=split.val_fraction,
        split_seed=split.seed,
        dt_us=dt_us,
        num_steps=num_steps,
        time_origin=ds.time_origin,
        arch=arch_of(cfg),
        budget=budget,
        teacher_seconds=teacher_s,
        teachers=len(teachers),
    )
    save_distilled(
        d, out, source, {"iterations": iterations, "augment": augment, "max_count": max_count, **split.to_meta()}
    )
    Path(checkpoint_path).unlink(missing_ok=True)
    summary = {
        "output": out,
        "method": method,
        "ipc": ipc,
        "samples": int(len(d.labels)),
        "bytes": Path(out).stat().st_size,
        "seconds": d.seconds,
        "teacher_seconds": teacher_s,
        "distill_seconds": d.seconds + teacher_s,
        "teachers": len(teachers),
        "iterations": iterations,
        "budget": budget,
        "arch": arch_of(cfg),
        "real_train_bytes": int(x_tr.size // 8),
        "source": asdict(source),
    }
    cost = (
        f"; distillation cost {summary['distill_seconds']:.1f} s ({len(teachers)} teacher snapshots "
        f"{teacher_s:.1f} s, {iterations} iterations {d.seconds:.1f} s)"
        if method in ("pace", "dm")
        else ""
    )
    emit_json(summary) if as_json else click.echo(
        f"{method}: {len(d.labels)} samples ({ipc}/class) -> {out} ({summary['bytes']} bytes){cost}"
    )


# ---------------------------------------------------------------------------- export
@main.command()
@click.argument("model", type=click.Path())
@click.option(
    "--target", default="loihi2-sim", show_default=True, type=TARGET, help="loihi2-sim: netx HDF5; nir: a NIR graph."
)
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="Output file (.net or .nir).")
@click.option("--profile", default=None, help="Hardware profile: a name (see `neuro-deploy profiles`) or a YAML file.")
@click.option(
    "--dt",
    default=None,
    type=POSITIVE_FLOAT,
    help="Seconds per time step (NIR time constants <-> 12-bit decays). Default: the "
    "checkpoint's own step for --target nir; the NIR file's (else 1 ms) for a .nir.",
)
@click.option(
    "--scaling",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "range", "slayer"]),
    help="Per-layer weight scale: auto (a QAT checkpoint's own, else range), range (span the "
    "8-bit mantissa within the 17-bit threshold and 24-bit state), slayer (fixed 2^6).",
)
@click.option(
    "--check",
    "check_dir",
    default=None,
    type=click.Path(),
    help="Recordings (folder or file) to replay through the float model and the written "
    "network after writing: float vs deployed accuracy and agreement.",
)
@click.option("--labels", default=None, type=click.Path(), help="Labels for --check ('name class' lines).")
@click.option("--check-backend", default="fast", show_default=True, type=BACKEND, help="Deployed backend for --check.")
@json_option
@handle_errors
@writes_output("out")
def export(
    model: str,
    target: str,
    out: str,
    profile: str | None,
    dt: float | None,
    scaling: str,
    check_dir: str | None,
    labels: str | None,
    check_backend: str,
    as_json: bool,
) -> None:
    """Export a checkpoint or NIR graph (.nir) for a target: loihi2-sim (netx HDF5, verified
    after writing) or nir (SLAYER checkpoint -> NIR)."""
    from neuro_deploy.api import TARGETS
    from neuro_deploy.api import export as do_export
    from neuro_deploy.netx.export import source_kind

    if target not in TARGETS:
        from neuro_deploy.errors import UnknownNameError

        raise UnknownNameError("target", target, TARGETS)
    check_files, check_labels = None, None
    if check_dir is not None or labels is not None:  # validated before anything is written
        from neuro_deploy.data.datasets import read_labels
        from neuro_deploy.sim import get_backend
        from neuro_deploy.sim.replay import expand_inputs

        if check_dir is None:
            raise BadInputError("--labels is for --check DIR")
        if target != "loihi2-sim" or source_kind(model) != "checkpoint":
            raise BadInputError("--check compares a SLAYER checkpoint with its loihi2-sim export")
        check_files = expand_inputs([check_dir])
        check_labels = read_labels(labels) if labels else None
        get_backend(check_backend)
    rep = do_export(
        model,
        out,
        target=target,
        profile=profile,
        dt=dt,
        scaling=scaling,
        check_recordings=check_files,
        check_labels=check_labels,
        check_backend=check_backend,
    )
    check = rep.check
    if as_json:
        d = rep.to_dict()
        if hasattr(rep, "nir"):
            d["nir"] = rep.nir
        if check is not None:
            d["check"] = check.to_dict()
        emit_json(d)
        return
    click.echo(f"wrote {rep.path} ({rep.target})")
    if hasattr(rep, "nir") and rep.nir["fidelity"]:
        f = rep.nir["fidelity"]
        click.echo(
            f"NIR float vs netx fixed point: class agreement {f['class_agreement']:.3f}, spike-count "
            f"agreement per layer {[round(a, 3) for a in f['layer_count_agreement']]}"
        )
        for w in rep.nir["conversion"]["warnings"] + f["warnings"]:
            click.echo(f"warning: {w}")
    if rep.scaling:
        click.echo(
            f"model quantization: {rep.quantization}; scaling: {rep.scaling} "
            "(weight = integer / 2^exp; vThMant = threshold * 2^exp)"
        )
    if rep.layers:
        click.echo(
            f"{'layer':8s} {'kind':6s} {'float w range':>15s} {'exp':>3s} {'limit':>8s} {'w range':>11s} "
            f"{'bits':>4s} {'levels':>6s} {'rel err':>7s} {'zero':>5s} {'iDecay':>6s} {'vDecay':>6s} "
            f"{'vThMant':>7s} {'state':>5s}"
        )
    for q in rep.layers:
        fr = (
            f"{q.float_weight_min:+.3f}..{q.float_weight_max:+.3f}" if q.float_weight_min == q.float_weight_min else "-"
        )
        state = f"{q.state_peak_bits}/24" if q.state_peak_bits is not None else "-"
        exp = q.weight_exponent if q.weight_exponent is not None else "-"
        click.echo(
            f"{q.name:8s} {q.kind:6s} {fr:>15s} {exp:>3} "
            f"{q.exponent_limited_by or '-':>8s} {q.weight_int_min:5d}..{q.weight_int_max:<4d} "
            f"{q.weight_bits_used if q.weight_bits_used is not None else '-':>4} "
            f"{q.weight_levels if q.weight_levels is not None else '-':>6} {q.weight_rel_error:7.4f} "
            f"{q.zero_fraction:5.2f} {q.i_decay:6d} {q.v_decay:6d} {q.vth_mant:7d} {state:>5s}"
        )
    if rep.agreement:
        a = rep.agreement
        click.echo(
            f"float vs fixed point on {a.samples} inputs: class agreement "
            f"{a.class_agreement:.3f}, identical output counts {a.output_count_exact:.3f}, "
            f"count MAE {a.output_count_mae:.3f}"
        )
    if check is not None:
        acc = lambda v: "n/a" if v is None else f"{v:.4f}"
        click.echo(
            f"check on {check.samples} recordings ({check.labelled} labelled, dt {check.dt_us} us): "
            f"float accuracy {acc(check.float_accuracy)}, deployed ({check.deployed_backend}) "
            f"accuracy {acc(check.deployed_accuracy)}, same prediction {check.prediction_agreement:.4f}, "
            f"identical output counts {check.output_count_exact:.4f}"
        )


# ---------------------------------------------------------------------------- run
def _input_fit(pad: bool, tile: bool) -> str:
    if pad and tile:
        raise click.UsageError("--pad and --tile exclude each other")
    return "pad" if pad else "tile" if tile else "exact"


@main.command()
@click.argument("net", type=click.Path())
@click.option("--steps", required=True, type=POSITIVE_INT, help="Time steps to simulate.")
@click.option(
    "--backend",
    default="fast",
    show_default=True,
    type=BACKEND,
    help="fast (bit-exact numpy) or lava (Loihi2SimCfg fixed_pt).",
)
@click.option(
    "--input",
    "input_path",
    default=None,
    type=click.Path(),
    help="Array shaped net.inp.shape + (T,) (.npy), as a Lava RingBuffer sends it; T must "
    "equal --steps unless --pad or --tile.",
)
@click.option(
    "--input-bias",
    "bias_path",
    default=None,
    type=click.Path(),
    help="Input layer bias_mant (.npy), shaped like the input layer (W,H,C).",
)
@click.option("--pad", "fit_pad", is_flag=True, help="--input shorter than --steps: append empty steps.")
@click.option(
    "--tile",
    "fit_tile",
    is_flag=True,
    help="--input shorter (longer) than --steps: repeat it (cut it), as a Lava RingBuffer does.",
)
@click.option(
    "--reset-interval", default=None, type=POSITIVE_INT, help="Reset neuron state every N steps (netx LIFReset)."
)
@click.option(
    "--probe",
    default="all",
    show_default=True,
    type=click.Choice(["all", "output"]),
    help="Record every layer or the output layer only.",
)
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="Spikes (.npz).")
@json_option
@handle_errors
@writes_output("out")
def run(
    net: str,
    steps: int,
    backend: str,
    input_path: str | None,
    bias_path: str | None,
    fit_pad: bool,
    fit_tile: bool,
    reset_interval: int | None,
    probe: str,
    out: str,
    as_json: bool,
) -> None:
    """Run a netx network; OUT.npz holds layer0, layer1, ... shaped layer.out.shape + (T,)."""
    from neuro_deploy._io import atomic_path
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim import RunSpec, get_backend

    spec_net = load_netx(net)
    be = get_backend(backend)
    x = _load_array(input_path, "input")
    bias = _load_array(bias_path, "input bias")
    if x is not None:
        from neuro_deploy.sim.base import check_input_values, fit_input_length

        exp = spec_net.input_lava_shape
        if x.ndim != len(exp) + 1 or tuple(x.shape[:-1]) != tuple(exp):
            from neuro_deploy.errors import ShapeError

            raise ShapeError(f"input {input_path} (net.inp.shape + (T,))", exp + (steps,), x.shape)
        check_input_values(spec_net, x, f"input {input_path}")
        x = fit_input_length(x, steps, _input_fit(fit_pad, fit_tile), f"input {input_path}")[None]
    from neuro_deploy._progress import task

    with task(steps, f"run on {backend}", "steps", enabled=not as_json) as bar:
        res = be.run(
            spec_net, RunSpec(steps=steps, inputs=x, input_bias=bias, reset_interval=reset_interval, probe=probe)
        )
        bar.update(max(0, steps - bar.n))
    arrays = {k: v[0] for k, v in res.spikes.items()}
    with atomic_path(out, ".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    summary = {
        "output": out,
        "backend": backend,
        "steps": steps,
        "wall_s": res.wall_s,
        "layers": {k: {"shape": list(v.shape), "spikes": int(np.count_nonzero(v))} for k, v in arrays.items()},
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"{backend}: {steps} steps in {res.wall_s:.3f} s -> {out}")
        for k, v in summary["layers"].items():
            click.echo(f"  {k:8s} {str(tuple(v['shape'])):20s} {v['spikes']} spikes")


# ---------------------------------------------------------------------------- fit
@main.command()
@click.argument("net", type=click.Path())
@click.option(
    "--profile",
    default="loihi2",
    show_default=True,
    help="Hardware profile: a name (see `neuro-deploy profiles`) or a YAML file.",
)
@click.option(
    "--skip-input", is_flag=True, help="Leave the input layer on the host (netx skip_layers=1): it is not mapped."
)
@json_option
@handle_errors
def fit(net: str, profile: str, skip_input: bool, as_json: bool) -> None:
    """Map a netx network onto cores and chips of a hardware profile (exit 3: does not fit).

    Prints the per-core table in the layout of Intel's compiler (output layer first, the
    largest core of each layer), then how each layer's split was reached.
    """
    from neuro_deploy.errors import ResourceLimitError
    from neuro_deploy.hardware import load_profile
    from neuro_deploy.hardware.fit import compiler_table, fit_network
    from neuro_deploy.netx import load_netx

    res = fit_network(load_netx(net), load_profile(profile), skip_input=skip_input)
    if as_json:
        emit_json(res.to_dict())
    else:
        click.echo(f"{net} on {res.profile}: {res.summary()}")
        for line in compiler_table(res):
            click.echo(line)
        click.echo("splits:")
        for l in res.layers:
            reason = "; ".join(l.split_log) if l.split_log else "fits one core" if l.cores == 1 else ""
            click.echo(
                f"  {l.name} ({l.kind}, {l.neurons} neurons, {l.weight_bits}-bit weights, "
                f"{l.encoding}): {l.cores} core(s). {reason}"
            )
        for w in res.warnings:
            click.echo(f"  warning: {w}")
        for n in res.notes:
            click.echo(f"  note: {n}")
        for v in res.violations:
            click.echo(f"  violation: {v.layer}: {v.resource} {v.used:g} > {v.limit:g}")
    if not res.fits:
        v = res.violations[0]
        if as_json:
            sys.exit(ResourceLimitError.exit_code)
        raise ResourceLimitError(v.layer, v.resource, v.used, v.limit)


# ---------------------------------------------------------------------------- profiles
@main.command()
@json_option
@handle_errors
def profiles(as_json: bool) -> None:
    """The hardware profiles (for --profile): name, file and what each describes."""
    from neuro_deploy.hardware.profile import available_profiles, load_profile

    rows = []
    for name in available_profiles():
        p = load_profile(name)
        rows.append(
            {
                "name": p.name,
                "path": p.path,
                "description": p.description,
                "cores_per_chip": p.limits.cores_per_chip,
                "neurons_per_core": p.limits.neurons_per_core,
                "assumptions": len(p.assumptions()),
            }
        )
    if as_json:
        emit_json({"profiles": rows})
        return
    for r in rows:
        click.echo(f"{r['name']:8s} {r['description']}")
        click.echo(
            f"{'':8s} {r['path']} ({r['cores_per_chip']} cores/chip, {r['neurons_per_core']} "
            f"neurons/core, {r['assumptions']} assumed figures)"
        )
    click.echo("a profile is also any YAML file of the same schema: --profile my.yaml")


# ---------------------------------------------------------------------------- replay
def _parse_crop(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        x0, y0, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise BadInputError(f"--crop wants X0,Y0,W,H, got {text!r}") from None
    return x0, y0, w, h


@main.command()
@click.argument("net", type=click.Path())
@click.argument("recordings", nargs=-1, required=True, type=click.Path())
@click.option("--dt-us", required=True, type=POSITIVE_INT, help="Time bin per simulation step (us).")
@click.option("--labels", default=None, type=click.Path(), help="'name class' lines (# comments).")
@click.option(
    "--backend",
    default="fast",
    show_default=True,
    type=BACKEND,
    help="fast (bit-exact numpy) or lava (Loihi2SimCfg fixed_pt) for a netx file; a checkpoint (.pt) runs on float.",
)
@click.option(
    "--steps",
    default=None,
    type=POSITIVE_INT,
    help="Input steps per recording (default: the "
    "network's training window from its export metadata, else each recording's own length).",
)
@click.option(
    "--time-origin",
    default=None,
    type=click.Choice(list(TIME_ORIGINS)),
    help=TIME_ORIGIN_HELP + ". Default: the network's (export metadata), else zero.",
)
@click.option("--sensor-size", default=None, type=SENSOR_SIZE, help="WxH of the recordings (overrides headers).")
@click.option("--crop", default=None, type=CROP, help="X0,Y0,W,H crop before downsampling.")
@click.option("--downsample", default=None, type=DOWNSAMPLE, help="Spatial factor in (0, 1], e.g. 0.25.")
@click.option("--denoise-us", default=None, type=POSITIVE_INT, help="tonic Denoise filter time (us).")
@click.option("--refractory-us", default=None, type=POSITIVE_INT, help="tonic RefractoryPeriod delta (us).")
@click.option(
    "--evt3-timing",
    default="spec",
    show_default=True,
    type=click.Choice(["spec", "expelliarmus"]),
    help="EVT 3.0 time reconstruction: Prophesee's spec, or expelliarmus 1.1's.",
)
@event_format_option("--format", "--event-format")
@on_error_option
@click.option("-o", "--output", "out", default=None, type=click.Path(), help="Also write the JSON here.")
@json_option
@handle_errors
@writes_output("out")
@execution_options
def replay(
    net: str,
    recordings: tuple[str, ...],
    dt_us: int,
    labels: str | None,
    backend: str,
    execution: Any,
    steps: int | None,
    time_origin: str | None,
    sensor_size: str | None,
    crop: str | None,
    downsample: float | None,
    denoise_us: int | None,
    refractory_us: int | None,
    evt3_timing: str,
    event_fmt: str | None,
    on_error: str,
    out: str | None,
    as_json: bool,
) -> None:
    """Stream DVS recordings through a network: predictions, accuracy, latency, counts.

    NET is a netx file, or a checkpoint (.pt): its float model then runs (backend "float")
    on exactly the binned input and steps the deployed network gets."""
    from neuro_deploy.data.datasets import read_labels
    from neuro_deploy.events.types import SensorSize
    from neuro_deploy.sim import get_backend, load_network
    from neuro_deploy.sim.float_model import is_checkpoint
    from neuro_deploy.sim.replay import ReplayConfig, replay as do_replay

    if is_checkpoint(net):
        ctx = click.get_current_context()
        if ctx.get_parameter_source("backend") != click.core.ParameterSource.DEFAULT and backend != "float":
            raise BadInputError(f"{net} is a checkpoint: it runs on backend 'float' (export it to run on {backend!r})")
        backend = "float"
    spec = load_network(net)
    get_backend(backend)
    size = SensorSize.parse(sensor_size) if sensor_size else None
    cfg = ReplayConfig(
        dt_us=dt_us,
        backend=backend,
        steps=steps,
        time_origin=time_origin,
        sensor_size=(size.width, size.height) if size else None,
        crop=_parse_crop(crop),
        downsample=downsample,
        denoise_us=denoise_us,
        refractory_us=refractory_us,
        execution=execution,
        evt3_timing=evt3_timing,
        fmt=event_fmt,
        on_error=on_error,
    )
    res = do_replay(spec, list(recordings), cfg, read_labels(labels) if labels else None, progress=not as_json)
    echo_warnings(res.notes)
    echo_warnings([f"skipped {k['file']}: {k['reason']}" for k in res.skipped])
    d = res.to_dict()
    if out:
        from neuro_deploy._io import write_text_atomic

        write_text_atomic(out, json.dumps(_jsonable(d), indent=2))
    if as_json:
        emit_json(d)
        return
    click.echo(f"{len(res.samples)} recordings on {backend} in {res.wall_s:.1f} s")
    for s_ in res.samples:
        mark = "" if s_.correct is None else ("ok " if s_.correct else "BAD")
        click.echo(
            f"  {mark:3s} {Path(s_.file).name:28s} predicted {s_.predicted} label {s_.label} "
            f"latency {s_.latency_steps} steps"
        )
    if res.accuracy is not None:
        click.echo(f"accuracy {res.accuracy:.4f}")


# ---------------------------------------------------------------------------- report
@main.command()
@click.argument("nets", nargs=-1, required=True, type=click.Path())
@click.option(
    "--input",
    "input_path",
    default=None,
    type=click.Path(),
    help="As `run`: net.inp.shape + (T,) array; T must equal --steps unless --pad or --tile.",
)
@click.option("--input-bias", "bias_path", default=None, type=click.Path(), help="As `run`: input layer bias_mant.")
@click.option("--pad", "fit_pad", is_flag=True, help="As `run`: --input shorter than --steps gets empty steps.")
@click.option("--tile", "fit_tile", is_flag=True, help="As `run`: --input is repeated (or cut) to --steps.")
@click.option(
    "--steps",
    default=None,
    type=POSITIVE_INT,
    help="Time steps (with --input/--input-bias; per recording with --recordings).",
)
@click.option(
    "--reset-interval", default=None, type=POSITIVE_INT, help="Reset neuron state every N steps (netx LIFReset)."
)
@click.option("--dataset", default=None, type=DATASET, help="Labelled data set (validation split).")
@click.option("--root", default=None, type=click.Path(), help="Data set folder or file (nmnist, mnist-dvs).")
@click.option("--limit", default=200, show_default=True, type=POSITIVE_INT, help="Data set samples to run.")
@click.option(
    "--recordings", multiple=True, type=click.Path(), help="Recording file or folder (repeat the option for several)."
)
@click.option("--labels", default=None, type=click.Path(), help="Labels of --recordings: 'name class' lines.")
@click.option("--dt-us", default=None, type=POSITIVE_INT, help="Time bin per step (us).")
@click.option(
    "--time-origin",
    default=None,
    type=click.Choice(list(TIME_ORIGINS)),
    help=TIME_ORIGIN_HELP + ". Default: the network's (export metadata), else zero.",
)
@click.option("--downsample", default=None, type=DOWNSAMPLE, help="--recordings: spatial factor in (0, 1].")
@click.option("--sensor-size", default=None, type=SENSOR_SIZE, help="--recordings: WxH (overrides headers).")
@click.option(
    "--backend",
    default="fast",
    show_default=True,
    type=BACKEND,
    help="fast (bit-exact numpy) or lava (Loihi2SimCfg fixed_pt).",
)
@click.option(
    "--profile",
    default="loihi2",
    show_default=True,
    help="Hardware profile: a name (see `neuro-deploy profiles`) or a YAML file.",
)
@click.option(
    "--skip-input", is_flag=True, help="Input layer on the host (netx skip_layers=1): simulated, not mapped or costed."
)
@click.option(
    "--format",
    "fmt",
    default="json",
    show_default=True,
    type=click.Choice(["json", "md", "html"]),
    help="Report format.",
)
@event_format_option("--event-format")
@on_error_option
@click.option("-o", "--output", "out", default=None, type=click.Path(), help="Report file (default: stdout).")
@json_option
@handle_errors
@writes_output("out")
@execution_options
def report(
    nets: tuple[str, ...],
    input_path: str | None,
    bias_path: str | None,
    fit_pad: bool,
    fit_tile: bool,
    steps: int | None,
    reset_interval: int | None,
    dataset: str | None,
    root: str | None,
    limit: int,
    recordings: tuple[str, ...],
    labels: str | None,
    dt_us: int | None,
    time_origin: str | None,
    downsample: float | None,
    sensor_size: str | None,
    backend: str,
    profile: str,
    skip_input: bool,
    fmt: str,
    event_fmt: str | None,
    on_error: str,
    out: str | None,
    as_json: bool,
    execution: Any,
) -> None:
    """Accuracy, latency and energy per inference on Loihi 2 (one model, or several side by side)."""
    from neuro_deploy._io import write_text_atomic
    from neuro_deploy.events.types import SensorSize
    from neuro_deploy.netx import load_netx
    from neuro_deploy.report import Workload, build_report
    from neuro_deploy.report.render import to_html, to_json, to_markdown

    x = _load_array(input_path, "input")
    bias = _load_array(bias_path, "input bias")
    fit_how = _input_fit(fit_pad, fit_tile)
    opts: dict[str, Any] = {}
    if downsample:
        opts["downsample"] = downsample
    if sensor_size:
        sz = SensorSize.parse(sensor_size)
        opts["sensor_size"] = (sz.width, sz.height)
    if recordings:
        opts.update(fmt=event_fmt, on_error=on_error)
    reports, rasters = [], []
    for net_path in nets:
        spec = load_netx(net_path)
        w = Workload(
            steps=steps,
            inputs=x,
            input_bias=bias,
            input_fit=fit_how,
            reset_interval=reset_interval,
            dataset=dataset,
            root=root,
            limit=limit,
            recordings=list(recordings),
            labels=labels,
            dt_us=dt_us,
            backend=backend,
            replay_options=opts,
            time_origin=time_origin,
            progress=not as_json,
            execution=execution,
        )
        rep, wr = build_report(spec, w, profile, skip_input=skip_input)
        if net_path == nets[0]:
            echo_warnings(rep.input_warnings)
            echo_warnings([f"skipped {k['file']}: {k['reason']}" for k in rep.skipped])
        reports.append(_jsonable(rep.to_dict()))
        rasters.append(wr.raster)
    if as_json:
        fmt = "json"
    text = {
        "json": lambda: to_json(reports),
        "md": lambda: to_markdown(reports),
        "html": lambda: to_html(reports, rasters),
    }[fmt]()
    if out:
        write_text_atomic(out, text)
    if as_json or not out:
        click.echo(text)
    else:
        r0 = reports[0]
        click.echo(
            f"wrote {out}: {r0['network']} energy/inference {r0['energy_per_inference_uj']:.4g} uJ, "
            f"latency {r0['latency_us']:.4g} us"
            + (f", accuracy {r0['accuracy']:.4f}" if r0["accuracy"] is not None else "")
        )


# ---------------------------------------------------------------------------- evaluate
@main.command()
@click.argument("net", type=click.Path())
@click.option("--dataset", default="digits", show_default=True, type=DATASET, help="Labelled data set.")
@click.option("--root", default=None, type=click.Path(), help="Data set folder or file (nmnist, mnist-dvs).")
@click.option(
    "--backend",
    default="fast",
    show_default=True,
    type=BACKEND,
    help="fast (bit-exact numpy) or lava (Loihi2SimCfg fixed_pt); a checkpoint (.pt) runs on float.",
)
@click.option(
    "--dt-us", default=None, type=POSITIVE_INT, help="Time bin per step (us); default: from the export metadata."
)
@click.option(
    "--steps",
    "num_steps",
    default=None,
    type=POSITIVE_INT,
    help="Input steps per sample (default: "
    "the network's training window from its export metadata, else each sample's own length).",
)
@click.option(
    "--time-origin",
    default=None,
    type=click.Choice(list(TIME_ORIGINS)),
    help=TIME_ORIGIN_HELP + ". Default: the network's (export metadata), else zero.",
)
@click.option(
    "--split",
    default="val",
    type=click.Choice(["val", "train", "all"]),
    show_default=True,
    help="Which part of the data set (val/train: the 80/20 split of `train`).",
)
@click.option("--limit", default=None, type=POSITIVE_INT, help="At most this many samples.")
@json_option
@handle_errors
@execution_options
def evaluate(
    net: str,
    dataset: str,
    root: str | None,
    backend: str,
    dt_us: int | None,
    num_steps: int | None,
    time_origin: str | None,
    split: str,
    limit: int | None,
    as_json: bool,
    execution: Any,
) -> None:
    """Deployed (fixed-point) accuracy of a netx network on a labelled data set; for a
    checkpoint (.pt), the float model's accuracy on the same inputs and steps (backend float).
    val/train are the parts of the split the model records (its training run's)."""
    import warnings

    from neuro_deploy.api import SplitWarning
    from neuro_deploy.api import evaluate as do_evaluate
    from neuro_deploy.data import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)  # printed below, as every warning here
        ev = do_evaluate(
            net,
            load_dataset(dataset, root=root),
            backend=backend,
            split=split,
            limit=limit,
            dt_us=dt_us,
            steps=num_steps,
            time_origin=time_origin,
            progress=not as_json,
            execution=execution,
        )
    echo_warnings(ev.warnings)
    emit_json(ev.to_dict()) if as_json else click.echo(
        f"{ev.backend}: accuracy {ev.accuracy:.4f} on {ev.samples} samples ({ev.wall_s:.1f} s)"
    )


# ---------------------------------------------------------------------------- sweep
@main.command()
@click.argument("config", type=click.Path())
@click.option(
    "-o",
    "--output",
    "out",
    default=None,
    type=click.Path(),
    help="Prefix of OUT.json / OUT.csv / OUT.md (default: the config's `output`, else its path "
    "without .yaml). Cells already in OUT.json are skipped (resume).",
)
@json_option
@handle_errors
@writes_output("out")
@execution_options
def sweep(config: str, out: str | None, as_json: bool, execution: Any) -> None:
    """Every cell of a grid (models x data sets x profiles x backends, or training methods x
    seeds) as a task: one JSON/CSV table and a comparison report, resumable."""
    from neuro_deploy.sweep import load_sweep_config, run_sweep

    cfg = load_sweep_config(config, out)
    res = run_sweep(cfg, execution, progress=not as_json)
    if as_json:
        emit_json(res.to_dict())
        return
    click.echo(
        f"{len(res.cells)} cells ({res.ran} run, {res.skipped} from an earlier run) in "
        f"{res.wall_s:.1f} s: {res.files['json']}, {res.files['csv']}, {res.files['md']}"
    )


# ---------------------------------------------------------------------------- events
def _read_recording(file: str, fmt: str | None, sensor_size: str | None) -> tuple[Any, Any]:
    """Read a recording for ``events`` commands: (Recording, sensor size), its warnings
    printed, a declared ``--sensor-size`` checked against the events."""
    from neuro_deploy.events.readers import read_events
    from neuro_deploy.events.types import SensorSize

    declared = SensorSize.parse(sensor_size) if sensor_size else None
    rec = read_events(file, fmt, sensor_size=declared)
    echo_warnings(rec.warnings)
    size = declared or rec.sensor_size
    if declared:
        size.check_contains(rec.events, file)
    return rec, size


@main.group()
def events() -> None:
    """Event recordings: inspect, convert, emulate."""


@events.command("info")
@click.argument("file", type=click.Path())
@click.option("--sensor-size", default=None, type=SENSOR_SIZE, help="WxH, overrides the header.")
@click.option(
    "--format",
    "fmt",
    default=None,
    type=EVENT_FORMAT,
    help="Force a reader by name (see `neuro-deploy events formats`).",
)
@click.option(
    "--evt3-timing",
    default="spec",
    show_default=True,
    type=click.Choice(["spec", "expelliarmus"]),
    help="EVT 3.0 time reconstruction: Prophesee's spec, or expelliarmus 1.1's (adds 4096 us at every TIME_LOW wrap).",
)
@json_option
@handle_errors
def events_info(file: str, sensor_size: str | None, fmt: str | None, evt3_timing: str, as_json: bool) -> None:
    """Format, geometry, counts and time span of a recording."""
    from neuro_deploy.events.info import recording_info

    info = recording_info(file, sensor_size=sensor_size, fmt=fmt, evt3_timing=evt3_timing)
    echo_warnings(info.get("warnings", []))
    if as_json:
        emit_json(info)
    else:
        for k, v in info.items():
            click.echo(f"{k:16s} {v}")


@events.command("convert")
@click.argument("file", type=click.Path())
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(),
    help="Output file; its extension picks the format (.npz .npy .h5 .csv .bin).",
)
@click.option(
    "--format",
    "fmt",
    default=None,
    type=EVENT_FORMAT,
    help="Force a reader by name (see `neuro-deploy events formats`).",
)
@click.option("--sensor-size", default=None, type=SENSOR_SIZE, help="WxH, overrides the header.")
@json_option
@handle_errors
@writes_output("out")
def events_convert(file: str, out: str, fmt: str | None, sensor_size: str | None, as_json: bool) -> None:
    """Convert a recording to .npz, .npy, .h5, .csv or N-MNIST .bin."""
    from neuro_deploy.events.writers import holds_triggers, write_events

    rec, size = _read_recording(file, fmt, sensor_size)
    triggers = rec.meta.get("triggers")
    n_trig = 0 if triggers is None else len(triggers)
    kept = n_trig if holds_triggers(out) else 0
    if n_trig and not kept:
        echo_warnings([f"{n_trig} trigger events not written: {Path(out).suffix} cannot hold them (.npz and .h5 can)"])
    write_events(rec.events, out, (size.width, size.height) if size else None, triggers if n_trig else None)
    if as_json:
        emit_json(
            {
                "input": file,
                "format": rec.format,
                "output": out,
                "events": len(rec.events),
                "triggers": n_trig,
                "triggers_written": kept,
            }
        )
    else:
        click.echo(f"{len(rec.events)} events" + (f", {kept} of {n_trig} triggers" if n_trig else "") + f" -> {out}")


@events.command("show")
@click.argument("file", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="PNG file.")
@click.option("--sensor-size", default=None, type=SENSOR_SIZE, help="WxH, overrides the header.")
@click.option(
    "--format",
    "fmt",
    default=None,
    type=EVENT_FORMAT,
    help="Force a reader by name (see `neuro-deploy events formats`).",
)
@json_option
@handle_errors
@writes_output("out")
def events_show(file: str, out: str, sensor_size: str | None, fmt: str | None, as_json: bool) -> None:
    """Accumulated ON/OFF image, time surface and event-rate plot of a recording."""
    from neuro_deploy.events.plot import plot_recording

    rec, size = _read_recording(file, fmt, sensor_size)
    plot_recording(rec, out, size)
    if as_json:
        emit_json({"input": file, "format": rec.format, "output": out, "events": len(rec.events)})
    else:
        click.echo(f"{len(rec.events)} events -> {out}")


@events.command("formats")
@json_option
@handle_errors
def events_formats(as_json: bool) -> None:
    """The event formats: reader names (for --format), extensions, and which can be written."""
    from neuro_deploy.events.readers import READERS, supported_formats
    from neuro_deploy.events.writers import WRITERS

    supported_formats()  # loads every reader
    rows = [
        {
            "name": r.name,
            "extensions": list(r.extensions),
            "description": r.description,
            "detected_by_content": r.sniff is not None,
            "writable": sorted(e for e in r.extensions if e in WRITERS),
        }
        for r in READERS.values()
    ]
    if as_json:
        emit_json({"readers": rows, "writers": sorted(WRITERS)})
        return
    click.echo(f"{'name':11s} {'extensions':16s} {'write':6s} description")
    for r in rows:
        click.echo(
            f"{r['name']:11s} {' '.join(r['extensions']):16s} {'yes' if r['writable'] else '':6s} {r['description']}"
        )
    click.echo(f"convert writes: {' '.join(sorted(WRITERS))} (by the output's extension)")


def _images_and_labels(path: str, key: str | None, labels_key: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(N,H,W) images in 0..1 and their labels (or None), checked before anything is written."""
    from neuro_deploy._io import load_numpy

    arr = load_numpy(path, "images")
    labels = None
    if isinstance(arr, np.lib.npyio.NpzFile):
        with arr:
            files = {n: arr[n] for n in arr.files}
        if key is not None and key not in files:
            raise BadInputError(f"{path}: no array {key!r} (arrays: {', '.join(files) or 'none'})")
        names = [key] if key else [n for n, a in files.items() if a.ndim == 3]
        if not names:
            raise BadInputError(f"{path}: no (N,H,W) image array (arrays: {', '.join(files) or 'none'}; use --key)")
        imgs = files[names[0]]
        if labels_key is not None:
            if labels_key not in files:
                raise BadInputError(f"{path}: no array {labels_key!r} for --labels-key")
            cand = [labels_key]
        elif "images" in names[0] and names[0].replace("images", "labels") in files:
            cand = [names[0].replace("images", "labels")]
        else:
            cand = [
                n
                for n, a in files.items()
                if n != names[0] and a.ndim == 1 and a.dtype.kind in "iu" and len(a) == len(imgs)
            ]
            if len(cand) > 1:
                raise BadInputError(
                    f"{path}: several possible label arrays ({', '.join(cand)}); choose one with --labels-key"
                )
        if cand:
            labels = files[cand[0]]
            if labels.shape != (len(imgs),) or labels.dtype.kind not in "iu" or (len(labels) and labels.min() < 0):
                raise BadInputError(
                    f"{path}: labels {cand[0]!r} must be {len(imgs)} non-negative "
                    f"integers, got dtype {labels.dtype} shape {labels.shape}"
                )
    else:
        imgs = arr
    if imgs.ndim != 3 or 0 in imgs.shape:
        raise BadInputError(f"{path}: expected an (N,H,W) image array, got {imgs.shape}")
    if imgs.dtype.kind not in "iufb" or (imgs.dtype.kind == "f" and not np.all(np.isfinite(imgs))):
        raise BadInputError(f"{path}: images must be finite numbers, got dtype {imgs.dtype}")
    if imgs.min() < 0:
        raise BadInputError(f"{path}: image values must be 0..1 or 0..255, got a minimum {imgs.min()}")
    imgs = imgs.astype(np.float32) / (255.0 if imgs.max() > 1 else 1.0)
    return imgs, labels


@events.command("simulate")
@click.option(
    "--images",
    default=None,
    type=click.Path(),
    help=".npz/.npy with an (N,H,W) image array (0..255 or 0..1); default: scikit-learn digits.",
)
@click.option("--key", default=None, help="Array name inside an .npz (default: first 3-D array).")
@click.option(
    "--labels-key",
    default=None,
    help="Labels array inside the .npz (default: the --key name with 'images' -> 'labels', "
    "else the only 1-D integer array as long as the images).",
)
@click.option("--limit", default=None, type=POSITIVE_INT, help="At most this many images.")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(),
    help="Folder: one .bin (N-MNIST format) per image + labels.txt; or one .npz data set.",
)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Random seed.")
@json_option
@handle_errors
@writes_output("out", folder=lambda out: not str(out).endswith(".npz"))
def events_simulate(
    images: str | None, key: str | None, labels_key: str | None, limit: int | None, out: str, seed: int, as_json: bool
) -> None:
    """Turn still images into DVS recordings (saccades in front of an emulated camera)."""
    from neuro_deploy.data.datasets import EventDataset, save_dataset
    from neuro_deploy.events.emulator import SaccadeConfig, emulate_saccades
    from neuro_deploy.events.writers import write_events

    labels = None
    if images is None:
        from sklearn.datasets import load_digits

        d = load_digits()
        imgs, labels = d.images / 16.0, d.target
    else:
        imgs, labels = _images_and_labels(images, key, labels_key)
    if limit:
        imgs = imgs[:limit]
        labels = labels[:limit] if labels is not None else None
    cfg = SaccadeConfig()
    recs = emulate_saccades(imgs, cfg, seed=seed)
    outp = Path(out)
    if outp.suffix == ".npz":
        if labels is None:
            import warnings

            from neuro_deploy.errors import NeuroDeployWarning

            warnings.warn(
                f"{images or 'the images'}: no labels; {out} labels every recording 0", NeuroDeployWarning, stacklevel=1
            )
        lab = np.asarray(labels if labels is not None else np.zeros(len(recs)), dtype=np.int64)
        save_dataset(
            EventDataset("simulated", recs, lab, cfg.sensor, cfg.duration_us, [str(i + 1) for i in range(len(recs))]),
            outp,
        )
    else:
        outp.mkdir(exist_ok=True)  # the folder asked for; never its parents
        for i, ev in enumerate(recs):
            write_events(ev, outp / f"{i + 1}.bin")
        if labels is not None:
            from neuro_deploy._io import write_text_atomic

            write_text_atomic(
                outp / "labels.txt", "#sample #class\n" + "".join(f"{i + 1} {int(c)}\n" for i, c in enumerate(labels))
            )
    if as_json:
        emit_json(
            {
                "output": out,
                "recordings": len(recs),
                "sensor": list(cfg.sensor),
                "duration_us": cfg.duration_us,
                "events_mean": float(np.mean([len(r) for r in recs])),
            }
        )
    else:
        click.echo(f"{len(recs)} recordings ({cfg.sensor[0]}x{cfg.sensor[1]}, {cfg.duration_us // 1000} ms) -> {out}")


add_common_options(main)

if __name__ == "__main__":  # pragma: no cover
    main()
