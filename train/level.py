"""Train the level (tilt) detector: `models/level/level_head.npz` and its metrics.

    python -m train.level [--out models/level] [--held-out]
    python -m train.level --rated data/photos/ratings_dev.csv   # against the team's `tilt` labels

`--rated` trains nothing: it reads the served head and a ratings file of the team's
(data/photos/README.md) and reports how well the tilt probability separates the photos whose
named `issues` include `tilt` from the others (ROC AUC), beside the hand-set checks' tilt severity.

Self-supervised on the composition split (train.composition.photo_split) of `cars/`, `general/`
and CLIVE's better-rated photos, resized to a long side of 512 as the service sees them:

- training photos: each as it is and turned by under 1.5 degrees ("level"), and turned three
  times by 4-16 degrees either way ("tilted"), every turn cropped to the largest upright frame
  (quality.image.degrade.rotated), so resampling and cropping are on both sides;
- validation photos: each and its `tilt` copy exactly as the composition pairs make it
  (train.composition.photo_rng): the pair accuracy (the copy more likely tilted) by car and
  non-car photos chooses among a few tree settings (GRID), and the false-alarm rate on the
  originals is reported;
- held-out photos (`--held-out`, once, after the choice): the same figures, never used to choose.

The chosen classifier is refitted on the training photos alone and stored as flat node arrays
(quality.image.level.LevelHead), checked against scikit-learn's own prediction.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from quality.artifacts import sha256_file, write_head_file
from quality.image.degrade import rotated, tilt
from quality.image.level import FEATURE_DIM, LevelHead, level_features
from quality.settings import get_settings
from train.composition import (CONTENT_LABELS, content_class, list_photos, load_photo, photo_path, photo_rng,
                               photo_split, read_content_labels, resized)

LONG_SIDE = 512  # photos are read at this long side (the service's working size)
LEVEL_TURN = 1.5  # "level" copies are turned by up to this many degrees
TILT_TURNS = (4.0, 16.0)  # "tilted" copies are turned by this many degrees, either way
TILTED_COPIES = 3
SEED = 20261207
# (learning rate, trees, leaves per tree): the settings compared on the validation pairs.
GRID = ((0.05, 300, 31), (0.05, 600, 15), (0.1, 300, 31))
HEAD_FILE, METRICS_FILE = "level_head.npz", "metrics.json"


def turn_rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(f"{SEED}/{name}".encode()).hexdigest()[:16], 16))


def training_rows(image, name: str) -> list[tuple[np.ndarray, int]]:
    rng = turn_rng(name)
    rows = [(level_features(np.asarray(image)), 0),
            (level_features(np.asarray(rotated(image, rng.uniform(-LEVEL_TURN, LEVEL_TURN))[0])), 0)]
    for _ in range(TILTED_COPIES):
        degrees = rng.uniform(*TILT_TURNS) * rng.choice([-1.0, 1.0])
        rows.append((level_features(np.asarray(rotated(image, degrees)[0])), 1))
    return rows


def pair_rows(image, name: str) -> list[tuple[np.ndarray, int]]:
    copy, _ = tilt(image, (0.25, 0.25, 0.75, 0.75), photo_rng(name, "tilt", 0))
    return [(level_features(np.asarray(image)), 0), (level_features(np.asarray(copy)), 1)]


def split_features(split: str, args, labels: dict[str, str]) -> dict:
    names = [n for n in list_photos(args.photos, args.mos) if photo_split(n) == split]
    make = training_rows if split == "train" else pair_rows
    features, targets, owners = [], [], []
    started = time.perf_counter()
    for i, name in enumerate(names):
        image = resized(load_photo(photo_path(name, args.photos, args.mos)), LONG_SIDE)
        for row, target in make(image, name):
            features.append(row)
            targets.append(target)
            owners.append(name)
        if (i + 1) % 250 == 0:
            print(f"  {split}: {i + 1}/{len(names)} photos, {time.perf_counter() - started:.0f} s", flush=True)
    classes = np.array([content_class(n, labels) for n in owners])
    return {"x": np.stack(features), "y": np.array(targets), "names": np.array(owners), "classes": classes}


def pair_figures(probability: np.ndarray, split: dict) -> dict:
    """Pair accuracy (tilted copy above its photo) and the share of photos / copies over 0.5, by group."""
    original, copy = probability[split["y"] == 0], probability[split["y"] == 1]
    classes = split["classes"][split["y"] == 0]
    figures = {}
    for group, rows in (("car", classes == "car"), ("non_car", classes != "car")):
        figures[group] = {"photos": int(rows.sum()), "pairs": round(float((copy[rows] > original[rows]).mean()), 4),
                          "photos_over_half": round(float((original[rows] > 0.5).mean()), 4),
                          "copies_over_half": round(float((copy[rows] > 0.5).mean()), 4)}
    figures["by_class"] = {c: round(float((copy[classes == c] > original[classes == c]).mean()), 4)
                           for c in sorted(set(classes))}
    return figures


def fit(x: np.ndarray, y: np.ndarray, setting: tuple) -> HistGradientBoostingClassifier:
    rate, trees, leaves = setting
    return HistGradientBoostingClassifier(learning_rate=rate, max_iter=trees, max_leaf_nodes=leaves,
                                          early_stopping=False, random_state=0).fit(x, y)


def flatten(model: HistGradientBoostingClassifier) -> tuple[dict, int]:
    """scikit-learn's trees as LevelHead's flat node arrays, and the deepest tree's depth."""
    feature, threshold, left, right, leaf, value, roots = [], [], [], [], [], [], []
    depth = 0
    for (tree,) in model._predictors:  # one tree per iteration for a binary classifier
        nodes, offset = tree.nodes, len(feature)
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported")
        roots.append(offset)
        feature += nodes["feature_idx"].tolist()
        threshold += nodes["num_threshold"].tolist()
        left += (nodes["left"] + offset).tolist()
        right += (nodes["right"] + offset).tolist()
        leaf += nodes["is_leaf"].tolist()
        value += nodes["value"].tolist()
        depth = max(depth, int(nodes["depth"].max()))
    arrays = {"feature": np.array(feature, np.int16), "threshold": np.array(threshold, np.float32),
              "left": np.array(left, np.int32), "right": np.array(right, np.int32),
              "leaf": np.array(leaf, bool), "value": np.array(value, np.float32), "roots": np.array(roots, np.int32),
              "baseline": np.array(float(np.ravel(model._baseline_prediction)[0]), np.float64)}
    return arrays, depth


