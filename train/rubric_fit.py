"""Fitting a rubric to a file of graded posts: score every post once with the service, fit the
audition weights (and cut-offs) on the audition's terms (`quality.rubric.fit`), compare both
rubrics on held-out posts, write the new rubric and its `<name>.fit.json` report.

Only held-out figures are reported: with a handful of weights fitted to a few hundred posts,
an in-sample figure flatters the fit. Both rubrics are scored on the same folds. Agreement is
given on the pooled held-out scores (as `quality eval` would compute it) and as the mean of the
per-fold Spearman: each fold's scores come from its own weights, on slightly different levels,
which the pooled figures count against the fit and the per-fold ones do not. The verdict
printed uses the per-fold mean.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np
from scipy import stats

from eval.data import read_labelled
from eval.grades import GradeScale, apply_grade_scale
from eval.run import score_labelled
from eval.tasks import TASKS
from quality.artifacts import sha256_file
from quality.rubric.fit import (FOLDS, MIN_PRESENT, SEED, OutOfFold, audition_terms, cross_validate,
                                fit_bands, fit_weights, rubric_weights, term_row)
from quality.rubric.fitted import fitted_version, rounded_shares, write_fitted_rubric

MIN_ROWS = 20
OBJECTIVE = ("non-negative weights summing to one (effort <= 0.5) that maximise the Pearson correlation of "
             "the audition score with the grades")


class FitRefused(ValueError):
    """The data or the options cannot give a fit worth writing."""


def _check_usable(grades: list[float], skipped: dict) -> None:
    if len(grades) < MIN_ROWS:
        raise FitRefused(f"needs at least {MIN_ROWS} usable graded posts, found {len(grades)} (skipped: {skipped})")
    if len(set(grades)) == 1:
        raise FitRefused(f"every usable post has the grade {grades[0]:g}: there is nothing to fit")


def _finite(value: float) -> float | None:
    return round(float(value), 4) if value is not None and np.isfinite(value) else None


def _held_out_metrics(scale: GradeScale, grades: np.ndarray, held: OutOfFold) -> dict:
    metrics = {key: _finite(value) if isinstance(value, float) else value
               for key, value in scale.agreement(grades, held.scores, held.bands).items()}
    by_fold = [stats.spearmanr(grades[held.fold == k], held.scores[held.fold == k]).statistic for k in range(FOLDS)]
    metrics["spearman_by_fold"] = [_finite(value) for value in by_fold]
    metrics["spearman_fold_mean"] = _finite(np.nanmean(by_fold))  # a fold may hold one grade only
    return metrics


def fit_rubric(service, path: Path, out: Path, *, text_col: str = "text", label_col: str = "label",
               title_col: str | None = None, image_col: str | None = None, grade_scale: str = "auto",
               version: str | None = None, refit_bands: bool = False, quiet: bool = False) -> dict:
    """Fit `service`'s rubric to the grades in `path`, write it to `out`, return the report."""
    rubric = service.rubric
    data = read_labelled(path, text_col=text_col, label_col=label_col, title_col=title_col, image_col=image_col)
    scale = apply_grade_scale(data, grade_scale, rubric.audition.bands)
    if refit_bands and scale.on_audition_scale:
        raise FitRefused("--fit-bands needs 1-5 grades: a 0-100 grade is banded with the rubric's own cut-offs")
    _check_usable([row.label for row in data.rows], dict(data.skipped))

    scored = score_labelled(service, data, TASKS["audition"], partial(term_row, rubric=rubric), quiet, path.parent)
    skipped = dict(data.skipped)
    if None in scored:
        skipped["not_scored"] = scored.count(None)
    grades = np.array([row.label for row, terms in zip(data.rows, scored) if terms is not None])
    _check_usable(list(grades), skipped)
    terms = audition_terms([row for row in scored if row is not None], rubric)
    human_bands = scale.human_bands(grades)

    shares = rounded_shares(fit_weights(terms, grades, rubric_weights(rubric)))
    bands = fit_bands(terms.scores(np.array(shares)), human_bands) if refit_bands else rubric.audition.bands
    held_out = cross_validate(terms, grades, rubric, human_bands if refit_bands else None)

    digest = sha256_file(path)
    fitted_at = datetime.now().astimezone()
    report_path = out.with_suffix(".fit.json")
    header = (f"Fitted by `quality train rubric` on {fitted_at.isoformat(timespec='seconds')} from {path.name}\n"
              f"(sha256 {digest}): {len(grades)} graded posts, grades {scale.name}.\n"
              f"Started from rubric {rubric.version} (sha256 {rubric.sha256}).\n"
              f"Held-out agreement of both rubrics with the grades: {report_path.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = write_fitted_rubric(
        service.settings.rubric_path, out, weights=dict(zip(terms.names[:-1], shares[:-1])),
        effort_weight=shares[-1], bands=bands, version=version or fitted_version(rubric.version, fitted_at.date()),
        header=header)

    present = terms.present()
    report = {
        "data": {"file": path.name, "sha256": digest, "rows": len(grades), "skipped": skipped,
                 "grade_scale": scale.name},
        "fitted_at": fitted_at.isoformat(timespec="seconds"),
        "rubric": {"from": {"path": str(service.settings.rubric_path), "version": rubric.version,
                            "sha256": rubric.sha256},
                   "to": {"path": str(out), "version": written.version, "sha256": written.sha256}},
        "objective": OBJECTIVE,
        "weights": {"current": dict(zip(terms.names, (round(float(w), 4) for w in rubric_weights(rubric)))),
                    "fitted": dict(zip(terms.names, shares))},
        "present": dict(zip(terms.names, (int(count) for count in present))),
        "kept_current_share": [name for name, count in zip(terms.names, present) if count < MIN_PRESENT],
        "bands": {"current": rubric.audition.bands.model_dump(), "fitted": bands.model_dump()},
        "cross_validation": {"folds": FOLDS, "seed": SEED,
                             **{name: _held_out_metrics(scale, grades, held) for name, held in held_out.items()}},
    }
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return report


