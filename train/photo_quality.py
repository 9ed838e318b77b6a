"""Perceived technical quality of a photo, learned from human ratings (CLIVE MOS), on EfficientNet-Lite0.

    python -m train.photo_quality --data /work/shared/data/photos_mos --out DIR [--cache /tmp/photoq]

What it does, in one run:
  1. features: every photo of `clive_mos.csv` through the packaged EfficientNet-Lite0 ImageNet
     network as the service runs it (`quality.image.quality_features`: the ONNX export, on
     onnxruntime) at about its own resolution - no resize to 224 and no crop: the network is fully
     convolutional, and shrinking a photo hides the blur, noise and JPEG artefacts people rate. The
     photo is brought to a long side of 512 px with both sides multiples of 32 (CLIVE's
     500 x 500 photos are read at 512 x 512; smaller photos are enlarged since quality-taps-v2). The
     output of each of the 18 stages of the network (stem, the 16 MBConv blocks at strides 2-32,
     the 1280-channel head) is pooled over space by mean and by standard deviation and
     concatenated: 6,240 numbers per photo (`photo_features`, PIL image -> vector). Cached in
     --cache, keyed by the recipe, so reruns skip the ~4 min pass.
  2. 5-fold cross-validation with folds fixed by the file name (`fold_of`), two heads:
       - ridge: standardised features, alpha chosen by an inner leave-one-fold-out CV over the
         four training folds (Spearman), then refitted on them;
       - mlp: 6240 -> 64 -> 1 (dropout, GELU), mean-squared error plus a pairwise logistic
         ranking loss on pairs whose MOS differs by >= 5 (regression + ranking); fixed
         hyper-parameters (set a priori, not tuned on these folds beyond 64 vs 256 hidden units).
     Spearman, Pearson, Kendall and pairwise accuracy (pairs whose MOS differs by >= 10) per fold
     and their mean, and the same for the classic no-reference baselines of
     `eval.iqa_baselines` (BRISQUE, NIQE, mean gradient magnitude), which are not trained on
     CLIVE and are scored on each fold's photos as they are (signed so that higher = better).
  3. the shipped head (`--head`, mlp by default: see the notes below) fitted on all rows and
     written with `quality.artifacts.write_head_file` as DIR/photo_quality_head.npz (read it back
     with `quality.image.perceived_quality.PerceivedQualityHead`, as the service does; numpy only), DIR/metrics.json with the CV figures, the fold
     rule and the feature recipe, and DIR/cv_predictions.csv (out-of-fold predictions per photo).

Notes from the research run (see metrics.json for the figures of a run):
  - resolution matters most: ridge on all taps, CV Spearman 0.830 at 500 px, 0.819 with the
    long side cut to 384, 0.764 at 224; last-layer mean only: 0.759 / 0.734 / 0.655.
  - several stages beat the last layer: 0.759 (head mean) -> 0.810 (strides 4-32 + head,
    mean+std) -> 0.830 (all 18 taps, mean+std).
  - heads on those features: ridge 0.832, MLP + ranking loss 0.843 (64 hidden units; 256: 0.841;
    without the ranking loss, 256 units: 0.838), RBF SVR 0.838. The MLP is above ridge in 4 of
    the 5 folds; pooled out-of-fold difference +0.011 (95% bootstrap interval 0.004-0.019). The MLP is
    shipped (1.6 MB head); `--head ridge` writes the 70 kB ridge head instead.
  - EfficientNet-Lite2 (licence UNKNOWN, compared only) on the same recipe: 0.821, at ~1.4x the cost.

The score predicts CLIVE's MOS (0-100, higher = better perceived quality) and is not clipped.
The research figures above were measured with torch at 500 x 500; the shipped head is trained on
the served features (512 x 512 for CLIVE), and its metrics.json holds that run's figures.

Threads: torch, BLAS and OpenMP run on one thread (the machine is shared).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import stats  # noqa: E402

from quality.artifacts import read_head_file, sha256_file, write_head_file  # noqa: E402
from quality.image.cnn_build import PACKAGE, packaged_weights_path  # noqa: E402
from quality.image.perceived_quality import PerceivedQualityHead, mlp_predict, ridge_predict  # noqa: E402
from eval.metrics import pairwise_accuracy  # noqa: E402
from quality.image.quality_features import (FEATURE_DIM, LONG_SIDE, MULTIPLE, RECIPE, TAP_CHANNELS,  # noqa: E402
                                            PhotoQualityFeatures)

# ----------------------------------------------------------------------------- recipe
POOLS = ("mean", "std")
TAP_NAMES = ("stem", *(f"block{i}" for i in range(16)), "head")
FEATURE_RECIPE = {
    "name": f"lite0-alltaps-meanstd-{RECIPE}",
    "backbone": PACKAGE,
    "architecture": "quality.image.efficientnet_lite.EfficientNetLite0 (plain torch, TF SAME padding)",
    "input": f"RGB resized (PIL Lanczos) so the long side is {LONG_SIDE} px (smaller photos enlarged) and both sides "
             f"are multiples of {MULTIPLE} (quality.image.quality_features.network_size); no crop, no letterbox; "
             "(pixel - 127) / 128; onnxruntime (the served export)",
    "taps": "outputs of the stem (ReLU6), each of the 16 MBConv blocks (after the residual add, before any "
            "activation) and the 1280-channel head (ReLU6)",
    "tap_channels": list(TAP_CHANNELS),
    "pooling": "per tap: spatial mean of every channel, then spatial standard deviation (population) of "
               "every channel; taps concatenated in network order, means before stds within a tap",
    "dim": FEATURE_DIM,
}

# ----------------------------------------------------------------------------- folds, heads
FOLD_SALT = "clive-v1:"
N_FOLDS = 5
FOLD_RULE = f"int(sha256(('{FOLD_SALT}' + file_name).encode()).hexdigest()[:8], 16) % {N_FOLDS}"
PAIR_MOS_GAP = 10.0  # pairwise accuracy counts pairs whose MOS differs by at least this
RIDGE_ALPHAS = np.logspace(-1, 5, 25)
MLP = {"hidden": 64, "dropout": 0.2, "weight_decay": 1.0, "lr": 1e-3, "steps": 400, "rank_weight": 1.0,
       "rank_min_gap": 5.0, "rank_scale": 4.0, "seed": 0}
HEAD_FILE, METRICS_FILE, PREDICTIONS_FILE = "photo_quality_head.npz", "metrics.json", "cv_predictions.csv"
DEFAULT_CACHE = Path("/tmp/photoq")


def fold_of(name: str) -> int:
    """The CV fold (0-4) of a photo, fixed by its file name."""
    return int(hashlib.sha256((FOLD_SALT + name).encode()).hexdigest()[:8], 16) % N_FOLDS


# ----------------------------------------------------------------------------- features
def photo_features(pil: Image.Image, extractor: PhotoQualityFeatures | None = None) -> np.ndarray:
    """The feature vector of one photo (FEATURE_RECIPE), as the service computes it."""
    return (extractor or PhotoQualityFeatures()).features(np.asarray(pil.convert("RGB")))


def recipe_key(weights: Path) -> str:
    blob = json.dumps({**FEATURE_RECIPE, "weights_sha256": sha256_file(weights)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_or_extract(names: list[str], image_dir: Path, cache: Path) -> tuple[np.ndarray, dict]:
    """Features of all photos [n, 6240], from the cache when its recipe and names match."""
    extractor = PhotoQualityFeatures()
    path = Path(cache) / f"features-{FEATURE_RECIPE['name']}-{recipe_key(packaged_weights_path())}.npz"
    if path.is_file():
        with np.load(path) as cached:
            if list(cached["names"]) == names:
                print(f"features: cached {path}")
                return cached["features"], {"cached": str(path), "ms_per_photo": float(cached["ms_per_photo"])}
    features, seconds = np.zeros((len(names), FEATURE_DIM), np.float32), 0.0
    for i, name in enumerate(names):
        with Image.open(image_dir / name) as pil:
            pil.load()
            started = time.perf_counter()
            features[i] = photo_features(pil, extractor)
            seconds += time.perf_counter() - started
        if i % 200 == 0:
            print(f"features: {i}/{len(names)} ({seconds:.0f} s in the network)", flush=True)
    ms = seconds / len(names) * 1000
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, names=np.array(names), features=features, ms_per_photo=ms)
    return features, {"cached": str(path), "ms_per_photo": ms}


# ----------------------------------------------------------------------------- metrics
def quality_metrics(mos: np.ndarray, pred: np.ndarray) -> dict:
    """Spearman, Pearson, Kendall, and pairwise accuracy on pairs whose MOS differs by >= 10 (ties 1/2)."""
    mos, pred = np.asarray(mos, float), np.asarray(pred, float)
    i, j = np.triu_indices(len(mos), 1)
    far = np.abs(mos[i] - mos[j]) >= PAIR_MOS_GAP
    higher = mos[i] > mos[j]
    winner, loser = np.where(higher, pred[i], pred[j])[far], np.where(higher, pred[j], pred[i])[far]
    return {"spearman": float(stats.spearmanr(mos, pred)[0]), "pearson": float(stats.pearsonr(mos, pred)[0]),
            "kendall": float(stats.kendalltau(mos, pred)[0]),
            "pairwise": pairwise_accuracy(winner, loser)["pairwise_accuracy"], "pairs": int(far.sum()), "n": len(mos)}


def summarise(per_fold: list[dict]) -> dict:
    keys = ("spearman", "pearson", "kendall", "pairwise")
    return {"mean": {k: float(np.mean([f[k] for f in per_fold])) for k in keys},
            "std": {k: float(np.std([f[k] for f in per_fold])) for k in keys}, "folds": per_fold}


def paired_bootstrap(mos: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int = 1000) -> dict:
    """Spearman(a) - Spearman(b) on pooled out-of-fold predictions, with a 95% interval over resampled photos."""
    rng = np.random.default_rng(20261206)
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, len(mos), len(mos))
        diffs.append(stats.spearmanr(mos[idx], a[idx])[0] - stats.spearmanr(mos[idx], b[idx])[0])
    return {"difference": float(stats.spearmanr(mos, a)[0] - stats.spearmanr(mos, b)[0]),
            "interval_95": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]}


# ----------------------------------------------------------------------------- heads
class RidgeHead:
    """Ridge on standardised features; score = ((x - mean) / scale) @ coef + intercept."""

    kind = "ridge"

    def __init__(self, mean, scale, coef, intercept, alpha):
        self.mean, self.scale, self.coef = mean, scale, coef
        self.intercept, self.alpha = float(intercept), float(alpha)

    @staticmethod
    def _path(X: np.ndarray, y: np.ndarray, alphas) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        mean, scale = X.mean(0), X.std(0) + 1e-8
        u, s, vt = np.linalg.svd((X - mean) / scale, full_matrices=False)
        uty = u.T @ (y - y.mean())
        coefs = np.stack([vt.T @ (s / (s ** 2 + a) * uty) for a in alphas])
        return mean, scale, coefs, float(y.mean())

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> "RidgeHead":
        """Alpha by leave-one-group-out CV over `groups` (Spearman), then refit on all of X."""
        X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
        inner = np.zeros((len(y), len(RIDGE_ALPHAS)))
        for g in np.unique(groups):
            train = groups != g
            mean, scale, coefs, intercept = cls._path(X[train], y[train], RIDGE_ALPHAS)
            inner[~train] = ((X[~train] - mean) / scale) @ coefs.T + intercept
        best = RIDGE_ALPHAS[int(np.argmax([stats.spearmanr(y, inner[:, a])[0] for a in range(len(RIDGE_ALPHAS))]))]
        mean, scale, coefs, intercept = cls._path(X, y, [best])
        return cls(mean, scale, coefs[0], intercept, best)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return ridge_predict({"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}, X)

    def arrays(self) -> dict:
        return {"mean": self.mean.astype(np.float32), "scale": self.scale.astype(np.float32),
                "coef": self.coef.astype(np.float32), "intercept": np.float32(self.intercept)}

    def meta(self) -> dict:
        return {"alpha": self.alpha}


class MlpHead:
    """6240 -> 64 -> 1 MLP (GELU, tanh form) trained on MSE + pairwise logistic ranking loss (torch);
    prediction in numpy."""

    kind = "mlp"

    def __init__(self, arrays: dict):
        self.a = arrays

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            copies: tuple[np.ndarray, np.ndarray, float] | None = None) -> "MlpHead":
        """`copies` = (features of photos, of their degraded copies, weight) adds a logistic ranking
        term putting each photo above its copy (train.photo_quality_pairs); None: ratings alone."""
        import torch
        from torch import nn

        torch.manual_seed(MLP["seed"])
        mean, scale = X.mean(0), X.std(0) + 1e-8
        y_mean, y_scale = float(y.mean()), float(y.std())
        xt = torch.tensor((X - mean) / scale, dtype=torch.float32)
        yt = torch.tensor((y - y_mean) / y_scale, dtype=torch.float32)
        if copies is not None:
            better, worse = (torch.tensor((side - mean) / scale, dtype=torch.float32) for side in copies[:2])
        first, last = nn.Linear(X.shape[1], MLP["hidden"]), nn.Linear(MLP["hidden"], 1)
        net = nn.Sequential(nn.Dropout(MLP["dropout"]), first, nn.GELU(approximate="tanh"), nn.Dropout(MLP["dropout"]),
                            last)
        optimiser = torch.optim.AdamW(net.parameters(), lr=MLP["lr"], weight_decay=MLP["weight_decay"])
        diff = yt[:, None] - yt[None, :]
        pairs = (diff.abs() * y_scale >= MLP["rank_min_gap"]).float()
        sign = torch.sign(diff)
        net.train()
        for _ in range(MLP["steps"]):
            pred = net(xt)[:, 0]
            loss = ((pred - yt) ** 2).mean()
            margin = sign * (pred[:, None] - pred[None, :]) * MLP["rank_scale"]
            loss = loss + MLP["rank_weight"] * (nn.functional.softplus(-margin) * pairs).sum() / pairs.sum()
            if copies is not None:
                gap = (net(better)[:, 0] - net(worse)[:, 0]) * MLP["rank_scale"]
                loss = loss + copies[2] * nn.functional.softplus(-gap).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        as_np = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
        return cls({"mean": mean.astype(np.float32), "scale": scale.astype(np.float32), "w1": as_np(first.weight.T),
                    "b1": as_np(first.bias), "w2": as_np(last.weight[0]), "b2": as_np(last.bias[0]),
                    "y_mean": np.float32(y_mean), "y_scale": np.float32(y_scale)})

    def predict(self, X: np.ndarray) -> np.ndarray:
        return mlp_predict(self.a, X)

    def arrays(self) -> dict:
        return self.a

    def meta(self) -> dict:
        return dict(MLP)


HEADS = {"ridge": RidgeHead, "mlp": MlpHead}


def cross_validate(head: type, X: np.ndarray, y: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, list[dict], list]:
    """Out-of-fold predictions, per-fold metrics and what each fold's head chose."""
    oof, chosen = np.zeros(len(y)), []
    for k in range(N_FOLDS):
        train = folds != k
        fitted = head.fit(X[train], y[train], folds[train])
        oof[~train] = fitted.predict(X[~train])
        chosen.append(fitted.meta().get("alpha"))
    return oof, [quality_metrics(y[folds == k], oof[folds == k]) for k in range(N_FOLDS)], chosen


