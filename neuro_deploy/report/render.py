"""Render reports: JSON (machine), Markdown (humans in a terminal or PR), HTML (plots).

The HTML page is one self-contained file: every figure is a PNG embedded as base64.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import numpy as np


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.{digits}g}"
    return str(v)


SUMMARY_KEYS = [
    ("accuracy", "accuracy"),
    ("energy_per_inference_uj", "energy / inference (uJ)"),
    ("dynamic_energy_uj", "dynamic energy (uJ)"),
    ("static_energy_uj", "static energy (uJ)"),
    ("latency_us", "latency (us)"),
    ("time_per_step_us", "time per step (us)"),
    ("edp_uj_us", "energy-delay product (uJ*us)"),
    ("synops", "synaptic ops / inference"),
    ("neuron_updates", "neuron updates / inference"),
    ("spikes", "spikes / inference"),
    ("cores", "cores"),
    ("chips", "chips"),
    ("steps_per_inference", "steps / inference"),
    ("samples", "samples"),
]
LAYER_KEYS = [
    ("name", "layer"),
    ("kind", "kind"),
    ("neurons", "neurons"),
    ("cores", "cores"),
    ("limited_by", "cores limited by"),
    ("synops", "synops"),
    ("spikes", "spikes"),
    ("spike_rate", "spike rate"),
    ("dynamic_energy_uj", "dyn. energy (uJ)"),
    ("busy_time_us", "busy time (us)"),
]


BANDED = {
    "energy_per_inference_uj": "energy_per_inference_uj_band",
    "dynamic_energy_uj": "dynamic_energy_uj_band",
    "time_per_step_us": "time_per_step_us_band",
}
PER_CORE_KEYS = [
    ("axon_in", "AxonIn"),
    ("neuron_groups", "NeuronGr"),
    ("neurons", "Neurons"),
    ("synapses", "Synapses"),
    ("axon_map", "AxonMap"),
    ("axon_mem", "AxonMem"),
    ("syn_mem", "SynMem"),
]


def _value(r: dict[str, Any], key: str) -> str:
    """A summary value, with its uncertainty band where the report has one."""
    band = r.get(BANDED.get(key, ""), None)
    if band:
        return f"{_fmt(r[key])} (band {_fmt(band[0])} - {_fmt(band[1])})"
    return _fmt(r[key])


def per_core_rows(r: dict[str, Any]) -> list[list[Any]]:
    """The fit's per-core table (largest core of each layer), output layer first, as the
    Loihi 2 compiler prints it."""
    rows = []
    for lf in reversed(r["fit"]["layers"]):
        pc = lf["per_core"]
        tile = "Conv(" + ", ".join(str(v) for v in lf["tile"]) + ")" if lf.get("tile") else ""
        rows.append([lf["name"]] + [pc[k] for k, _ in PER_CORE_KEYS] + [lf["cores"], tile, lf["limited_by"]])
    return rows


PER_CORE_HEADER = ["layer"] + [h for _, h in PER_CORE_KEYS] + ["Cores", "tile", "limited by"]


def to_json(reports: list[dict[str, Any]]) -> str:
    if len(reports) == 1:
        return json.dumps(reports[0], indent=2)
    return json.dumps(
        {"schema": "neuro-deploy-report-comparison/1", "models": reports, "comparison": comparison_rows(reports)},
        indent=2,
    )


def comparison_rows(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "network": r.get("label") or r["network"],
            "accuracy": r["accuracy"],
            "latency_us": r["latency_us"],
            "energy_per_inference_uj": r["energy_per_inference_uj"],
            "edp_uj_us": r["edp_uj_us"],
            "synops": r["synops"],
            "cores": r["cores"],
        }
        for r in reports
    ]


def _md_table(rows: list[list[str]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def to_markdown(reports: list[dict[str, Any]]) -> str:
    parts = ["# neuro-deploy report", ""]
    if len(reports) > 1:
        parts += [
            "## Comparison",
            "",
            _md_table(
                [
                    [
                        c["network"],
                        _fmt(c["accuracy"]),
                        _fmt(c["latency_us"]),
                        _fmt(c["energy_per_inference_uj"]),
                        _fmt(c["edp_uj_us"]),
                        _fmt(c["synops"]),
                        str(c["cores"]),
                    ]
                    for c in comparison_rows(reports)
                ],
                ["network", "accuracy", "latency (us)", "energy (uJ)", "EDP (uJ*us)", "synops", "cores"],
            ),
            "",
        ]
    for r in reports:
        parts += [
            f"## {r.get('label') or r['network']}",
            "",
            f"Profile `{r['profile']}`, workload: {r['workload']}, "
            f"backend `{r['backend']}`. The network **{r.get('fits_summary', '')}**.",
            "",
            _md_table([[label, _value(r, k)] for k, label in SUMMARY_KEYS], ["quantity", "value"]),
            "",
            f"Uncertainty band: {r.get('band_basis', '')}.",
            "",
            "### Layers",
            "",
            _md_table(
                [[_fmt(l.get(k)) for k, _ in LAYER_KEYS] for l in r["layers"]], [label for _, label in LAYER_KEYS]
            ),
            "",
            "### Per-core mapping (largest core of each layer, output layer first)",
            "",
            _md_table([[_fmt(c) for c in row] for row in per_core_rows(r)], PER_CORE_HEADER),
            "",
            "### Compared with a dense ANN",
            "",
        ]
        ann = r["ann_comparison"]
        parts.append(
            f"{ann['macs_per_step']} MACs per evaluation; frame-by-frame over "
            f"{r['steps_per_inference']} steps: {ann['macs_per_inference_framewise']} MACs."
        )
        parts.append("")
        parts.append(
            _md_table(
                [
                    [
                        k,
                        _fmt(v["pj_per_mac"]),
                        _fmt(v["energy_per_inference_uj"]),
                        _fmt(v["loihi_vs_ann_ratio"]),
                        v["source"],
                    ]
                    for k, v in ann["references"].items()
                ],
                ["reference", "pJ/MAC", "ANN energy (uJ)", "ANN / Loihi", "source"],
            )
        )
        parts += (
            [
                "",
                "### NeuroBench-style metrics",
                "",
                _md_table([[k, _fmt(v)] for k, v in r["neurobench"].items()], ["metric", "value"]),
                "",
                "### Assumptions",
                "",
            ]
            + [f"- {a}" for a in r["assumptions"]]
            + [""]
        )
        if r.get("skipped"):
            parts += ["### Recordings skipped", ""] + [f"- `{k['file']}`: {k['reason']}" for k in r["skipped"]] + [""]
    return "\n".join(parts)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures(r: dict[str, Any], raster: dict[str, np.ndarray] | None) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: list[tuple[str, str]] = []
    names = [l["name"] for l in r["layers"]]
    if raster:
        shown = list(raster)[-3:]
        fig, axes = plt.subplots(len(shown), 1, figsize=(9, 1.9 * len(shown)), squeeze=False)
        for ax, name in zip(axes[:, 0], shown):
            t, n = np.nonzero(raster[name])
            ax.scatter(t, n, s=2, c="k", marker="|")
            ax.set_ylabel(f"{name}\nneuron")
            ax.set_xlim(0, raster[name].shape[0])
        axes[-1, 0].set_xlabel("time step")
        fig.suptitle("spike raster (first sample)")
        figs.append(("Spike raster", _png(fig)))
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    ax[0].bar(names, [l["spike_rate"] for l in r["layers"]], color="C3")
    ax[0].set(title="spike rate (spikes / neuron / step)")
    ax[1].bar(names, [l["synops"] for l in r["layers"]], color="C4")
    ax[1].set(title="synaptic ops per inference")
    fig.tight_layout()
    figs.append(("Activity per layer", _png(fig)))
    fig, ax = plt.subplots(figsize=(8, 3.4))
    bottom = np.zeros(len(names) + 1)
    labels = names + ["static"]
    for key, color, lab in (
        ("synop_energy_uj", "C0", "synaptic ops"),
        ("neuron_energy_uj", "C1", "neuron updates"),
        ("spike_energy_uj", "C2", "spikes / messages"),
    ):
        vals = np.array([l[key] for l in r["layers"]] + [0.0])
        ax.bar(labels, vals, bottom=bottom, color=color, label=lab)
        bottom += vals
    ax.bar(labels, [0.0] * len(names) + [r["static_energy_uj"]], bottom=bottom, color="C7", label="static")
    ax.set(title="energy per inference (uJ)", ylabel="uJ")
    ax.legend(fontsize=8)
    figs.append(("Energy breakdown", _png(fig)))
    budgets = r["fit"].get("budgets") or {}
    if budgets and r["fit"]["layers"]:
        fl = r["fit"]["layers"]
        fig, ax = plt.subplots(figsize=(9, 3.4))
        xs = np.arange(len(fl))
        width = 0.8 / len(budgets)
        for j, (res, cap) in enumerate(sorted(budgets.items())):
            ax.bar(xs + j * width, [100.0 * l["per_core"][res] / cap for l in fl], width, label=f"{res} (of {cap:g})")
        ax.axhline(100, color="k", lw=0.8, ls="--")
        ax.set_xticks(xs + width * (len(budgets) - 1) / 2, [f"{l['name']}\n{l['cores']} cores" for l in fl], fontsize=8)
        ax.set(title="per-core utilization (largest core of each layer)", ylabel="% of the core's budget")
        ax.legend(fontsize=8)
        figs.append(("Per-core utilization", _png(fig)))
    if r.get("accuracy_vs_step"):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.plot(np.arange(1, len(r["accuracy_vs_step"]) + 1), r["accuracy_vs_step"], color="C2")
        ax.set(title="accuracy vs time step (decision so far)", xlabel="step", ylabel="accuracy", ylim=(0, 1.02))
        figs.append(("Accuracy vs time step", _png(fig)))
    return figs


def _html_table(rows: list[list[Any]], header: list[str]) -> str:
    h = "".join(f"<th>{html.escape(x)}</th>" for x in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}img{max-width:100%}
.kpi{display:inline-block;margin:0 1.2em .8em 0;padding:.5em .9em;background:#f5f7fb;border-radius:6px}
.kpi b{display:block;font-size:1.3em}"""