def rated(path: Path, head: LevelHead) -> dict:
    """AUC of the tilt probability (and of the checks' `tilted_horizon` severity) for the rows of a
    ratings file whose `issues` name `tilt`; photos decoded as the service does."""
    import csv

    from sklearn.metrics import roc_auc_score

    from quality.image.composition import assess_composition
    from quality.image.decode import decode_image
    from quality.settings import Limits

    limits = Limits()
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    labels, learned, checks = [], [], []
    for row in rows:
        image = decode_image((path.parent / row["image"]).read_bytes(), max_bytes=limits.max_image_bytes,
                             max_pixels=limits.max_image_pixels)
        labels.append("tilt" in row["issues"].split("|"))
        learned.append(float(head.probability(level_features(image.rgb))[0]))
        checks.append(assess_composition(image, 0).composition.issue_severity.get("tilted_horizon", 0.0))
    return {"file": str(path), "rows": len(rows), "tilt_labelled": int(sum(labels)),
            "level_head_auc": round(float(roc_auc_score(labels, learned)), 4),
            "checks_auc": round(float(roc_auc_score(labels, checks)), 4),
            "level_head_over_half": {"tilt": round(float(np.mean([p > 0.5 for p, t in zip(learned, labels) if t])), 4),
                                     "other": round(float(np.mean([p > 0.5 for p, t in zip(learned, labels) if not t])), 4)}}


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=settings.data_dir / "photos")
    parser.add_argument("--mos", type=Path, default=settings.data_dir / "photos_mos" / "clive_mos.csv")
    parser.add_argument("--content", type=Path, default=CONTENT_LABELS)
    parser.add_argument("--out", type=Path, default=settings.models_dir / "level")
    parser.add_argument("--version", default=time.strftime("%Y.%m.%d"))
    parser.add_argument("--held-out", action="store_true", help="also measure the held-out photos (once, at the end)")
    parser.add_argument("--rated", type=Path, default=None,
                        help="a ratings file of the team's: measure the served head against its `tilt` labels, train nothing")
    args = parser.parse_args(argv)
    if args.rated is not None:
        print(json.dumps(rated(args.rated, LevelHead.load(args.out / HEAD_FILE)), indent=2))
        return
    labels = read_content_labels(args.content)
    train, validation = split_features("train", args, labels), split_features("validation", args, labels)

    compared = []
    for setting in GRID:
        model = fit(train["x"], train["y"], setting)
        figures = pair_figures(model.predict_proba(validation["x"])[:, 1], validation)
        mean = (figures["car"]["pairs"] + figures["non_car"]["pairs"]) / 2
        compared.append((mean, setting, model, figures))
        print(f"setting {setting}: validation pairs car {figures['car']['pairs']:.3f} "
              f"non-car {figures['non_car']['pairs']:.3f}", flush=True)
    mean, setting, model, figures = max(compared, key=lambda c: c[0])

    arrays, depth = flatten(model)
    meta = {"version": args.version, "feature_dim": FEATURE_DIM, "max_depth": depth,
            "setting": {"learning_rate": setting[0], "trees": setting[1], "leaves": setting[2]},
            "trained_on": f"{len(set(train['names']))} training photos, {len(train['y'])} rows"}
    args.out.mkdir(parents=True, exist_ok=True)
    write_head_file(args.out / HEAD_FILE, meta, **arrays)
    head = LevelHead.load(args.out / HEAD_FILE)
    gap = float(np.abs(head.probability(validation["x"]) - model.predict_proba(validation["x"])[:, 1]).max())
    if gap > 1e-4:
        raise RuntimeError(f"flattened trees differ from scikit-learn's by {gap}")

    metrics = {"version": args.version, "chosen": meta["setting"], "validation": figures,
               "compared": [{"setting": list(s), "car": f["car"]["pairs"], "non_car": f["non_car"]["pairs"]}
                            for _, s, _, f in compared],
               "sha256": sha256_file(args.out / HEAD_FILE)}
    if args.held_out:
        held_out = split_features("held_out", args, labels)
        metrics["held_out"] = pair_figures(head.probability(held_out["x"]), held_out)
    (args.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
