"""The fast paths give the same answers as the plain ones (speed is measured in benchmarks/).

* decoders: every binary format written by the project's writers reads back to the same
  events, in our decoder and in the reference library; streamed in small chunks (across
  block boundaries) equals read whole; the plausibility tally fused into each decoder
  equals the tally of the decoded events; the guarded decoder process survives a crash;
* fast backend: the fused dense layer (event-driven int16 sums, GEMM rows, neurons in
  cache) equals the general path spike for spike, whichever kernel each row takes;
* counting, binning and netx's weight-bit search: compiled / one-pass versions equal the
  array formulations.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import FIXTURES, need
from neuro_deploy.errors import CorruptRecordingError
from neuro_deploy.events import read_events
from neuro_deploy.events.readers import open_events
from neuro_deploy.events.writers import write_events

FORMATS = FIXTURES / "events" / "formats"
WRITTEN = {  # writer format: (fixture it takes its events from, extension)
    "evt2": ("evt2_sample_gen3_640x480.raw", ".raw"),
    "evt3": ("evt3_pedestrians_cut_gen41_1280x720.raw", ".raw"),
    "dat": ("dat2_ncars_tonic_sample_atis.dat", ".dat"),
    "es": ("es_dvs_atis_320x240_1s.es", ".es"),
    "aedat4": ("aedat4_dvxplorer_320x240_tonic_sample.aedat4", ".aedat4"),
    "nmnist-bin": ("tonic_sample_nmnist_digit4.bin", ".bin"),
}


def _written(tmp_path, fmt):
    rec = read_events(need(FORMATS / WRITTEN[fmt][0]))
    out = tmp_path / f"w_{fmt}{WRITTEN[fmt][1]}"
    write_events(rec.events, out, (rec.sensor_size.width, rec.sensor_size.height), fmt=fmt)
    return rec, out


def _same(a, b, fields="xytp"):
    return len(a["x"]) == len(b["x"]) and all(np.array_equal(np.asarray(a[f]), np.asarray(b[f])) for f in fields)


@pytest.mark.parametrize("fmt", ["evt2", "evt3", "dat", "es", "aedat4"])
def test_written_formats_read_back_identically_here_and_in_the_reference(tmp_path, fmt):
    rec, out = _written(tmp_path, fmt)
    back = read_events(out)
    assert back.format == fmt and _same(back.events, rec.events) and not back.warnings
    assert (back.sensor_size.width, back.sensor_size.height) == (rec.sensor_size.width, rec.sensor_size.height)
    if fmt in ("evt2", "dat"):
        from expelliarmus import Wizard

        ref = Wizard(encoding=fmt).read(str(out))
        assert _same(ref, back.events)
    elif fmt == "aedat4":
        import aedat

        ref = np.concatenate([p["events"] for p in aedat.Decoder(str(out)) if "events" in p])
        assert _same({"x": ref["x"], "y": ref["y"], "t": ref["t"], "p": ref["on"]}, back.events)
    elif fmt == "es":
        import faery

        ref = np.concatenate(list(faery.events_stream_from_file(str(out))))
        assert _same({"x": ref["x"], "y": ref["y"], "t": ref["t"], "p": ref["on"]}, back.events)


def test_evt3_across_time_high_wraps_equals_expelliarmus(tmp_path):
    """40 s of events (the 24-bit EVT 3.0 clock wraps twice): the spec decode gives the
    events written, the expelliarmus-timing decode what expelliarmus gives."""
    from expelliarmus import Wizard

    rec = read_events(need(FORMATS / WRITTEN["evt3"][0]))
    ev = np.sort(rec.events, order="t", kind="stable")[:500].copy()
    ev["t"] = np.linspace(0, 40_000_000, len(ev)).astype(np.int64)
    out = tmp_path / "wrap.raw"
    write_events(ev, out, (1280, 720), fmt="evt3")
    assert _same(read_events(out).events, ev)
    ref = Wizard(encoding="evt3").read(str(out))
    assert _same(ref, read_events(out, evt3_timing="expelliarmus").events)


@pytest.mark.parametrize("fmt", ["evt2", "evt3", "dat", "es", "aedat4", "nmnist-bin"])
def test_streamed_in_small_blocks_equals_whole_and_tally_is_the_scan(tmp_path, monkeypatch, fmt):
    import neuro_deploy.events.formats.common as common
    from neuro_deploy.events.plausibility import Tally

    _, out = _written(tmp_path, fmt)
    whole = open_events(out)
    ev = whole.read_all()
    monkeypatch.setattr(common, "BLOCK_BYTES", 4099)  # odd: words straddle blocks
    for chunk in (5000, 65_537):
        parts = list(open_events(out).chunks(chunk))
        assert (len(parts) > 1 or chunk > 5000) and _same(np.concatenate(parts), ev), (fmt, chunk)
    scanned = Tally(whole.check_sensor())
    scanned.update(ev)
    assert np.array_equal(whole.tally.state, scanned.state) and whole.tally.events == scanned.events


def test_fused_tally_counts_breaks_like_the_scan(tmp_path):
    """Time going back and events outside the declared sensor, through a fused decoder
    (a DAT file written record by record, unsorted): its tally equals the scan's."""
    from neuro_deploy.errors import ImplausibleRecordingError
    from neuro_deploy.events.plausibility import Tally
    from neuro_deploy.events.types import SensorSize

    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 100_000, 3000))
    t[::5] -= 40  # a fifth of the steps go back
    rec = np.empty((3000, 2), np.uint32)
    rec[:, 0] = t
    rec[:, 1] = rng.integers(0, 60, 3000) | (rng.integers(0, 40, 3000) << 14) | (rng.integers(0, 2, 3000) << 28)
    out = tmp_path / "b.dat"
    out.write_bytes(b"% Version 2\n% Width 60\n% Height 40\n" + bytes([0, 8]) + rec.tobytes())
    s = open_events(out, sensor_size=SensorSize(50, 30, "user"))
    with pytest.raises(ImplausibleRecordingError):
        s.read_all()
    ref = Tally(s.check_sensor())
    from neuro_deploy.events.kernels import dat_decode
    from neuro_deploy.events.types import EVENT_DTYPE

    ev = np.empty(3000, EVENT_DTYPE)
    dat_decode(rec, np.array([-1, 0], np.int64), ev, np.array([0, 0, 0, 0, 0, 0, -1, -1, 0], np.int64), 0, 0)
    ref.update(ev)
    assert s.tally.outside > 0 and s.tally.backward > 0 and np.array_equal(s.tally.state, ref.state)


