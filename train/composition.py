"""Train the learned composition head on pairs (original photo > its degraded copy) and write its card.

    python -m train.composition train     # features (cached), head, models/composition/
    python -m train.composition pairs --out DIR   # the held-out pairs as JPEGs + pairs.csv

No rated photo set can be had here, so the head learns what view-proposal and cropping
research learns from unrated photos: an original ranks above a copy of itself that was
cropped through the subject, pushed off balance, zoomed in too far, tilted, blurred, badly
exposed or made noisy (`quality.image.degrade`). The photos are `../shared/data/photos/`
(cars/ and general/, and CLIVE's better-rated photos); one in five, chosen by a hash of its name,
is held out and never trained on. The rest are cross-fitted (FOLDS heads, each scoring the fold it
never saw; the served head is their mean), and every level the score is read against comes from
out-of-fold utilities; the held-out split is only measured, per family, after the head is fixed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from eval import metrics as eval_metrics
from quality.image.cnn import PhotoNetwork
from quality.image.cnn_build import PACKAGE, ensure_effnet_onnx
from quality.image.composition_head import CompositionHead
from quality.image.degrade import FAMILIES, GEOMETRIC, degrade
from quality.settings import get_settings
from quality.artifacts import cache_dir

FOLDERS = ("cars", "general", "clive")
CLIVE_MIN_MOS = 60.0  # about CLIVE's upper half (median MOS 59.5)
CONTENT_LABELS = Path(__file__).resolve().parents[1] / "data" / "photos" / "content.csv"
CONTENT_C = 0.1  # the content classifier's inverse L2 strength (pooled features are not standardised)
MIN_CLASS_PHOTOS = 5  # a class median is reported from this many photos
CONTENT_CLASSES = ("car", "landscape", "city", "night", "people", "interior", "object")
HELD_OUT_EVERY = 5  # one photo in five is held out
VALIDATION_EVERY = 5  # of the rest, one in five is the validation split (it chose the setting and Q; now cross-fitted too)
TRAIN_SAMPLES = 2  # degraded copies per family per training photo
SEED = 20261127
EPOCHS = 20
POINTWISE_WEIGHT = 0.5
# The head's setting, chosen on the validation split for composition-head 2026.12.06 (the worst family
# over car and non-car photos): 8 composition channels; AdamW weight decay 5e-2 for 6 epochs (against
# 1e-4 for 20, which fits the training photos it memorises better and new non-car photos worse); an
# across-photo weight of 0.1 (0.5 left the class medians further apart: validation spread 0.79 vs 0.71).
CHANNELS, WEIGHT_DECAY, SETTING_EPOCHS, POINTWISE = 8, 5e-2, 6, 0.1
# Cross-fitting: the train and validation splits together are cut into FOLDS by a hash of the name; a
# head is trained on all folds but one, and scores the one it never saw. The served head is the mean of
# the FOLDS heads (one head with FOLDS x CHANNELS channels), and every level it is read against (the
# content classes' medians, the score's centre and scale) comes from out-of-fold utilities: the head
# memorises its training photos, so levels read off them say nothing about new photos.
FOLDS = 5
# Which families' pairs the head trains on (`train --families`): all, or the geometric ones alone
# (framing: cut, off balance, zoom, tilt), leaving blur, exposure and noise to perceived quality and
# the checks. Its figures are still read over every family.
TRAIN_FAMILIES = {"all": FAMILIES, "geometric": GEOMETRIC}
CARD_FILE, METRICS_FILE, HEAD_FILE = "MODEL_CARD.md", "metrics.json", "composition_head.npz"


def photo_split(name: str) -> str:
    """'held_out', 'validation' or 'train', fixed by a hash of 'folder/file'."""
    digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    if digest % HELD_OUT_EVERY == 0:
        return "held_out"
    return "validation" if (digest // HELD_OUT_EVERY) % VALIDATION_EVERY == 0 else "train"


def list_photos(photos_dir: Path, mos_csv: Path | None = None) -> list[str]:
    """'cars/…' and 'general/…' photos, plus 'clive/…' CLIVE photos rated at least CLIVE_MIN_MOS
    when `mos_csv` is given (CLIVE's lower-rated photos are not "good originals")."""
    names = []
    for folder in ("cars", "general"):
        names += sorted(f"{folder}/{p.name}" for p in (photos_dir / folder).iterdir()
                        if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if mos_csv is not None and mos_csv.exists():
        with open(mos_csv, encoding="utf-8") as handle:
            names += sorted(f"clive/{row['image']}" for row in csv.DictReader(handle)
                            if float(row["mos"]) >= CLIVE_MIN_MOS)
    return names


def photo_path(name: str, photos_dir: Path, mos_csv: Path | None) -> Path:
    folder, file = name.split("/", 1)
    if folder == "clive":
        return mos_csv.parent / "clive" / file
    return photos_dir / name


def read_content_labels(path: Path = CONTENT_LABELS) -> dict[str, str]:
    """The team's content class per photo (data/photos/content.csv); every cars/ photo is 'car'."""
    labels = {}
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            labels = {row["photo"]: row["content"] for row in csv.DictReader(handle)}
    return labels


def content_class(name: str, labels: dict[str, str]) -> str:
    return "car" if name.startswith("cars/") else labels.get(name, "unlabelled")


def photo_rng(name: str, family: str, sample: int) -> np.random.Generator:
    key = int(hashlib.sha1(f"{SEED}/{name}/{family}/{sample}".encode()).hexdigest()[:16], 16)
    return np.random.default_rng(key)


def load_photo(path: Path) -> Image.Image:
    image = Image.open(path)
    image.draft("RGB", (768, 768))
    return image.convert("RGB")


def extract(network: PhotoNetwork, paths: list[Path], names: list[str], samples: int) -> dict:
    """Features [P, C, 7, 7] of originals and [P, F, S, C, 7, 7] of their degraded copies (float16)."""
    originals, degraded, cars = [], [], []
    started = time.perf_counter()
    for i, (name, path) in enumerate(zip(names, paths)):
        image = load_photo(path)
        out = network.run([np.asarray(image)])[0]
        subject = network.subject_box(out)
        copies = [np.asarray(degrade(image, family, subject, photo_rng(name, family, s))[0])
                  for family in FAMILIES for s in range(samples)]
        outs = network.run(copies)
        originals.append(out.features.astype(np.float16))
        degraded.append(np.stack([o.features for o in outs]).astype(np.float16).reshape(
            len(FAMILIES), samples, *out.features.shape))
        cars.append(out.car_probability)
        if (i + 1) % 100 == 0:
            rate = (i + 1) / (time.perf_counter() - started)
            print(f"  {i + 1}/{len(names)} photos, {rate:.1f} photos/s", flush=True)
    return {"names": np.array(names), "original": np.stack(originals), "degraded": np.stack(degraded),
            "car_probability": np.array(cars, dtype=np.float32)}


def cached_features(network: PhotoNetwork, paths: list[Path], names: list[str], samples: int, cache: Path) -> dict:
    import inspect

    from quality.image import degrade as degrade_module

    recipe = [names, samples, SEED, FAMILIES, inspect.getsource(degrade_module)]  # a changed family re-extracts
    key = hashlib.sha1(json.dumps(recipe).encode()).hexdigest()[:12]
    path = cache / f"composition-features-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    data = extract(network, paths, names, samples)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def split_features(network: PhotoNetwork, args, names: list[str], samples: int) -> dict:
    """One split's features, extracted and cached folder by folder (adding a folder keeps the others)."""
    parts = []
    for folder in FOLDERS:
        part = [n for n in names if n.split("/", 1)[0] == folder]
        if part:
            paths = [photo_path(n, args.photos, args.mos) for n in part]
            parts.append(cached_features(network, paths, part, samples, args.cache))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


# ----------------------------------------------------------------------------- head
def photo_weights(names: np.ndarray, labels: dict[str, str]) -> np.ndarray:
    """Per-photo weights giving each content class (car, landscape, city, night, people, interior,
    object) the same total weight.

    cars/ holds most photos; unweighted, the head learns "a car press photo" as "a good photo"
    and scores a city at night low whatever its composition.
    """
    classes = np.array([content_class(str(n), labels) for n in names])
    weights = np.zeros(len(names))
    for cls in np.unique(classes):
        weights[classes == cls] = len(names) / (len(np.unique(classes)) * (classes == cls).sum())
    return weights


def fit_head(original: np.ndarray, degraded: np.ndarray, weights: np.ndarray, channels: int, weight_decay: float,
             pointwise: float = POINTWISE_WEIGHT, seed: int = SEED, epochs: int = EPOCHS,
             photos: np.ndarray | None = None):
    """Pairwise logistic loss on (original, each of its degraded copies), plus `pointwise` x a logistic
    loss of original (1) vs degraded (0) across photos, so that a well-made photo scores high whatever
    it shows, not only higher than its own degraded copies. Returns a torch module.

    `photos` (indices) trains on those photos only, without copying the arrays; features stay in
    their stored dtype (float16) and are converted a batch at a time."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Head(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.conv = nn.Conv2d(c, channels, 1)
            self.spatial = nn.Parameter(torch.zeros(channels, 7, 7))
            self.glob = nn.Linear(c, 1)

        def forward(self, f):
            reduced = torch.relu(self.conv(f))
            return (reduced * self.spatial).sum(dim=(1, 2, 3)) + self.glob(f.mean(dim=(2, 3))).squeeze(-1)

    p, fam, s = degraded.shape[:3]
    head = Head(original.shape[1])
    optimiser = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=weight_decay)
    orig = torch.from_numpy(np.ascontiguousarray(original))
    worse = torch.from_numpy(np.ascontiguousarray(degraded).reshape(p * fam * s, *degraded.shape[3:]))
    chosen = np.arange(p) if photos is None else np.asarray(photos)
    owner = np.repeat(chosen, fam * s)  # the photo of each training pair
    copy = (chosen[:, None] * fam * s + np.arange(fam * s)[None]).ravel()  # its row in `worse`
    pair_weight = torch.from_numpy(weights[owner].astype(np.float32))
    generator = np.random.default_rng(seed)
    batch = 512
    for epoch in range(epochs):
        order = generator.permutation(len(owner))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            w = pair_weight[idx]
            u_good, u_bad = head(orig[owner[idx]].float()), head(worse[copy[idx]].float())
            loss = (w * nn.functional.softplus(u_bad - u_good)).mean()
            # original -> 1, degraded -> 0; each original stands for its (fam * s) copies
            loss = loss + pointwise * (w * (nn.functional.softplus(-u_good) + nn.functional.softplus(u_bad))).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return head.eval()


def to_numpy_head(head, meta: dict | None = None) -> CompositionHead:
    """The torch head as a CompositionHead (no normaliser, centre 0, scale 1)."""
    import torch

    with torch.no_grad():
        return CompositionHead(
            conv=head.conv.weight[:, :, 0, 0].numpy(), conv_bias=head.conv.bias.numpy(),
            spatial=head.spatial.numpy(), global_weight=head.glob.weight[0].numpy(),
            bias=float(head.glob.bias[0]), center=0.0, scale=1.0, meta=meta or {})


def mean_head(heads: list[CompositionHead]) -> CompositionHead:
    """One head whose raw utility is the mean of `heads`' (their channels side by side)."""
    n = len(heads)
    return CompositionHead(conv=np.concatenate([h.conv for h in heads]),
                           conv_bias=np.concatenate([h.conv_bias for h in heads]),
                           spatial=np.concatenate([h.spatial for h in heads]) / n,
                           global_weight=np.mean([h.global_weight for h in heads], axis=0),
                           bias=float(np.mean([h.bias for h in heads])), center=0.0, scale=1.0)


def fold_of(name: str) -> int:
    return int(hashlib.sha1(f"fold:{name}".encode()).hexdigest(), 16) % FOLDS


def chunked(function, features: np.ndarray, chunk: int = 512) -> np.ndarray:
    """`function` over float32 chunks of float16 `features` (a whole split in float32 does not fit)."""
    return np.concatenate([function(features[i:i + chunk].astype(np.float32)) for i in range(0, len(features), chunk)])


def family_index(families: tuple[str, ...]) -> list[int]:
    return [FAMILIES.index(family) for family in families]


def cross_fit(pool: dict, labels: dict[str, str], families: tuple[str, ...] = FAMILIES
              ) -> tuple[list[CompositionHead], dict]:
    """FOLDS heads, each trained on every fold but one, on the pairs of `families` only; the out-of-fold
    raw utilities of the pool's originals [P] and of their first copy of every family [P, F], and each
    photo's fold."""
    folds = np.array([fold_of(str(n)) for n in pool["names"]])
    photos = pool["degraded"].shape[0]
    heads, original, copies = [], np.zeros(photos), np.zeros((photos, len(FAMILIES)))
    trained = pool["degraded"] if families == FAMILIES else pool["degraded"][:, family_index(families)]
    for k in range(FOLDS):
        train_rows, held = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        weights = np.zeros(photos)
        weights[train_rows] = photo_weights(pool["names"][train_rows], labels)
        head = to_numpy_head(fit_head(pool["original"], trained, weights, CHANNELS, WEIGHT_DECAY, POINTWISE,
                                      epochs=SETTING_EPOCHS, photos=train_rows))
        heads.append(head)
        original[held] = chunked(head.raw_utility, pool["original"][held])
        first = pool["degraded"][held, :, 0]
        copies[held] = chunked(head.raw_utility, first.reshape(-1, *first.shape[2:])).reshape(len(held), len(FAMILIES))
        print(f"  fold {k + 1}/{FOLDS} trained", flush=True)
    return heads, {"original": original, "copies": copies, "fold": folds}


def pooled(features: np.ndarray) -> np.ndarray:
    return chunked(lambda f: f.mean(axis=(2, 3)), features)


def pooled_features(pool: dict) -> dict:
    """The pool's pooled features, once: originals [P, C] and their first copy per family [P, F, C]."""
    first = pool["degraded"][:, :, 0]
    copies = pooled(first.reshape(-1, *first.shape[2:]))
    return {"original": pooled(pool["original"]), "copies": copies.reshape(first.shape[0], first.shape[1], -1)}


def content_classifier(names: np.ndarray, pooled_pool: dict, labels: dict[str, str], rows: np.ndarray | None = None):
    """A logistic regression from pooled features to the content class, on originals and their first
    copy per family (labelled with the original's class, so a darkened car photo is still a car
    photo), every class weighted the same; `rows` limits it to those photos. Returns the model, the
    classes present and each photo's class index."""
    from sklearn.linear_model import LogisticRegression

    classes = np.array([content_class(str(n), labels) for n in names])
    present = [c for c in CONTENT_CLASSES if (classes == c).any()]
    index = np.array([present.index(c) for c in classes])
    rows = np.arange(len(index)) if rows is None else rows
    copies = pooled_pool["copies"][rows]
    x = np.concatenate([pooled_pool["original"][rows], copies.reshape(-1, copies.shape[2])])
    y = np.concatenate([index[rows], np.repeat(index[rows], copies.shape[1])])
    counts = np.bincount(y, minlength=len(present)).astype(float)
    model = LogisticRegression(C=CONTENT_C, max_iter=3000).fit(x, y, sample_weight=len(y) / (len(present) * counts[y]))
    return model, present, index


def class_levels(utility: np.ndarray, index: np.ndarray, classes: int) -> np.ndarray:
    """Each content class's level: the median (out-of-fold) utility of its originals."""
    return np.array([np.median(utility[index == k]) for k in range(classes)])


def attach_normaliser(head: CompositionHead, names: np.ndarray, pooled_pool: dict, labels: dict[str, str],
                      oof: dict, families: tuple[str, ...] = FAMILIES) -> CompositionHead:
    """The content normaliser (quality.image.composition_head) and the score's centre and scale, all
    from out-of-fold utilities: class k's level is the median out-of-fold utility of its originals; the
    typical copy is a copy of the families the head was trained on."""
    model, present, index = content_classifier(names, pooled_pool, labels)
    centers = class_levels(oof["original"], index, len(present))
    head.content = {"content_weight": model.coef_.astype(np.float32),
                    "content_bias": model.intercept_.astype(np.float32),
                    "content_center": centers.astype(np.float32)}
    head.meta = {**head.meta, "content_classes": present, "content_c": CONTENT_C}
    trained = family_index(families)
    copies = pooled_pool["copies"][:, trained].reshape(-1, pooled_pool["copies"].shape[2])
    good = float(np.median(oof["original"] - head.content_probabilities(None, pooled_pool["original"]) @ centers))
    bad = float(np.median(oof["copies"][:, trained].reshape(-1) - head.content_probabilities(None, copies) @ centers))
    head.center, head.scale = (good + bad) / 2, max((good - bad) / 4, 1e-6)
    return head


def cross_validated_balance(head: CompositionHead, names: np.ndarray, pooled_pool: dict, labels: dict[str, str],
                            oof: dict) -> dict:
    """The class medians as new photos would see them, on all the pool's photos: each fold's
    originals scored by the head that never saw them, with the content classifier and the class levels
    fitted on the other folds (`head` lends only its centre and scale)."""
    from sklearn.metrics import roc_auc_score

    scores, copies = np.zeros(len(oof["fold"])), np.zeros_like(oof["copies"])
    for k in range(FOLDS):
        held, rest = oof["fold"] == k, np.flatnonzero(oof["fold"] != k)
        model, present, index = content_classifier(names, pooled_pool, labels, rest)
        centers = class_levels(oof["original"][rest], index[rest], len(present))
        held_copies = pooled_pool["copies"][held]
        u = oof["original"][held] - model.predict_proba(pooled_pool["original"][held]) @ centers
        v = oof["copies"][held].reshape(-1) - model.predict_proba(held_copies.reshape(-1, held_copies.shape[2])) @ centers
        scores[held] = 1 / (1 + np.exp(-(u - head.center) / head.scale))
        copies[held] = (1 / (1 + np.exp(-(v - head.center) / head.scale))).reshape(-1, copies.shape[1])
    classes = np.array([content_class(str(n), labels) for n in names])
    medians = {cls: round(float(np.median(scores[classes == cls])), 4)
               for cls in CONTENT_CLASSES if (classes == cls).sum() >= MIN_CLASS_PHOTOS}
    return {"median_original": medians, "count": {cls: int((classes == cls).sum()) for cls in medians},
            "median_spread": round(max(medians.values()) - min(medians.values()), 4),
            "auc_original_vs_degraded": round(float(roc_auc_score(
                np.r_[np.ones(len(scores)), np.zeros(copies.size)], np.r_[scores, copies.ravel()])), 4)}


def oof_pairwise(pool: dict, labels: dict[str, str], oof: dict) -> dict:
    """Per group and family: share of the pool's (original, first copy) pairs ordered right out of fold."""
    is_car = np.array([content_class(str(n), labels) == "car" for n in pool["names"]])
    result = {}
    for group, mask in (("car", is_car), ("non_car", ~is_car)):
        figures = {family: round(float((oof["original"][mask] > oof["copies"][mask, f]).mean()), 4)
                   for f, family in enumerate(FAMILIES)}
        figures["all"] = round(float(np.mean(list(figures.values()))), 4)
        result[group] = figures
    return result


def pairwise_accuracy(head: CompositionHead, original: np.ndarray, degraded: np.ndarray) -> dict:
    """Per family: share of (original, copy) pairs with the original's utility strictly higher."""
    u_orig = head.utility(original.astype(np.float32))
    result = {}
    for f, family in enumerate(FAMILIES):
        copies = degraded[:, f].astype(np.float32)
        u_deg = head.utility(copies.reshape(-1, *copies.shape[2:])).reshape(copies.shape[:2])
        accuracy = eval_metrics.pairwise_accuracy(u_orig[:, None], u_deg, tie_credit=0.0)["pairwise_accuracy"]
        result[family] = round(accuracy, 4)
    result["all"] = round(float(np.mean([result[f] for f in FAMILIES])), 4)
    return result


def pairwise_by_group(head: CompositionHead, split: dict, labels: dict[str, str]) -> dict:
    """`pairwise_accuracy` for car photos and for every other photo, separately."""
    is_car = np.array([content_class(str(n), labels) == "car" for n in split["names"]])
    return {group: pairwise_accuracy(head, split["original"][mask], split["degraded"][mask])
            for group, mask in (("car", is_car), ("non_car", ~is_car)) if mask.any()}


def content_balance(head: CompositionHead, split: dict, labels: dict[str, str]) -> dict:
    """Median score of the originals per content class, their spread (largest minus smallest
    median), and the AUC of original vs degraded across photos: whether the absolute score
    means the same for a car and a city at night."""
    from sklearn.metrics import roc_auc_score

    scores = head.score(split["original"].astype(np.float32))
    degraded = split["degraded"][:, :, 0]
    bad = head.score(degraded.reshape(-1, *degraded.shape[2:]).astype(np.float32))
    classes = np.array([content_class(str(n), labels) for n in split["names"]])
    medians = {cls: round(float(np.median(scores[classes == cls])), 4)
               for cls in CONTENT_CLASSES if (classes == cls).sum() >= MIN_CLASS_PHOTOS}
    return {"median_original": medians, "count": {cls: int((classes == cls).sum()) for cls in medians},
            "median_spread": round(max(medians.values()) - min(medians.values()), 4),
            "auc_original_vs_degraded": round(float(roc_auc_score(
                np.r_[np.ones(len(scores)), np.zeros(len(bad))], np.r_[scores, bad])), 4)}


# ----------------------------------------------------------------------------- commands
def train(args) -> None:
    settings = get_settings()
    build_dir = ensure_effnet_onnx(settings.cache_dir)
    network = PhotoNetwork(build_dir, threads=settings.threads)
    labels = read_content_labels(args.content)
    names = list_photos(args.photos, args.mos)
    split = {n: photo_split(n) for n in names}
    by_split = {s: [n for n in names if split[n] == s] for s in ("train", "validation", "held_out")}
    print({s: len(v) for s, v in by_split.items()}, flush=True)
    data = {s: split_features(network, args, v, TRAIN_SAMPLES if s != "held_out" else 1)
            for s, v in by_split.items()}
    if args.features_only:
        return

    # The train and validation splits together, cross-fitted (FOLDS heads, levels out of fold); the
    # held-out split is measured once, after.
    pool = {key: np.concatenate([data["train"][key], data["validation"][key]]) for key in data["train"]}
    del data["train"], data["validation"]
    families = TRAIN_FAMILIES[args.families]
    heads, oof = cross_fit(pool, labels, families)
    pooled_pool = pooled_features(pool)
    numpy_head = attach_normaliser(mean_head(heads), pool["names"], pooled_pool, labels, oof, families)
    cross_validated = {**oof_pairwise(pool, labels, oof),
                       "balance": cross_validated_balance(numpy_head, pool["names"], pooled_pool, labels, oof)}
    print(f"cross-validated ({FOLDS} folds of {len(pool['names'])} photos): {cross_validated}", flush=True)
    original, degraded = pool["original"], pool["degraded"]
    numpy_head.meta = {
        "name": "composition-head", "version": args.version or date.today().isoformat(), "backbone": PACKAGE,
        "families": list(families), "channels": CHANNELS, "weight_decay": WEIGHT_DECAY,
        "pointwise_weight": POINTWISE, "epochs": SETTING_EPOCHS, "folds": FOLDS, **numpy_head.meta,
        "trained_on": {"photos": len(original), "pairs": int(degraded.shape[0] * len(families) * degraded.shape[2]),
                       "per_class": {c: int(sum(content_class(str(n), labels) == c for n in pool["names"]))
                                     for c in CONTENT_CLASSES},
                       "normaliser_and_scale": f"out-of-fold utilities of the {len(original)} photos"}}
    held_out = pairwise_by_group(numpy_head, data["held_out"], labels)
    held_out["balance"] = content_balance(numpy_head, data["held_out"], labels)
    print(f"held-out (features in memory, no JPEG): {held_out}", flush=True)
    car = data["held_out"]["car_probability"]
    is_car = np.array([n.startswith("cars/") for n in data["held_out"]["names"]])
    from sklearn.metrics import roc_auc_score

    car_metrics = {"auc": round(float(roc_auc_score(is_car, car)), 4),
                   "accuracy_at_0.5": round(float(((car >= 0.5) == is_car).mean()), 4),
                   "n_cars": int(is_car.sum()), "n_other": int((~is_car).sum())}
    print(f"car evidence on held-out photos (cars/ vs every other photo): {car_metrics}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    numpy_head.save(args.out / HEAD_FILE)
    metrics = {"split": {s: len(v) for s, v in by_split.items()}, "clive_min_mos": CLIVE_MIN_MOS,
               "setting": {"channels": CHANNELS, "weight_decay": WEIGHT_DECAY, "epochs": SETTING_EPOCHS,
                           "pointwise_weight": POINTWISE, "folds": FOLDS, "families": list(families)},
               "cross_validated": cross_validated,
               "held_out_in_memory": held_out, "car_evidence_held_out": car_metrics}
    (args.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / HEAD_FILE} and {args.out / METRICS_FILE}")


def resized(image: Image.Image, long_side: int) -> Image.Image:
    """`image` with its long side at `long_side` (never enlarged); 0 keeps it."""
    if not long_side or max(image.size) <= long_side:
        return image
    scale = long_side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def _pairs_order(name: str) -> str:
    """The fixed order photos are taken in when only some are written (a hash of the name)."""
    return hashlib.sha256(f"pairs:{name}".encode()).hexdigest()


def write_pairs(args) -> None:
    """A split's photos and one degraded copy per family, as JPEG (quality 92 on both sides), with
    each photo's content class and a `group` column (family x car / non_car) for `--group-col`."""
    settings = get_settings()
    network = PhotoNetwork(ensure_effnet_onnx(settings.cache_dir), threads=settings.threads)
    labels = read_content_labels(args.content)
    if args.split == "clive_low":  # CLIVE's photos rated under CLIVE_MIN_MOS: no photo head trained on them as an original
        with open(args.mos, encoding="utf-8") as handle:
            names = sorted((f"clive/{row['image']}" for row in csv.DictReader(handle)
                            if float(row["mos"]) < CLIVE_MIN_MOS), key=_pairs_order)
    else:
        names = [n for n in list_photos(args.photos, args.mos) if photo_split(n) == args.split]
    if args.per_class:  # the first N of each content class, in an order fixed by a hash of the name
        order = sorted(names, key=_pairs_order)
        names = [n for cls in CONTENT_CLASSES for n in [m for m in order if content_class(m, labels) == cls]
                 [:args.per_class]]
    if args.limit:
        names = names[:args.limit]
    out = args.out
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        image = resized(load_photo(photo_path(name, args.photos, args.mos)), args.size)
        subject = network.subject_box(network.run([np.asarray(image)])[0])
        stem = name.replace("/", "_").rsplit(".", 1)[0]
        original = f"images/{stem}.jpg"
        image.save(out / original, quality=92)
        cls = content_class(name, labels)
        for family in FAMILIES:
            copy, _ = degrade(image, family, subject, photo_rng(name, family, 0))
            worse = f"images/{stem}.{family}.jpg"
            copy.save(out / worse, quality=92)
            rows.append({"better": original, "worse": worse, "family": family, "photo": name, "content": cls,
                         "group": f"{family}/{'car' if cls == 'car' else 'non_car'}"})
    with open(out / "pairs.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["better", "worse", "family", "photo", "content", "group"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} pairs of {len(names)} {args.split} photos to {out / 'pairs.csv'}")


def measure(args) -> None:
    """A head file's held-out figures on the cached features (e.g. an earlier head beside the new one)."""
    labels = read_content_labels(args.content)
    names = [n for n in list_photos(args.photos, args.mos) if photo_split(n) == "held_out"]
    network = PhotoNetwork(ensure_effnet_onnx(get_settings().cache_dir), threads=get_settings().threads)
    held_out = split_features(network, args, names, 1)
    head = CompositionHead.load(args.head)
    figures = pairwise_by_group(head, held_out, labels)
    figures["balance"] = content_balance(head, held_out, labels)
    print(json.dumps({"head": str(args.head), "version": head.meta.get("version"), "held_out_in_memory": figures}))


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="extract features, fit the head, write models/composition/")
    train_parser.add_argument("--photos", type=Path, default=settings.data_dir / "photos")
    train_parser.add_argument("--mos", type=Path, default=settings.data_dir / "photos_mos" / "clive_mos.csv",
                              help="CLIVE ratings: its photos rated >= CLIVE_MIN_MOS join as originals")
    train_parser.add_argument("--out", type=Path, default=settings.models_dir / "composition")
    train_parser.add_argument("--cache", type=Path, default=cache_dir(settings.cache_dir))
    train_parser.add_argument("--content", type=Path, default=CONTENT_LABELS, help="the team's content classes")
    train_parser.add_argument("--version", default="", help="the head's version (default: today)")
    train_parser.add_argument("--features-only", action="store_true", help="extract and cache features, then stop")
    train_parser.add_argument("--families", choices=sorted(TRAIN_FAMILIES), default="geometric",
                              help="the degraded families the head trains on (figures cover every family); "
                                   "geometric since composition-head 2026.12.07-geometric")
    measure_parser = commands.add_parser("measure", help="a head file's held-out figures (in memory)")
    measure_parser.add_argument("--head", type=Path, required=True, help="a composition_head.npz")
    measure_parser.add_argument("--photos", type=Path, default=settings.data_dir / "photos")
    measure_parser.add_argument("--mos", type=Path, default=settings.data_dir / "photos_mos" / "clive_mos.csv")
    measure_parser.add_argument("--cache", type=Path, default=cache_dir(settings.cache_dir))
    measure_parser.add_argument("--content", type=Path, default=CONTENT_LABELS, help="the team's content classes")
    pairs_parser = commands.add_parser("pairs", help="write a split's (original, degraded) pairs as JPEG + pairs.csv")
    pairs_parser.add_argument("--photos", type=Path, default=settings.data_dir / "photos")
    pairs_parser.add_argument("--mos", type=Path, default=settings.data_dir / "photos_mos" / "clive_mos.csv")
    pairs_parser.add_argument("--out", type=Path, required=True)
    pairs_parser.add_argument("--split", choices=("held_out", "validation", "train", "clive_low"), default="held_out",
                              help="clive_low: CLIVE's photos rated under CLIVE_MIN_MOS, in an order fixed by a hash "
                                   "(never an original in composition or level training: a development set)")
    pairs_parser.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    pairs_parser.add_argument("--per-class", type=int, default=0, help="N photos of each content class (0: all)")
    pairs_parser.add_argument("--size", type=int, default=0, help="resize photos to this long side first (0: keep)")
    pairs_parser.add_argument("--content", type=Path, default=CONTENT_LABELS, help="the team's content classes")
    args = parser.parse_args(argv)
    {"train": train, "pairs": write_pairs, "measure": measure}[args.command](args)


if __name__ == "__main__":
    main()
