"""`quality train photo-quality`: fit the perceived-quality head to your judges' past scores.

    quality train photo-quality --data ratings.csv [--image-col image] [--label-col rating]
                                [--holdout 0.2] [--out-models-dir DIR]

`ratings.csv` holds one photo per row: its path (relative to the file's folder, or absolute) and
the score your judges gave it, on any scale (1-5 stars, 0-100 points). The network is kept; the
head is refitted on the fit part of your file (the held-out part, chosen by a hash of each row,
is never trained on):

  new rating = a x (the current head's prediction) + ridge(the 6,240 pooled network features) + b

a ridge regression whose intercept and slope on the current prediction are free, so what the
head learned from CLIVE's ~175 raters per photo stays as the starting point and your judges'
taste (how much they forgive noise at night, what they call sharp) is learned on top of it. The
ridge strength is chosen by 5-fold cross-validation on the fit part. The score keeps the [0, 1]
form: 0 at your lowest rating, 1 at your highest.

Written: `photo-quality/head.npz` (form `stacked`, read by quality.image.perceived_quality),
`photo-quality/refit.json` (figures), `photo-quality/REFIT.md`, and the manifest entry
`photo-quality-head` (new version, sha256), in the models folder or in a copy of it
(`--out-models-dir`, so old and new can be compared with `quality eval --task photo_quality
--compare-models-dir`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from pathlib import Path

import numpy as np

from train.targets import add_refit_arguments, output_models_dir

MODEL = "photo-quality-head"
MIN_FIT_ROWS = 30
ALPHAS = (1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="CSV, JSONL or Parquet: photo path, rating")
    parser.add_argument("--image-col", default="image", help="the photo's path, relative to the file's folder")
    parser.add_argument("--label-col", default="rating", help="the judges' score (higher = better)")
    add_refit_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def fit_stacked(features: np.ndarray, base: np.ndarray, ratings: np.ndarray, seed: int = 0) -> tuple[dict, dict]:
    """Ridge on [standardised features, base prediction]; the alpha by 5-fold CV (Spearman).
    Returns the arrays of the `stacked` head's ridge part and the search figures."""
    from scipy import stats
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold

    mean, scale = features.mean(0), features.std(0) + 1e-6
    x = np.hstack([(features - mean) / scale, base[:, None]])
    search = []
    for alpha in ALPHAS:
        predicted = np.zeros(len(ratings))
        for fit, held in KFold(5, shuffle=True, random_state=seed).split(x):
            model = Ridge(alpha=alpha).fit(x[fit], ratings[fit])
            predicted[held] = model.predict(x[held])
        search.append({"alpha": alpha, "cv_spearman": round(float(stats.spearmanr(ratings, predicted).statistic), 4)})
    best = max(search, key=lambda r: r["cv_spearman"])
    model = Ridge(alpha=best["alpha"]).fit(x, ratings)
    arrays = {"mean": mean.astype(np.float64), "scale": scale.astype(np.float64),
              "coef": model.coef_[:-1].astype(np.float64), "intercept": np.float64(model.intercept_),
              "stack_weight": np.float64(model.coef_[-1])}
    return arrays, {"alpha_search": search, "alpha": best["alpha"], "base_weight": round(float(model.coef_[-1]), 4)}


def compare(ratings: np.ndarray, old: np.ndarray, new: np.ndarray) -> dict:
    from eval.metrics import bootstrap_interval, graded_metrics, rated_pairs_accuracy

    def figures(scores):
        out = {**graded_metrics(ratings, scores, ordinal=False), **rated_pairs_accuracy(ratings, scores)}
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}

    def change(y, a, b):
        from scipy import stats
        return float(stats.spearmanr(y, b).statistic - stats.spearmanr(y, a).statistic)

    return {"old": figures(old), "new": figures(new),
            "spearman_change_ci95": bootstrap_interval(change, ratings, old, new)}


def _manifest_entry(text: str, version: str, data: Path, report: dict, head_sha: str) -> str:
    from quality.manifest import refitted_entry_text

    held = report["held_out"]["new"]
    return refitted_entry_text(
        text, MODEL, version, "weights", head_sha, "photo-quality/REFIT.md",
        f"Head refitted by quality train photo-quality on {data.name}; figures on its held-out rows.",
        f"{{dataset: {data.name} held out, spearman: {held['spearman']}, pairwise: {held['pairwise']}, "
        f"previous_spearman: {report['held_out']['old']['spearman']}}}")


def _card(version: str, previous: str, data: Path, report: dict) -> str:
    old, new = report["held_out"]["old"], report["held_out"]["new"]
    return f"""# photo-quality-head {version} (refitted to your judges)

Refitted by `quality train photo-quality --data {data.name}` from {previous}: a ridge regression on
the network's pooled features with the previous head's prediction as one more input
(alpha {report['fit']['alpha']} by 5-fold CV; weight on the previous prediction {report['fit']['base_weight']}).
Fitted on {report['fit_rows']} rows; {report['held_out_rows']} rows held out by a hash of each row.

| held-out rows | Spearman | Pearson | Kendall | pairwise |
|---|---|---|---|---|
| previous head | {old['spearman']} | {old['pearson']} | {old['kendall']} | {old['pairwise']} |
| refitted head | {new['spearman']} | {new['pearson']} | {new['kendall']} | {new['pairwise']} |

Spearman change, paired bootstrap 95% CI: {report['held_out']['spearman_change_ci95']}.
The score maps your rating range ({report['rating_range'][0]} to {report['rating_range'][1]}) to [0, 1].
It still measures technical quality as your judges rate it, not taste, story or originality.
"""