def _tally_by_arrays(ev, w, h):
    """The tally's fields (kernels.TALLY_FIELDS) from whole arrays: run lengths from where t changes."""
    x, y, t = (ev[f].astype(np.int64) for f in "xyt")
    outside = int(((x < 0) | (y < 0) | (x >= w) | (y >= h)).sum()) if w else 0
    starts = np.r_[0, np.flatnonzero(np.diff(t) != 0) + 1]
    lengths = np.diff(np.r_[starts, len(t)])
    first_max = int(np.argmax(lengths))  # the first run to reach the longest length
    return np.array(
        [
            outside,
            int((np.diff(t) < 0).sum()),
            lengths[-1],
            lengths.max(),
            t[-1],
            1,
            x.max(),
            y.max(),
            t[starts[first_max]],
        ]
    )


@pytest.mark.parametrize("case", ["sorted", "long-runs", "backwards", "outside"])
def test_block_tally_equals_the_array_formulation_whatever_the_blocks(case):
    """tally_block (the decoders' and scan's tally: runs checked against the longest so far,
    one-by-one passes only where that can change) equals the tally computed from whole
    arrays, in one call and in blocks cut at random - runs crossing the cuts included."""
    from neuro_deploy.events.kernels import tally_block
    from neuro_deploy.events.types import make_events

    rng = np.random.default_rng(7)
    n = 20_000
    reps = rng.geometric(0.05 if case == "long-runs" else 0.4, n // 2)  # run lengths
    if case == "long-runs":
        reps[[100, 900, 901]] = [700, 300, 5000]  # runs longer than a checked stretch / a block
    t = np.repeat(np.cumsum(rng.integers(1, 4, len(reps))), reps)[:n]
    if case == "backwards":
        t[rng.integers(0, len(t), 50)] -= 3
    x, y = rng.integers(0, 60, len(t)), rng.integers(0, 40, len(t))
    if case == "outside":
        x[rng.integers(0, len(t), 30)] = -2
        y[rng.integers(0, len(t), 30)] = 45
    ev = make_events(x, y, t, rng.integers(0, 2, len(t)))
    want = _tally_by_arrays(ev, 50, 40)
    whole = np.array([0, 0, 0, 0, 0, 0, -1, -1, 0], np.int64)
    tally_block(ev, 0, len(ev), whole, 50, 40)
    assert np.array_equal(whole, want), (whole, want)
    for _ in range(3):
        cuts = np.unique(np.r_[0, rng.integers(0, len(ev), 40), rng.integers(0, 300, 5), len(ev)])
        st = np.array([0, 0, 0, 0, 0, 0, -1, -1, 0], np.int64)
        for a, b in zip(cuts[:-1], cuts[1:]):
            tally_block(ev, a, b, st, 50, 40)
        assert np.array_equal(st, want), (st, want)
    # a run that becomes the longest only across a cut: 3 + 3 events of one timestamp
    t = np.r_[np.repeat(np.arange(1000), 3), [2000] * 6, 2001 + np.arange(1000)]
    ev = make_events(np.zeros_like(t), np.zeros_like(t), t, np.zeros_like(t))
    st = np.array([0, 0, 0, 0, 0, 0, -1, -1, 0], np.int64)
    tally_block(ev, 0, 3003, st, 0, 0)
    tally_block(ev, 3003, len(ev), st, 0, 0)
    assert np.array_equal(st, _tally_by_arrays(ev, 0, 0)) and st[3] == 6 and st[8] == 2000


def _abort():
    os.abort()


def test_guarded_decoder_survives_a_crash_and_is_reused():
    from neuro_deploy.events.formats.common import GUARDED, run_isolated

    with pytest.raises(CorruptRecordingError, match="crashed"):
        run_isolated(_abort, (), FORMATS / "x", "test")
    assert run_isolated(os.getpid, (), FORMATS / "x", "test") != os.getpid()
    pid = GUARDED.proc.pid
    assert run_isolated(int, ("7",), FORMATS / "x", "test") == 7 and GUARDED.proc.pid == pid


# ---------------------------------------------------------------- fast backend
def _dense_net(tmp_path, rng, n_in=300, n_h=70, n_out=9, wscale=2):
    from neuro_deploy.netx import load_netx
    from neuro_deploy.netx.writer import cuba_neuron, write_netx

    write_netx(
        tmp_path / "d.net",
        [
            {
                "type": "dense",
                "weight": rng.integers(-60, 70, (n_h, n_in)) * wscale,
                "neuron": cuba_neuron(1024, 200, 50),
                "bias": rng.integers(-5, 9, n_h),
            },
            {"type": "dense", "weight": rng.integers(-80, 80, (n_out, n_h)) * 2, "neuron": cuba_neuron(2048, 100, 40)},
        ],
    )
    return load_netx(tmp_path / "d.net")


@pytest.mark.parametrize(
    "case",
    [
        "event",
        "gemm",
        "mixed",
        "int16-flush",
        "reset-cyclic",
        "exponent",
        "bytewise",
        "short",
        "complement",
        "complement-bytewise",
        "complement-int16-flush",
    ],
)
def test_fused_dense_equals_the_general_path(tmp_path, monkeypatch, case):
    import neuro_deploy.sim.fast as fast
    from neuro_deploy.sim import RunSpec

    rng = np.random.default_rng(3)
    # complement: 72 hidden neurons (a step in whole words), some steps more than half active
    net = _dense_net(tmp_path, rng, n_h=72 if "complement" in case else 70, wscale=1 if case == "exponent" else 2)
    if "complement" in case:
        net.layers[0].bias[:] = rng.integers(-60, 140, 72)  # from silent to saturated neurons
    density = rng.choice([0.03, 0.5], size=(12, 1, 1)) if case in ("mixed", "gemm") or "complement" in case else 0.1
    t_in = {"reset-cyclic": 17, "short": 4}.get(case, 40)  # short: 4-step rows, 2 per 8-byte word
    steps = 4 if case == "short" else 40
    x = (rng.random((12, 300, t_in)) < density).astype(np.int8)
    spec = RunSpec(
        steps=steps,
        inputs=x,
        reset_interval=13 if case == "reset-cyclic" else None,
        lengths=rng.integers(steps // 2, steps + 1, 12),
    )
    if case == "gemm":
        monkeypatch.setattr(fast, "DENSE_GEMM_DENSITY", 0.0)
    if case == "event":
        monkeypatch.setattr(fast, "DENSE_GEMM_DENSITY", 2.0)
    if case == "mixed":  # the 0.5-density samples' rows go to the GEMM
        monkeypatch.setattr(fast, "DENSE_GEMM_DENSITY", 0.25)
    if case.endswith("bytewise"):  # the kernel reads the inputs byte by byte, not 8 at a time
        monkeypatch.setattr(fast, "input_words", lambda x_: np.zeros((x_.shape[0], 0), np.int64))
    if case.endswith("int16-flush"):  # move int16 sums to int32 every 2 spikes
        import neuro_deploy.sim.kernels as K

        orig = K.dense_cuba
        monkeypatch.setattr(K, "dense_cuba", lambda x_, nf, wt, limit, *rest: orig(x_, nf, wt, 2, *rest))
    flags = []
    orig_rows = fast.complement_rows
    monkeypatch.setattr(fast, "complement_rows", lambda *a: flags.append(orig_rows(*a)[0]) or orig_rows(*a))
    fused = fast.FastBackend().run(net, spec)
    if "complement" in case:  # layer 2 took complement and event-driven rows
        assert 0 < int(flags[1][:, :-1].sum()) < flags[1][:, :-1].size
    monkeypatch.setattr(fast, "fused_dense", lambda layer: False)
    general = fast.FastBackend().run(net, spec)
    total = 0
    for k in general.spikes:
        assert np.array_equal(fused.spikes[k], general.spikes[k]), (case, k)
        total += int(general.spikes[k].sum())
    assert total > 0


def test_dense_counts_equal_the_matrix_formulation(tmp_path):
    from neuro_deploy.energy.counts import dense_counts, matrix_counts
    from neuro_deploy.sim import RunSpec, get_backend
    from neuro_deploy.sim.base import valid_steps
    from neuro_deploy.sim.fast import source_spikes

    rng = np.random.default_rng(5)
    net = _dense_net(tmp_path, rng)
    net.layers[0].weight[rng.random(net.layers[0].weight.shape) < 0.3] = 0  # absent synapses
    x = (rng.random((7, 300, 30)) < 0.1).astype(np.int8)
    lengths = rng.integers(5, 31, 7)
    spec = RunSpec(steps=30, inputs=x, lengths=lengths)
    trains = get_backend("fast").run(net, spec).extra["trains"]
    valid = valid_steps(30, 7, lengths)
    fields = (
        "input_spikes",
        "synops",
        "output_spikes",
        "neuron_updates",
        "active_updates",
        "synops_per_sample",
        "spikes_per_sample",
        "input_spikes_per_sample",
        "samples_per_step",
        "fanout_mean",
    )
    for layer, up, out in zip(net.layers, [source_spikes(spec, net, 30)] + trains[:-1], trains):
        a, b = matrix_counts(layer, up, out, valid), dense_counts(layer, up, out, valid)
        assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields), layer.name


def test_binning_kernel_equals_the_array_formulation():
    from neuro_deploy.events.tensor import bin_events
    from neuro_deploy.events.types import make_events

    rng = np.random.default_rng(0)
    n = 5000
    ev = make_events(
        rng.integers(-2, 36, n), rng.integers(-2, 36, n), rng.integers(-500, 40_000, n), rng.integers(0, 2, n)
    )
    for binary in (True, False):
        got = bin_events(ev, (34, 34), 1000, 30, t0_us=100, binary=binary)
        ref = np.zeros_like(got)
        k = (ev["t"].astype(np.int64) - 100) // 1000
        x, y, p = ev["x"].astype(np.int64), ev["y"].astype(np.int64), (ev["p"] > 0).astype(np.int64)
        ok = (k >= 0) & (k < 30) & (x >= 0) & (x < 34) & (y >= 0) & (y < 34)
        flat = ((p[ok] * 34 + y[ok]) * 34 + x[ok]) * 30 + k[ok]
        if binary:
            ref.reshape(-1)[flat] = 1
        else:
            ref.reshape(-1)[:] = np.minimum(np.bincount(flat, minlength=ref.size), 255)
        assert np.array_equal(got, ref)


def test_weight_bit_search_in_one_pass_equals_the_loop():
    from neuro_deploy.sim.fixed_point import netx_optimize_weight_bits

    rng = np.random.default_rng(2)
    for shift in range(0, 9):
        for lo, hi in ((-40, 60), (0, 90), (-90, 0), (-300, 400)):
            w = rng.integers(lo, hi, (20, 30)) << shift
            if not w.any():
                continue
            a, b = netx_optimize_weight_bits(w), netx_optimize_weight_bits(w.astype(float))
            assert np.array_equal(a[0], b[0]) and a[1:] == b[1:], (shift, lo, hi)
