"""`quality eval --report DIR`: a self-contained HTML report (opens offline, no scripts, no fetches).

Plots are SVG (eval/svg.py, no plotting library). Each is written to DIR as its own file and
embedded in `index.html` as an `<img>` with a data URL, so the page is one file that renders
anywhere. Sections: the metrics beside the baselines, ROC and precision-recall curves and the
confusion matrix (binary labels), the reliability diagram (binary), score histograms per
label, per-group bars (worst first), and the most confident errors with their text.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from eval import svg

METRIC_KEYS = ("n", "auc", "accuracy", "f1", "precision", "recall", "ece", "ece_uncalibrated", "spearman", "pearson",
               "kendall", "qwk", "qwk_bands", "pairwise_accuracy",
               "accuracy_3way", "macro_f1", "uncivil_precision", "uncivil_recall", "uncivil_auc", "uncivil_ece",
               "needs_review_share")


def _table(rows: dict[str, dict], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr><th>" + html.escape(name) + "</th>" + "".join(
            f"<td>{html.escape(str(metrics.get(k, '-')))}</td>" for k in keys) + "</tr>"
        for name, metrics in rows.items())
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _plots(report: dict) -> dict[str, tuple[str, str]]:
    """name -> (heading, SVG text), for what this report has."""
    task, found = report["task"], report.get("diagnostics", {})
    plots: dict[str, tuple[str, str]] = {}
    if "roc" in found:
        plots["roc"] = ("ROC curve", svg.line_chart({"model": found["roc"]}, f"ROC: {task}", "false positive rate",
                                                    "true positive rate", diagonal=True))
        plots["pr"] = ("Precision-recall curve", svg.line_chart({"model": found["pr"]}, f"precision-recall: {task}",
                                                                "recall", "precision"))
    if "reliability" in report:
        curves = {name: [[b["predicted"], b["observed"]] for b in bins] for name, bins in report["reliability"].items()}
        counts = {name: [b["n"] for b in bins] for name, bins in report["reliability"].items()}
        plots["reliability"] = ("Reliability diagram", svg.line_chart(
            curves, f"reliability: {task}", "predicted probability", "observed rate", diagonal=True, dots=counts))
    if "confusion" in found:
        confusion = found["confusion"]
        plots["confusion"] = (f"Confusion matrix at threshold {confusion['threshold']}",
                              svg.heatmap(confusion["matrix"], confusion["labels"], f"confusion: {task}"))
    if "histograms" in found:
        hist = found["histograms"]
        plots["histograms"] = ("Score histograms per label",
                               svg.histogram_chart(hist["edges"], hist["series"], f"scores by label: {task}",
                                                   "model score"))
    groups = report.get("groups") or []
    headline = "auc" if "auc" in report["model"] else "spearman"
    values = {str(g["group"]): g[headline] for g in groups if isinstance(g.get(headline), (int, float))}
    if values:
        plots["groups"] = (f"{headline} per group, worst first",
                           svg.bar_chart(values, f"{headline} per group: {task}", headline))
    return plots


def _errors(report: dict) -> str:
    errors = report.get("diagnostics", {}).get("errors") or []
    if not errors:
        return ""
    rows = "".join(f"<tr><td class='text'>{html.escape(e['text'])}</td><td>{html.escape(_label(e['label']))}</td>"
                   f"<td>{html.escape(str(e['score']))}</td></tr>" for e in errors)
    return ("<h2>Most confident errors</h2><p>Where the model is most sure and people disagree.</p>"
            f"<table id='errors'><tr><th>text</th><th>label</th><th>model score</th></tr>{rows}</table>")


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def write_report(report: dict, directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keys = [k for k in METRIC_KEYS if k in report["model"]]
    sections = [f"<h1>{html.escape(report['task'])}: {html.escape(str(report['data']))}</h1>",
                f"<p>{report['n']} rows scored; skipped {html.escape(json.dumps(report['skipped']))}. "
                f"{html.escape(report.get('description', ''))}</p>",
                "<h2>Model and baselines (same run)</h2>",
                _table({"model": report["model"], **report.get("baselines", {})}, keys)]
    for name, (heading, text) in _plots(report).items():
        (directory / f"{name}.svg").write_text(text, encoding="utf-8")
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        sections.append(f'<figure id="{name}"><figcaption>{html.escape(heading)}</figcaption>'
                        f'<img alt="{html.escape(heading)}" src="data:image/svg+xml;base64,{data}"></figure>')
    if report.get("groups"):
        sections += ["<h2>By group, worst first</h2>",
                     _table({str(g["group"]): g for g in report["groups"]}, ["n", *[k for k in keys if k != "n"]])]
    if report.get("kinds"):
        sections += ["<h2>By kind, worst first</h2>",
                     _table({str(k["kind"]): k for k in report["kinds"]},
                            ["n", "gold", "uncivil_recall", "called_uncivil", "accuracy_3way"])]
    sections.append(_errors(report))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>quality eval: "
            f"{html.escape(report['task'])}</title><style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
            "text-align:right}td.text{text-align:left;max-width:700px}figure{display:inline-block;margin:1em}"
            "</style></head><body>" + "\n".join(sections) + "</body></html>")
    index = directory / "index.html"
    index.write_text(page, encoding="utf-8")
    (directory / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return index