# ----------------------------------------------------------------------------- baselines
def baseline_scores(names: list[str], image_dir: Path, cache: Path) -> tuple[dict[str, np.ndarray], dict]:
    """BRISQUE, NIQE and sharpness of every photo, signed higher = better (cached); and ms per photo."""
    from eval.iqa_baselines import SCORERS, higher_is_better

    path = Path(cache) / "baselines-v1.npz"
    if path.is_file():
        with np.load(path) as cached:
            if list(cached["names"]) == names:
                return ({k: np.array([higher_is_better(k, v) for v in cached[k]]) for k in SCORERS},
                        {k: float(cached[f"ms_{k}"]) for k in SCORERS})
    raw, seconds = {k: [] for k in SCORERS}, dict.fromkeys(SCORERS, 0.0)
    for i, name in enumerate(names):
        with Image.open(image_dir / name) as pil:
            pil.load()
            for k, scorer in SCORERS.items():
                started = time.perf_counter()
                raw[k].append(scorer(pil))
                seconds[k] += time.perf_counter() - started
        if i % 200 == 0:
            print(f"baselines: {i}/{len(names)}", flush=True)
    ms = {k: s / len(names) * 1000 for k, s in seconds.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, names=np.array(names), **{k: np.array(v) for k, v in raw.items()},
             **{f"ms_{k}": v for k, v in ms.items()})
    return {k: np.array([higher_is_better(k, v) for v in vals]) for k, vals in raw.items()}, ms


