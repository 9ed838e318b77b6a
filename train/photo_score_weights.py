"""Choose the photo score's weight Q (quality.image.photo_score), how the level detector's tilt
probability becomes the `tilted_horizon` severity (quality.image.level) and how the photo's size
becomes the `low_resolution` severity, on development data only.

    python -m train.composition pairs --split clive_low --limit 200 --out /tmp/clive_low_pairs
    python -m train.photo_score_weights --ratings data/photos/ratings_dev.csv --pairs /tmp/clive_low_pairs/pairs.csv

The pairs are made of photos no photo head trained on as an original: CLIVE's photos rated under
60 (train.composition.CLIVE_MIN_MOS). The validation split's pairs chose Q before the composition
head was cross-fitted (2026.12.06.2), which now trains on them, so they flatter that head.

Every photo is scored once by the service with the level detector switched off; its parts
(perceived quality, learned composition, the checks' score and issue severities) and the level
detector's tilt probability are kept, and the photo score is recomputed for each Q in a grid and
each tilt map (the probability at which the severity starts and is full; "off" = the checks'
tilt alone) and each resolution map (the geometric-mean side at which the severity is full, the
side from which it is 0, and its weight; "off" = no resolution factor) and each capping (every named
issue of severity >= 0.6 caps, or only those of technical quality). Two things are read per setting:
- on the team's ratings (dev rows only): Spearman and pairwise accuracy against the ratings,
  for car and non-car photos;
- on the pairs (a photo above its degraded copy): the share of pairs ordered right, worst
  family x (car, non-car) group, and the number of pairs where the copy scores higher.
The setting to ship is the one with the best dev ratings among those keeping every family at
>= 0.90 for car and non-car photos; when none does, among those within TIE of the best mean of the two
pairwise accuracies (differently rated photos; a photo and its worse copy), the one nearest the
served setting: Q nearest the served Q, then the smallest tilt weight, then the latest start, then the
smallest resolution weight, then the smallest full side, then the served capping. With `--write VERSION`
it is written to the served weights file, `models/photo-score/photo_score.json`, and its manifest entry
(new version and sha256), so every result scored with it says so in `versions.models`.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from eval.metrics import graded_metrics, rated_pairs_accuracy
from quality.image.level import level_features
from quality.image.composition import ISSUE_MIN_SEVERITY
from quality.image.photo_score import PHOTO_SCORE_NAME, RESOLUTION_ISSUE, TILT_ISSUE, PhotoScoreWeights, combine

GRID = tuple(round(q, 2) for q in np.arange(0.0, 1.01, 0.1))
# Settings whose mean pairwise accuracy is within this of the best are tied: one standard error of the
# dev ratings' pairwise accuracy is ~0.02 and of the pairs' ~0.01, and on 2026-12-07 32 of the 165
# settings lay within 0.005 of the best; among the tied the one nearest the served setting is kept.
TIE = 0.005
# How the level detector's tilt probability P enters: it raises the `tilted_horizon` severity to
# clip((P - start) / (full - start)), and ("cap", start, full) that severity caps the score like any issue
# (>= the weights' issue_cap_from), or ("factor", start, full, weight) the tilt never caps and the score is multiplied by
# (1 - weight x severity) (quality.image.photo_score.combine's tilt_weight). None: the checks' tilt alone, capping.
TILT_MAPS = (None, ("cap", 0.5, 1.0), ("cap", 0.7, 1.0),
             *(("factor", start, 1.0, weight) for start in (0.0, 0.3, 0.5) for weight in (0.2, 0.3, 0.4, 0.5)))
# How the photo's size enters: (low, full, weight) = the `low_resolution` severity runs from 1 at a geometric-mean
# side of `low` px to 0 at `full` px (linear in the log of the side; named, and so counted, from ISSUE_MIN_SEVERITY)
# and the score is multiplied by (1 - weight x severity). None: no resolution factor (the score before it).
RESOLUTION_MAPS = (None, *((128, full, weight) for full in (480, 720, 1080, 1440, 2160)
                           for weight in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)))
# Which named issues cap the score: every one, or only those of technical quality (quality.image.photo_score).
CAPPINGS = ("all", "technical")


def photo_parts(service, level, path: Path) -> dict:
    from quality.image.decode import decode_image
    from quality.schemas import ImageInput, Post
    import base64

    data = path.read_bytes()
    post = Post(id="p", text="", images=[ImageInput(data=base64.b64encode(data).decode("ascii"))])
    image = service.score(post).dimensions.composition.images[0]
    limits = service.settings.limits
    rgb = decode_image(data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels).rgb
    return {"q": image.perceived_quality, "c": image.learned_score, "h": image.heuristic_score,
            "issues": {k: v for k, v in image.issue_severity.items() if k != RESOLUTION_ISSUE},
            "size": (image.width, image.height), "tilt": float(level.probability(level_features(rgb))[0])}


def tilt_change(tilt_map: tuple | None) -> tuple[float, float]:
    """How far a tilt map moves the score from the checks alone: (the weight, 1 - the start)."""
    if tilt_map is None:
        return (0.0, 0.0)
    return (tilt_map[3] if tilt_map[0] == "factor" else 1.0, 1.0 - tilt_map[1])


def resolution_change(resolution_map: tuple | None) -> tuple[float, float]:
    """How far a resolution map moves the score: (the weight, the full side)."""
    return (0.0, 0.0) if resolution_map is None else (resolution_map[2], resolution_map[1])


def setting_weights(served: PhotoScoreWeights, q: float, tilt_map: tuple | None, resolution_map: tuple | None,
                    capping: str) -> PhotoScoreWeights:
    """The weights of one setting of the grid (the served file's where the setting says nothing)."""
    weights = served.replace(quality_weight=q, capping=capping, resolution_weight=0.0, tilt_weight=None)
    if resolution_map is not None:
        low, full, weight = resolution_map
        weights = weights.replace(resolution_low_side=low, resolution_full_side=full, resolution_weight=weight)
    if tilt_map is not None:
        weights = weights.replace(tilt_probability_start=tilt_map[1], tilt_probability_full=tilt_map[2],
                                  tilt_weight=tilt_map[3] if tilt_map[0] == "factor" else None)
    return weights


def score(parts: dict, weights: PhotoScoreWeights, detector: bool) -> float:
    """The photo score of a photo's kept parts under `weights`, with the level detector's reading or without."""
    issues = dict(parts["issues"])
    if weights.resolution_weight > 0:  # as the scorer adds it: named (and so counted) from ISSUE_MIN_SEVERITY
        severity = round(weights.resolution_severity(*parts["size"]), 4)
        issues[RESOLUTION_ISSUE] = severity if severity >= ISSUE_MIN_SEVERITY else 0.0
    if detector:
        issues[TILT_ISSUE] = max(issues.get(TILT_ISSUE, 0.0), weights.tilt_severity(parts["tilt"]))
    return combine(parts["q"], parts["c"], parts["h"], issues, weights)


def write_weights(store, weights: PhotoScoreWeights, best: dict, rows: int, pairs: int) -> Path:
    """The chosen weights into the served file and its manifest entry (new version, sha256, dev figures)."""
    from quality.artifacts import sha256_file
    from quality.manifest import refitted_entry_text, upsert_entry_text

    path = store.path(PHOTO_SCORE_NAME)
    chosen_by = (f"python -m train.photo_score_weights (dev only: {rows} dev ratings, {pairs} pairs of photos no "
                 "photo head trained on; docs/photo-score.md)")
    path.write_text(json.dumps({**weights.as_dict(), "chosen_by": chosen_by}, indent=2) + "\n", encoding="utf-8")
    manifest = store.settings.models_dir / "manifest.yaml"
    entry = refitted_entry_text(
        manifest.read_text(encoding="utf-8"), PHOTO_SCORE_NAME, weights.version, "weights", sha256_file(path),
        "composition/MODEL_CARD.md", "From train.photo_score_weights (dev only): the dev ratings and dev pairs.",
        f"{{dev_ratings_spearman: {best['ratings_all_spearman']}, dev_pairs_accuracy: {best['pairs_all']}}}")
    upsert_entry_text(manifest, PHOTO_SCORE_NAME, entry)
    return path


def main(argv: list[str] | None = None) -> None:
    from quality.service import QualityService
    from quality.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=Path, required=True,
                        help="image,rating,content (paths relative to the file): the dev ratings, never the test ones")
    parser.add_argument("--pairs", type=Path, required=True, help="pairs.csv of `train.composition pairs`")
    parser.add_argument("--out", type=Path, default=None, help="write the grid as JSON here")
    parser.add_argument("--verbose", action="store_true", help="print every setting's figures as it is read")
    parser.add_argument("--write", metavar="VERSION", default=None,
                        help="write the chosen setting to the served weights file under this version, and its manifest entry")
    parser.add_argument("--parts", type=Path, default=None,
                        help="keep every photo's scored parts in this JSON file and read them from it when it exists "
                             "(they depend on the models, not on the settings tried here)")
    args = parser.parse_args(argv)
    if "test" in args.ratings.name:
        parser.error("the test ratings are never used to choose anything")
    service = QualityService(Settings())
    scorer = service.scorers["composition"]
    level, scorer.level = scorer.level, None  # the parts without the detector; its reading is added per map
    if level is None or scorer.weights is None:
        parser.error("the level detector (level-head) or the photo score's weights are not in the manifest")
    served = scorer.weights

    with open(args.ratings, encoding="utf-8") as handle:
        rated = list(csv.DictReader(handle))
    with open(args.pairs, encoding="utf-8") as handle:
        pairs = list(csv.DictReader(handle))
    kept = json.loads(args.parts.read_text(encoding="utf-8")) if args.parts and args.parts.is_file() else {}
    for row in rated:
        key = f"ratings:{row['image']}"
        row["parts"] = kept[key] = kept.get(key) or photo_parts(service, level, args.ratings.parent / row["image"])
    cache: dict[str, dict] = {}
    for pair in pairs:
        for side in ("better", "worse"):
            key = f"pairs:{pair[side]}"
            cache[pair[side]] = kept[key] = kept.get(key) or photo_parts(service, level, args.pairs.parent / pair[side])
    if args.parts:
        args.parts.write_text(json.dumps(kept) + "\n", encoding="utf-8")

    grid = []
    labels = np.array([float(r["rating"]) for r in rated])
    is_car = np.array([r["content"] == "car" for r in rated])
    sides = np.array([np.sqrt(r["parts"]["size"][0] * r["parts"]["size"][1]) for r in rated])
    print("the photo's size alone (geometric-mean side) against the dev ratings: " + ", ".join(
        f"{name} Spearman {graded_metrics(labels[mask], sides[mask])['spearman']:.3f}"
        for name, mask in (("all", np.ones(len(rated), bool)), ("car", is_car), ("non-car", ~is_car))))
    settings = [(q, m, r, c) for c in CAPPINGS for r in RESOLUTION_MAPS for m in TILT_MAPS for q in GRID]
    for q, tilt_map, resolution_map, capping in settings:
        weights, detector = setting_weights(served, q, tilt_map, resolution_map, capping), tilt_map is not None
        scores = np.array([score(r["parts"], weights, detector) for r in rated])
        figures = {"q": q, "tilt_map": tilt_map, "resolution_map": resolution_map, "capping": capping}
        for name, mask in (("all", np.ones(len(rated), bool)), ("car", is_car), ("non_car", ~is_car)):
            figures[f"ratings_{name}_spearman"] = round(graded_metrics(labels[mask], scores[mask])["spearman"], 4)
            figures[f"ratings_{name}_pairwise"] = round(rated_pairs_accuracy(labels[mask], scores[mask])["pairwise"], 4)
        right: dict[str, list[bool]] = {}
        for pair in pairs:
            better = score(cache[pair["better"]], weights, detector)
            worse = score(cache[pair["worse"]], weights, detector)
            right.setdefault(pair["group"], []).append(better > worse)
        groups = {g: round(float(np.mean(v)), 4) for g, v in sorted(right.items())}
        figures["pairs_worst_group"] = min(groups.items(), key=lambda kv: kv[1])
        figures["pairs_all"] = round(float(np.mean([x for v in right.values() for x in v])), 4)
        figures["pairs_copy_higher"] = int(sum(not x for v in right.values() for x in v))
        figures["pairs_groups"] = groups
        grid.append(figures)
        if args.verbose:
            print(json.dumps({k: v for k, v in figures.items() if k != "pairs_groups"}), flush=True)
    for g in grid:
        g["mean_pairwise"] = round((g["ratings_all_pairwise"] + g["pairs_all"]) / 2, 4)
    passing = [g for g in grid if g["pairs_worst_group"][1] >= 0.90]
    if passing:
        best = max(passing, key=lambda g: g["ratings_all_spearman"])
    else:  # within TIE of the best mean, the setting nearest the served one (one-standard-error rule)
        top = max(g["mean_pairwise"] for g in grid)
        near = [g for g in grid if g["mean_pairwise"] >= top - TIE]
        best = min(near, key=lambda g: (abs(g["q"] - served.quality_weight), *tilt_change(g["tilt_map"]),
                                        *resolution_change(g["resolution_map"]), g["capping"] != served.capping))
    print(f"{len(passing)} of {len(grid)} settings keep every family >= 0.90")
    if best["resolution_map"] and best["resolution_map"][2] == max(m[2] for m in RESOLUTION_MAPS if m):
        print("note: the chosen resolution weight is the largest in the grid")
    print(f"chosen Q = {best['q']}, tilt map {best['tilt_map']}, resolution map {best['resolution_map']}, "
          f"capping {best['capping']}: "
          f"{json.dumps(best)}")
    if args.write:
        chosen = setting_weights(served, best["q"], best["tilt_map"], best["resolution_map"], best["capping"])
        if best["tilt_map"] is None:  # the checks' tilt alone, capping like any named issue
            chosen = chosen.replace(tilt_probability_start=served.tilt_probability_start,
                                    tilt_probability_full=served.tilt_probability_full)
        print("written:", write_weights(service.store, chosen.replace(version=args.write), best, len(rated), len(pairs)))
    if args.out:
        args.out.write_text(json.dumps({"grid": grid, "chosen": [best["q"], best["tilt_map"], best["resolution_map"],
                                                                 best["capping"]],
                                        "dev_rows": len(rated),
                                        "pairs": len(pairs)}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
