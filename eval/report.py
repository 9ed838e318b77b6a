"""`quality eval --report DIR`: a self-contained HTML report (opens offline, no scripts, no fetches).

Plots are SVG written here (no plotting library): each is saved as its own file in DIR and
embedded in `index.html`. Present so far: the reliability diagram (binary tasks) and the
metrics tables; more plots join as functions returning SVG text.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

SIZE, PAD = 320, 40
COLOURS = {"model": "#1f77b4", "uncalibrated": "#d62728"}


def _xy(p: float, q: float) -> tuple[float, float]:
    """Unit square -> SVG pixels (y up)."""
    return PAD + p * (SIZE - 2 * PAD), SIZE - PAD - q * (SIZE - 2 * PAD)


def reliability_svg(curves: dict[str, list[dict]], title: str) -> str:
    """Predicted probability (x) vs observed rate (y) per bin, one polyline per curve, dots sized by count."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<title>{html.escape(title)}</title>', f'<rect width="{SIZE}" height="{SIZE}" fill="white"/>']
    (x0, y0), (x1, y1) = _xy(0, 0), _xy(1, 1)
    parts.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#999"/>')
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#bbb" stroke-dasharray="4 3"/>')
    for tick in (0.0, 0.5, 1.0):
        tx, ty = _xy(tick, 0)
        parts.append(f'<text x="{tx}" y="{ty + 14}" font-size="10" text-anchor="middle">{tick:g}</text>')
        lx, ly = _xy(0, tick)
        parts.append(f'<text x="{lx - 6}" y="{ly + 3}" font-size="10" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{SIZE / 2}" y="{SIZE - 6}" font-size="11" text-anchor="middle">predicted probability</text>')
    parts.append(f'<text x="12" y="{SIZE / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {SIZE / 2})">observed rate</text>')
    total = max(1, max((sum(b["n"] for b in bins) for bins in curves.values()), default=1))
    for index, (name, bins) in enumerate(curves.items()):
        colour = COLOURS.get(name, "#2ca02c")
        points = [_xy(b["predicted"], b["observed"]) for b in bins]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        for (x, y), b in zip(points, bins):
            radius = 2 + 6 * (b["n"] / total) ** 0.5
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colour}" fill-opacity="0.6"/>')
        parts.append(f'<text x="{PAD + 6}" y="{PAD + 14 + 14 * index}" font-size="11" fill="{colour}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _table(rows: dict[str, dict], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr><th>" + html.escape(name) + "</th>" + "".join(
            f"<td>{html.escape(str(metrics.get(k, '-')))}</td>" for k in keys) + "</tr>"
        for name, metrics in rows.items())
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def write_report(report: dict, directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keys = [k for k in ("n", "auc", "accuracy", "f1", "precision", "recall", "ece", "ece_uncalibrated", "spearman",
                        "pearson", "kendall", "qwk", "qwk_bands", "pairwise_accuracy") if k in report["model"]]
    sections = [f"<h1>{html.escape(report['task'])}: {html.escape(str(report['data']))}</h1>",
                f"<p>{report['n']} rows scored; skipped {html.escape(json.dumps(report['skipped']))}. "
                f"{html.escape(report.get('description', ''))}</p>",
                "<h2>Model and baselines (same run)</h2>",
                _table({"model": report["model"], **report.get("baselines", {})}, keys)]
    if "reliability" in report:
        svg = reliability_svg(report["reliability"], f"reliability: {report['task']}")
        (directory / "reliability.svg").write_text(svg, encoding="utf-8")
        sections += ["<h2>Reliability diagram</h2>", f'<figure id="reliability">{svg}</figure>']
    if report.get("groups"):
        sections += ["<h2>By group, worst first</h2>",
                     _table({str(g["group"]): g for g in report["groups"]}, ["n", *[k for k in keys if k != "n"]])]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>quality eval: "
            f"{html.escape(report['task'])}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            "</style></head><body>" + "\n".join(sections) + "</body></html>")
    index = directory / "index.html"
    index.write_text(page, encoding="utf-8")
    (directory / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return index