def composition_scores(names: list[str], image_dir: Path, cache: Path) -> tuple[np.ndarray, float]:
    """The served composition head's learned score of every photo (today's photo score before the
    perceived quality joined it), cached by the head file's sha256."""
    from quality.image.cnn import PhotoNetwork
    from quality.image.cnn_build import ensure_effnet_onnx
    from quality.image.composition_head import CompositionHead
    from quality.settings import get_settings

    settings = get_settings()
    head_file = settings.models_dir / "composition" / "composition_head.npz"
    path = Path(cache) / f"composition-baseline-{sha256_file(head_file)[:12]}.npz"
    if path.is_file():
        with np.load(path) as cached:
            if list(cached["names"]) == names:
                return cached["score"], float(cached["ms"])
    network = PhotoNetwork(ensure_effnet_onnx(settings.cache_dir), threads=1)
    head = CompositionHead.load(head_file)
    scores, started = [], time.perf_counter()
    for name in names:
        with Image.open(image_dir / name) as pil:
            scores.append(float(head.score(network.run([np.asarray(pil.convert("RGB"))])[0].features)[0]))
    ms = (time.perf_counter() - started) / len(names) * 1000
    np.savez(path, names=np.array(names), score=np.array(scores), ms=ms)
    return np.array(scores), ms