def to_html(reports: list[dict[str, Any]], rasters: list[dict[str, np.ndarray] | None]) -> str:
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>neuro-deploy report</title>"
        f"<style>{CSS}</style></head><body><h1>neuro-deploy report</h1>"
    ]
    if len(reports) > 1:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = comparison_rows(reports)
        out.append(
            "<h2>Comparison</h2>"
            + _html_table(
                [
                    [
                        c["network"],
                        c["accuracy"],
                        c["latency_us"],
                        c["energy_per_inference_uj"],
                        c["edp_uj_us"],
                        c["synops"],
                        c["cores"],
                    ]
                    for c in rows
                ],
                ["network", "accuracy", "latency (us)", "energy (uJ)", "EDP (uJ*us)", "synops", "cores"],
            )
        )
        fig, ax = plt.subplots(1, 3, figsize=(11, 3.2))
        short = [c["network"].rsplit("/", 1)[-1] for c in rows]
        for a, key, title in zip(
            ax,
            ("accuracy", "latency_us", "energy_per_inference_uj"),
            ("accuracy", "latency (us)", "energy / inference (uJ)"),
        ):
            a.bar(short, [c[key] or 0 for c in rows], color="C0")
            a.set_title(title)
            a.tick_params(axis="x", rotation=20)
        fig.tight_layout()
        out.append(f"<img alt='comparison' src='data:image/png;base64,{_png(fig)}'>")
    for r, raster in zip(reports, rasters):
        out.append(
            f"<h2>{html.escape(r['network'])}</h2><p>Profile <code>{html.escape(r['profile'])}</code>, "
            f"workload: {html.escape(r['workload'])}, backend <code>{html.escape(r['backend'])}</code>.</p>"
        )
        out.append(f"<p class='fit'>The network <b>{html.escape(r.get('fits_summary', ''))}</b>.</p>")
        for k, label in SUMMARY_KEYS[:7]:
            band = r.get(BANDED.get(k, ""), None)
            sub = f"<small>band {html.escape(_fmt(band[0]))} - {html.escape(_fmt(band[1]))}</small>" if band else ""
            out.append(f"<div class='kpi'>{html.escape(label)}<b>{html.escape(_fmt(r[k]))}</b>{sub}</div>")
        out.append(_html_table([[label, _value(r, k)] for k, label in SUMMARY_KEYS], ["quantity", "value"]))
        out.append(f"<p>Uncertainty band: {html.escape(r.get('band_basis', ''))}.</p>")
        for title, b64 in figures(r, raster):
            out.append(
                f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' src='data:image/png;base64,{b64}'>"
            )
        out.append(
            "<h3>Layers and fit</h3>"
            + _html_table([[l.get(k) for k, _ in LAYER_KEYS] for l in r["layers"]], [label for _, label in LAYER_KEYS])
        )
        out.append(
            "<h3>Per-core mapping (largest core of each layer, output layer first)</h3>"
            + _html_table(per_core_rows(r), PER_CORE_HEADER)
        )
        ann = r["ann_comparison"]
        out.append(
            "<h3>Compared with a dense ANN</h3>"
            + _html_table(
                [
                    [k, v["pj_per_mac"], v["energy_per_inference_uj"], v["loihi_vs_ann_ratio"], v["source"]]
                    for k, v in ann["references"].items()
                ],
                ["reference", "pJ/MAC", "ANN energy (uJ)", "ANN / Loihi", "source"],
            )
        )
        out.append(
            "<h3>NeuroBench-style metrics</h3>"
            + _html_table([[k, v] for k, v in r["neurobench"].items()], ["metric", "value"])
        )
        out.append(
            "<h3>Assumptions</h3><ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in r["assumptions"]) + "</ul>"
        )
    out.append("</body></html>")
    return "\n".join(out)
