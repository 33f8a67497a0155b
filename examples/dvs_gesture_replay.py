"""DVS Gesture on Loihi 2: a conv SNN on downsampled clips, replayed, latency and energy per gesture.

    python examples/dvs_gesture_replay.py [--fast] [--out out/examples/gesture]

Needs the ten real DVS128 Gesture clips in ../shared/fixtures/events/dvs_gesture (one
1.45 s clip per class, one subject). They are downsampled 128x128 -> 32x32 (the replay's
own ``downsample``), cut into overlapping 200 ms windows, and a small conv SNN is trained
on the windows (80 % of them; the split is recorded). With one clip per gesture this shows
the pipeline, not how well the net generalises to other people. Every whole clip is then
replayed through the exported network: the predicted gesture, the step from which the
decision no longer changes (latency), and energy and time per clip on Loihi 2.
``--fast`` (or NEURO_DEPLOY_EXAMPLES_FAST=1): fewer windows and epochs - what the test suite runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

import neuro_deploy as nd

SKIP = 77
GESTURES = [
    "hand clap",
    "right hand wave",
    "left hand wave",
    "right arm cw",
    "right arm ccw",
    "left arm cw",
    "left arm ccw",
    "arm roll",
    "air drums",
    "air guitar",
]
DT_US, WINDOW_US, DOWNSAMPLE = 10_000, 200_000, 0.25


def fixtures() -> Path:
    shared = Path(os.environ.get("NEURO_DEPLOY_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
    return shared / "fixtures"


def windows(clips: list[Path], hop_us: int):
    """A labelled data set of ``WINDOW_US`` windows (each from t = 0) of the downsampled clips."""
    from neuro_deploy.data.datasets import EventDataset
    from neuro_deploy.sim.replay import ReplayConfig, preprocess

    cfg = ReplayConfig(dt_us=DT_US, downsample=DOWNSAMPLE)  # the replay's own preprocessing
    events, labels, names = [], [], []
    sensor = (32, 32)
    for clip in clips:
        rec = nd.read_events(clip)
        ev, sensor = preprocess(rec.events, (128, 128), cfg)
        t0, t_end = int(ev["t"].min()), int(ev["t"].max())
        for k, start in enumerate(range(t0, t_end - WINDOW_US + 1, hop_us)):
            w = ev[(ev["t"] >= start) & (ev["t"] < start + WINDOW_US)].copy()
            w["t"] -= start
            events.append(w)
            labels.append(int(clip.stem) - 1)
            names.append(f"{clip.stem}-{k}")
    return EventDataset("dvs-gesture-windows", events, np.asarray(labels, np.int64), sensor, WINDOW_US, names, 10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", default=os.environ.get("NEURO_DEPLOY_EXAMPLES_FAST") == "1")
    ap.add_argument("--out", default="out/examples/gesture")
    a = ap.parse_args()
    root = fixtures() / "events" / "dvs_gesture"
    if not root.is_dir():
        print(f"skipped: DVS Gesture clips not found at {root} (../shared/fixtures is absent; set NEURO_DEPLOY_SHARED)")
        return SKIP
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = sorted(root.glob("*.bin"), key=lambda p: int(p.stem))
    hop_us, epochs = (100_000, 4) if a.fast else (25_000, 30)

    data = windows(clips, hop_us)
    print(
        f"DVS Gesture: {len(clips)} clips -> {len(data)} windows of {WINDOW_US // 1000} ms at "
        f"{data.sensor[0]}x{data.sensor[1]} (downsample {DOWNSAMPLE})"
    )
    model = nd.train(
        data,
        out / "gesture.pt",
        conv=((8, 5, 2), (16, 3, 2)),
        hidden=(),
        dt_us=DT_US,
        num_steps=WINDOW_US // DT_US,
        epochs=epochs,
        lr=3e-3,
    )
    print(
        f"conv SNN 2x32x32 -> 8c5s2 -> 16c3s2 -> 10 trained on {model.train_samples} windows in "
        f"{model.train_seconds:.1f} s; float accuracy on {model.val_samples} held-out windows "
        f"{model.float_accuracy:.3f}"
    )
    net = nd.export(model, out / "gesture.net", profile="loihi2")
    print(f"exported {net.path}: {net.fit['cores']} cores on loihi2")

    labels = out / "labels.txt"
    labels.write_text("".join(f"{c.name} {int(c.stem) - 1}\n" for c in clips))
    clip_steps = int(np.ceil(1_450_000 / DT_US))  # the whole clip, not the 200 ms window
    rep = nd.replay(net.path, clips, dt_us=DT_US, labels=labels, steps=clip_steps, downsample=DOWNSAMPLE)
    print(
        f"\nreplayed {len(rep.samples)} whole clips ({clip_steps} steps of {DT_US // 1000} ms) on fast: "
        f"accuracy {rep.accuracy:.2f}"
    )
    print(f"{'gesture':16s} {'predicted':16s} {'decided after':>14s} {'uJ/clip':>9s} {'chip us/clip':>13s}")
    for s in rep.samples:
        r = nd.report(
            net.path,
            recordings=[s.file],
            labels=str(labels),
            dt_us=DT_US,
            steps=clip_steps,
            replay_options={"downsample": DOWNSAMPLE},
        ).reports[0]
        decided = f"{s.latency_steps * DT_US / 1000:.0f} ms" if s.latency_steps else "-"
        pred = GESTURES[s.predicted] if s.predicted is not None else "(no spike)"
        print(
            f"{GESTURES[s.label]:16s} {pred:16s} {decided:>14s} "
            f"{r['energy_per_inference_uj']:9.3g} {r['latency_us']:13.4g}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