# ----------------------------------------------------------------------------- run
def read_ratings(data: Path) -> tuple[list[str], np.ndarray]:
    with open(Path(data) / "clive_mos.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["image"] for r in rows], np.array([float(r["mos"]) for r in rows])


def print_table(title: str, per_fold: list[dict]) -> None:
    print(f"\n{title}")
    print("  fold      n  spearman  pearson  kendall  pairwise(>=10)")
    for k, f in enumerate(per_fold):
        print(f"  {k:>4} {f['n']:>6}  {f['spearman']:8.4f} {f['pearson']:8.4f} {f['kendall']:8.4f}  "
              f"{f['pairwise']:8.4f}")
    s = summarise(per_fold)
    m, sd = s["mean"], s["std"]
    print(f"  mean {sum(f['n'] for f in per_fold):>6}  {m['spearman']:8.4f} {m['pearson']:8.4f} {m['kendall']:8.4f}  "
          f"{m['pairwise']:8.4f}   (fold sd of Spearman {sd['spearman']:.4f})")


def head_meta(kind: str, head, mos: np.ndarray, cv_spearman: float | None) -> dict:
    """What a written head file records of how it was made (read back by `PerceivedQualityHead`)."""
    return {"head": kind, **head.meta(), "target": "CLIVE MOS (0-100, higher = better perceived quality)",
            "feature_recipe": FEATURE_RECIPE, "backbone_weights_sha256": sha256_file(packaged_weights_path()),
            "rows": len(mos), "mos_range": [float(mos.min()), float(mos.max())], "fold_rule": FOLD_RULE,
            "cv_spearman": cv_spearman}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with clive/ and clive_mos.csv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="feature and baseline cache (not the repo)")
    parser.add_argument("--head", choices=sorted(HEADS), default="mlp", help="the head written to --out")
    parser.add_argument("--skip-mlp-cv", action="store_true", help="cross-validate ridge only (the MLP takes ~3 min)")
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    names, mos = read_ratings(args.data)
    image_dir = args.data / "clive"
    folds = np.array([fold_of(n) for n in names])
    X, extraction = load_or_extract(names, image_dir, args.cache)
    print(f"{len(names)} photos, {X.shape[1]} features, folds {np.bincount(folds).tolist()}, "
          f"{extraction['ms_per_photo']:.0f} ms per photo in the network (one thread)")

    results: dict = {"heads": {}, "baselines": {}}
    heads = ["ridge"] if args.skip_mlp_cv else ["ridge", "mlp"]
    predictions = {}
    for name in heads:
        started = time.perf_counter()
        oof, per_fold, chosen = cross_validate(HEADS[name], X, mos, folds)
        predictions[name] = oof
        alphas = f", alphas {[f'{a:.0f}' for a in chosen]}" if name == "ridge" else ""
        print_table(f"head {name} ({time.perf_counter() - started:.0f} s){alphas}", per_fold)
        results["heads"][name] = {**summarise(per_fold), "pooled_out_of_fold": quality_metrics(mos, oof),
                                  **({"alphas": chosen} if name == "ridge" else {"hyper_parameters": MLP})}

    if len(predictions) == 2:
        results["mlp_minus_ridge_spearman"] = paired_bootstrap(mos, predictions["mlp"], predictions["ridge"])
        print(f"\nmlp - ridge, pooled out-of-fold Spearman: {results['mlp_minus_ridge_spearman']}")

    if not args.skip_baselines:
        scores, ms = baseline_scores(names, image_dir, args.cache)
        scores["composition_head"], ms["composition_head"] = composition_scores(names, image_dir, args.cache)
        for name, score in scores.items():
            per_fold = [quality_metrics(mos[folds == k], score[folds == k]) for k in range(N_FOLDS)]
            print_table(f"baseline {name} (not trained on CLIVE; signed higher = better; {ms[name]:.0f} ms/photo)",
                        per_fold)
            results["baselines"][name] = {**summarise(per_fold), "all_photos": quality_metrics(mos, score),
                                          "ms_per_photo": ms[name]}

    head = HEADS[args.head].fit(X, mos, folds)
    meta = head_meta(args.head, head, mos, results["heads"][args.head]["mean"]["spearman"]
                     if args.head in results["heads"] else None)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / PREDICTIONS_FILE, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "fold", "mos", *(f"cv_{h}" for h in predictions)])
        for i, name in enumerate(names):
            writer.writerow([name, folds[i], mos[i], *(f"{predictions[h][i]:.3f}" for h in predictions)])
    write_head_file(args.out / HEAD_FILE, meta, **head.arrays())
    reloaded = PerceivedQualityHead.load(args.out / HEAD_FILE)  # as the service reads it
    drift = float(np.abs(reloaded.mos(X[:50]) - head.predict(X[:50])).max())
    metrics = {"data": "CLIVE (LIVE In the Wild Image Quality Challenge), 1,169 photos, clive_mos.csv",
               "fold_rule": FOLD_RULE, "folds": np.bincount(folds).tolist(), "feature_recipe": FEATURE_RECIPE,
               "feature_ms_per_photo_one_thread": extraction["ms_per_photo"],
               "pairwise_rule": f"pairs whose MOS differs by >= {PAIR_MOS_GAP:g}; ties count 1/2",
               "shipped_head": args.head, "shipped_head_file": HEAD_FILE,
               "head_file_float32_max_drift": drift, **results}
    (args.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out / HEAD_FILE} ({(args.out / HEAD_FILE).stat().st_size / 1024:.0f} kB, head {args.head}, "
          f"float32 drift {drift:.2e}) and {args.out / METRICS_FILE}")


if __name__ == "__main__":
    main()