def main(args: argparse.Namespace, service=None) -> int:
    from tqdm import tqdm

    from eval.data import LabelFileError, read_labelled, split_holdout
    from quality.artifacts import sha256_file, write_head_file
    from quality.errors import QualityError
    from quality.image.decode import decode_image
    from quality.manifest import upsert_entry_text
    from quality.service import QualityService
    from quality.settings import Settings

    def fail(message: str) -> int:
        print(f"quality train photo-quality: {message}", file=sys.stderr)
        return 2

    service = service or QualityService(Settings(**({"models_dir": args.models_dir} if args.models_dir else {})))
    scorer = service.scorers["composition"]
    if scorer.quality_head is None:
        return fail(f"the models folder does not declare {MODEL}")
    source = service.settings.models_dir
    try:  # where to write (never over another refit), and the rows
        target, copy = output_models_dir(args, source)
        data = read_labelled(args.data, text_col=args.image_col, label_col=args.label_col)
        fit, held = split_holdout(data, args.holdout)
    except (ValueError, LabelFileError) as error:
        return fail(str(error))
    if len(fit.rows) < MIN_FIT_ROWS or len(held.rows) < 5:
        return fail(f"need at least {MIN_FIT_ROWS} rows to fit and 5 held out (got {len(fit.rows)} and "
                    f"{len(held.rows)}); use more rows or another --holdout")

    folder = Path(args.data).parent
    settings = service.settings
    features, ratings, unreadable = [], [], []
    rows = fit.rows + held.rows
    for row in tqdm(rows, desc="photos", disable=args.quiet, file=sys.stderr):
        path = Path(row.text) if Path(row.text).is_absolute() else folder / row.text
        try:
            image = decode_image(path.read_bytes(), max_bytes=settings.limits.max_image_bytes,
                                 max_pixels=settings.limits.max_image_pixels)
        except (OSError, ValueError, QualityError) as error:
            unreadable.append(f"{row.text}: {error}")
            continue
        features.append(scorer.quality_features.features(image.rgb))
        ratings.append(float(row.label))
    if unreadable:
        return fail(f"{len(unreadable)} photo(s) could not be read, first: {unreadable[0]}")
    features, ratings = np.stack(features), np.array(ratings)
    n_fit = len(fit.rows)
    old_head = scorer.quality_head
    base = old_head.mos(features)
    arrays, search = fit_stacked(features[:n_fit], base[:n_fit], ratings[:n_fit])
    low, high = float(ratings.min()), float(ratings.max())
    data_sha = sha256_file(args.data)
    version = f"{date.today().strftime('%Y.%m.%d')}-refit-{data_sha[:8]}"
    meta = {"name": MODEL, "version": version, "head": "stacked", "mos_range": [low, high],
            "base": {"head": old_head.meta["head"], "version": service.store.entry(MODEL).version},
            "trained_on": {"data": Path(args.data).name, "rows": n_fit}}
    base_arrays = {f"base_{k}": v for k, v in old_head.arrays.items()} if old_head.meta["head"] == "mlp" else None
    if base_arrays is None:
        return fail("refitting needs the shipped mlp head as the base")
    from quality.image.perceived_quality import PerceivedQualityHead

    new_head = PerceivedQualityHead({**arrays, **base_arrays}, meta)
    held_ratings = ratings[n_fit:]
    report = {"target": "photo-quality", "version": version, "previous_version": service.store.entry(MODEL).version,
              "data": str(args.data), "data_sha256": data_sha, "holdout": args.holdout, "fit_rows": n_fit,
              "held_out_rows": len(held_ratings), "rating_range": [low, high], "fit": search,
              "held_out": compare(held_ratings, old_head.mos(features[n_fit:]), new_head.mos(features[n_fit:]))}
    if copy:
        shutil.copytree(source, target)
    out = target / "photo-quality"
    write_head_file(out / "head.npz", meta, **{**arrays, **base_arrays})
    (out / "refit.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "REFIT.md").write_text(_card(version, report["previous_version"], Path(args.data), report), encoding="utf-8")
    manifest = target / settings.manifest_file
    upsert_entry_text(manifest, MODEL, _manifest_entry(manifest.read_text(encoding="utf-8"), version,
                                                       Path(args.data), report, sha256_file(out / "head.npz")))
    old, new = report["held_out"]["old"], report["held_out"]["new"]
    print(f"\n{MODEL} {version} (refitted on {n_fit} rows); held-out {len(held_ratings)} rows:\n"
          f"  Spearman {old['spearman']} -> {new['spearman']} "
          f"(change 95% CI {report['held_out']['spearman_change_ci95']}),"
          f" pairwise {old['pairwise']} -> {new['pairwise']}\nwrote {out} and the manifest entry {MODEL}; "
          "restart the service to use it", file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False))
    return 0
