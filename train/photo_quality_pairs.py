"""Does perceived quality order a photo above its blurred, mis-exposed or noisy copy better when its
head also learns from such pairs (as RankIQA did)? A cross-validated comparison on CLIVE.

    python -m train.photo_quality_pairs --data ../shared/data/photos_mos [--weights 0 0.5 1 2]
    python -m train.photo_quality_pairs --data ../shared/data/photos_mos --weights 0.5 --write DIR

The photo score's residual failures on the held-out pairs are mostly exposure copies (docs/photo-score.md
"Measured"): perceived quality, learned from people's ratings of *different* photos, sometimes rates a
blown-out or crushed copy above its photo. This adds to the head's loss (`train.photo_quality.MlpHead`:
regression + ranking on CLIVE's ratings) a logistic ranking term on (photo, its degraded copy) pairs:

- photos: CLIVE's photos rated >= CLIVE_MIN_MOS (good originals, as for the composition head) whose
  composition split is train or validation: the composition split's held-out photos (the held-out
  pairs, the monotonicity test's photos) are never used, nor CLIVE's photos rated under 60 (the
  photo score's development pairs);
- copies: `quality.image.degrade`'s technical families (blur, exposure, noise), two copies each with the
  composition pairs' seeds (`train.composition.photo_rng`, samples 0 and 1);
- the term: mean softplus(-(pred(photo) - pred(copy)) * rank_scale), times the weight
  (`MlpHead.fit(..., copies=...)`).

With `--write DIR` the head for the last weight is fitted on every rated photo and every pair and
written as DIR/photo_quality_head.npz (as `train.photo_quality` writes its head; the ratings-only run's
baselines stay in that command's metrics.json), with DIR/pairs_metrics.json holding the rows.

Cross-validation: CLIVE's five folds by file name (`train.photo_quality.fold_of`); each fold's head
trains on the other folds' ratings and on the pairs of the other folds' photos; scored on the fold's
ratings (Spearman, as `train.photo_quality`) and on the fold's photos' pairs (share ordered right,
per family). Weight 0 is the served head's recipe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from quality.artifacts import write_head_file
from quality.image.cnn_build import packaged_weights_path
from quality.image.degrade import DEFAULT_SUBJECT, degrade
from quality.image.quality_features import FEATURE_DIM, PhotoQualityFeatures
from train.composition import CLIVE_MIN_MOS, photo_rng, photo_split
from train.photo_quality import (DEFAULT_CACHE, FEATURE_RECIPE, HEAD_FILE, N_FOLDS, MlpHead, fold_of, head_meta,
                                 load_or_extract, quality_metrics, read_ratings, recipe_key)

FAMILIES = ("blur", "exposure", "noise")  # technical quality: what perceived quality is for
SAMPLES = (0, 1)


def pair_photos(names: list[str], mos: np.ndarray) -> list[int]:
    """Indices of the photos whose copies may be learned from (module doc)."""
    return [i for i, name in enumerate(names) if mos[i] >= CLIVE_MIN_MOS and photo_split(f"clive/{name}") != "held_out"]


def copy_features(names: list[str], chosen: list[int], image_dir: Path, cache: Path) -> tuple[np.ndarray, list]:
    """Features of every copy [m, 6240] and, per copy, (photo index, family), cached by recipe and photos."""
    index = [(i, family, sample) for i in chosen for family in FAMILIES for sample in SAMPLES]
    photos = hashlib.sha256("\n".join(names[i] for i in chosen).encode()).hexdigest()[:8]
    key = f"{recipe_key(packaged_weights_path())}-{photos}"
    path = Path(cache) / f"copies-{FEATURE_RECIPE['name']}-{key}.npz"
    if path.is_file():
        with np.load(path) as cached:
            print(f"copies: cached {path}")
            return cached["features"], [(i, f) for i, f, _ in index]
    extractor, features = PhotoQualityFeatures(), np.zeros((len(index), FEATURE_DIM), np.float32)
    started = time.perf_counter()
    for row, (i, family, sample) in enumerate(index):
        with Image.open(image_dir / names[i]) as pil:
            image = pil.convert("RGB")
        copy, _ = degrade(image, family, DEFAULT_SUBJECT, photo_rng(f"clive/{names[i]}", family, sample))
        features[row] = extractor.features(np.asarray(copy))
        if row % 300 == 0:
            print(f"copies: {row}/{len(index)} ({time.perf_counter() - started:.0f} s)", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=features)
    return features, [(i, f) for i, f, _ in index]


def cross_validate(X, mos, folds, copies, owner, family, weight: float) -> dict:
    """Mean over folds of CLIVE's Spearman, and the share of held-out-fold pairs ordered right per family."""
    spearman, right = [], {f: [] for f in FAMILIES}
    for k in range(N_FOLDS):
        train, train_copy = folds != k, folds[owner] != k
        pairs = (X[owner[train_copy]], copies[train_copy], weight) if weight else None
        head = MlpHead.fit(X[train], mos[train], copies=pairs)
        spearman.append(quality_metrics(mos[~train], head.predict(X[~train]))["spearman"])
        test_copy = ~train_copy
        ordered = head.predict(X[owner[test_copy]]) > head.predict(copies[test_copy])
        for f in FAMILIES:
            right[f].extend(ordered[family[test_copy] == f].tolist())
    every = [x for f in FAMILIES for x in right[f]]
    return {"weight": weight, "clive_spearman": round(float(np.mean(spearman)), 4),
            "pairs": {f: round(float(np.mean(right[f])), 4) for f in FAMILIES},
            "pairs_all": round(float(np.mean(every)), 4), "n_pairs": len(every)}


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with clive/ and clive_mos.csv")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    parser.add_argument("--write", type=Path, default=None, metavar="DIR",
                        help="fit the head of the last weight on everything and write it and the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names, mos = read_ratings(args.data)
    X, _ = load_or_extract(names, args.data / "clive", args.cache)
    chosen = pair_photos(names, mos)
    copies, index = copy_features(names, chosen, args.data / "clive", args.cache)
    owner, family = np.array([i for i, _ in index]), np.array([f for _, f in index])
    folds = np.array([fold_of(n) for n in names])
    print(f"{len(names)} rated photos; {len(chosen)} give {len(index)} copies ({', '.join(FAMILIES)} x {len(SAMPLES)})")
    rows = []
    for weight in args.weights:
        row = cross_validate(X, mos, folds, copies, owner, family, weight)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    if args.write:
        weight = rows[-1]["weight"]
        head = MlpHead.fit(X, mos, copies=(X[owner], copies, weight) if weight else None)
        meta = {**head_meta("mlp", head, mos, rows[-1]["clive_spearman"]),
                "copies": {"weight": weight, "families": list(FAMILIES), "samples": list(SAMPLES),
                           "photos": len(chosen), "pairs": len(index), "rule": "train.photo_quality_pairs"}}
        args.write.mkdir(parents=True, exist_ok=True)
        write_head_file(args.write / HEAD_FILE, meta, **head.arrays())
        (args.write / "pairs_metrics.json").write_text(json.dumps({"rows": rows, "photos": len(chosen),
                                                                   "pairs": len(index)}, indent=2) + "\n",
                                                       encoding="utf-8")
        print(f"wrote {args.write / HEAD_FILE} and {args.write / 'pairs_metrics.json'}")


if __name__ == "__main__":
    main()