def print_fit_table(report: dict, stream=None) -> None:
    stream = stream or sys.stderr
    data, weights, cv = report["data"], report["weights"], report["cross_validation"]
    print(f"\nrubric fit on {data['file']}: {data['rows']} posts (grades {data['grade_scale']}), "
          f"skipped {data['skipped']}", file=stream)
    print(f"{'share of the score':<22}{'current':>10}{'fitted':>10}{'posts':>8}", file=stream)
    for name in weights["current"]:
        kept = "  (kept: too few posts)" if name in report["kept_current_share"] else ""
        print(f"{name:<22}{weights['current'][name]:>10}{weights['fitted'][name]:>10}{report['present'][name]:>8}{kept}",
              file=stream)
    cuts = {name: "/".join(f"{bands[k]:g}" for k in ("ordinary", "promising", "featured"))
            for name, bands in report["bands"].items()}
    print(f"bands (ordinary/promising/featured from): {cuts['current']} -> {cuts['fitted']}", file=stream)
    keys = [k for k in ("spearman_fold_mean", "spearman", "pearson", "kendall", "qwk", "qwk_bands") if k in cv["fitted"]]
    print(f"\nheld out, {cv['folds']} folds: Spearman per fold (mean), then on the pooled held-out scores", file=stream)
    print(f"{'':<22}" + "".join(f"{k.replace('spearman_fold_mean', 'fold mean'):>10}" for k in keys), file=stream)
    for name in ("current", "fitted"):
        print(f"{name + ' rubric':<22}" + "".join(f"{cv[name][k] if cv[name][k] is not None else '-':>10}" for k in keys),
              file=stream)
    if (cv["fitted"]["spearman_fold_mean"] or 0.0) <= (cv["current"]["spearman_fold_mean"] or 0.0):
        print("the fitted rubric does not rank held-out posts better than the current one: keep the current one",
              file=stream)
    target = report["rubric"]["to"]
    print(f"\nwrote {target['path']} (version {target['version']}) and its report "
          f"{Path(target['path']).with_suffix('.fit.json')}; use it with QUALITY_RUBRIC_PATH={target['path']}",
          file=stream)
