"""Choose the photo score's weight Q (quality.image.photo_score) on development data only.

    python -m train.composition pairs --split validation --per-class 12 --out /tmp/val_pairs
    python -m train.photo_score_weights --ratings data/photos/ratings_dev.csv --pairs /tmp/val_pairs/pairs.csv

Every photo is scored once by the service; its parts (perceived quality, learned composition,
the checks' score and issue severities) are kept, and the photo score is recomputed for each Q
in a grid. Two things are read per Q:
- on the team's ratings (dev rows only): Spearman and pairwise accuracy against the ratings,
  for car and non-car photos;
- on validation pairs (a photo above its degraded copy): the share of pairs ordered right, worst
  family x (car, non-car) group, and the number of pairs where the copy scores higher.
The Q to ship is the one with the best dev ratings among those keeping every validation family at
>= 0.90 for car and non-car photos; when none does, the one with the best mean of the two pairwise
accuracies (differently rated photos; a photo and its worse copy). It is then written into
quality/image/photo_score.py by hand.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from eval.metrics import graded_metrics, rated_pairs_accuracy
from quality.image.photo_score import combine

GRID = tuple(round(q, 2) for q in np.arange(0.0, 1.01, 0.1))


def photo_parts(service, path: Path) -> dict:
    from quality.schemas import ImageInput, Post
    import base64

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    image = service.score(Post(id="p", text="", images=[ImageInput(data=data)])).dimensions.composition.images[0]
    return {"q": image.perceived_quality, "c": image.learned_score, "h": image.heuristic_score,
            "issues": image.issue_severity}


def score(parts: dict, q: float) -> float:
    return combine(parts["q"], parts["c"], parts["h"], parts["issues"], quality_weight=q)


def main(argv: list[str] | None = None) -> None:
    from quality.service import QualityService
    from quality.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=Path, required=True,
                        help="image,rating,content (paths relative to the file): the dev ratings, never the test ones")
    parser.add_argument("--pairs", type=Path, required=True, help="pairs.csv of `train.composition pairs`")
    parser.add_argument("--out", type=Path, default=None, help="write the grid as JSON here")
    args = parser.parse_args(argv)
    if "test" in args.ratings.name:
        parser.error("the test ratings are never used to choose anything")
    service = QualityService(Settings())

    with open(args.ratings, encoding="utf-8") as handle:
        rated = list(csv.DictReader(handle))
    for row in rated:
        row["parts"] = photo_parts(service, args.ratings.parent / row["image"])
    with open(args.pairs, encoding="utf-8") as handle:
        pairs = list(csv.DictReader(handle))
    cache: dict[str, dict] = {}
    for pair in pairs:
        for side in ("better", "worse"):
            if pair[side] not in cache:
                cache[pair[side]] = photo_parts(service, args.pairs.parent / pair[side])

    grid = []
    labels = np.array([float(r["rating"]) for r in rated])
    is_car = np.array([r["content"] == "car" for r in rated])
    for q in GRID:
        scores = np.array([score(r["parts"], q) for r in rated])
        figures = {"q": q}
        for name, mask in (("all", np.ones(len(rated), bool)), ("car", is_car), ("non_car", ~is_car)):
            figures[f"ratings_{name}_spearman"] = round(graded_metrics(labels[mask], scores[mask])["spearman"], 4)
            figures[f"ratings_{name}_pairwise"] = round(rated_pairs_accuracy(labels[mask], scores[mask])["pairwise"], 4)
        right: dict[str, list[bool]] = {}
        for pair in pairs:
            better, worse = score(cache[pair["better"]], q), score(cache[pair["worse"]], q)
            right.setdefault(pair["group"], []).append(better > worse)
        groups = {g: round(float(np.mean(v)), 4) for g, v in sorted(right.items())}
        figures["pairs_worst_group"] = min(groups.items(), key=lambda kv: kv[1])
        figures["pairs_all"] = round(float(np.mean([x for v in right.values() for x in v])), 4)
        figures["pairs_copy_higher"] = int(sum(not x for v in right.values() for x in v))
        figures["pairs_groups"] = groups
        grid.append(figures)
        print(json.dumps({k: v for k, v in figures.items() if k != "pairs_groups"}), flush=True)
    for g in grid:
        g["mean_pairwise"] = round((g["ratings_all_pairwise"] + g["pairs_all"]) / 2, 4)
    passing = [g for g in grid if g["pairs_worst_group"][1] >= 0.90]
    best = (max(passing, key=lambda g: g["ratings_all_spearman"]) if passing
            else max(grid, key=lambda g: g["mean_pairwise"]))
    print(f"chosen Q = {best['q']}: {json.dumps(best)}")
    if args.out:
        args.out.write_text(json.dumps({"grid": grid, "chosen": best["q"], "dev_rows": len(rated),
                                        "pairs": len(pairs)}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
