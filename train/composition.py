"""Train the learned composition head on pairs (original photo > its degraded copy) and write its card.

    python -m train.composition train     # features (cached), head, models/composition/
    python -m train.composition pairs --out DIR   # the held-out pairs as JPEGs + pairs.csv

No rated photo set can be had here, so the head learns what view-proposal and cropping
research learns from unrated photos: an original ranks above a copy of itself that was
cropped through the subject, pushed off balance, zoomed in too far, tilted, blurred, badly
exposed or made noisy (`quality.image.degrade`). The photos are `../shared/data/photos/`
(cars/ and general/); one in five, chosen by a hash of its name, is held out and never
trained on. Hyper-parameters are chosen on a validation part of the training photos;
the held-out split is only measured, per family, after the head is fixed.
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
from quality.image.degrade import FAMILIES, degrade
from quality.settings import get_settings
from quality.artifacts import cache_dir

FOLDERS = ("cars", "general")
HELD_OUT_EVERY = 5  # one photo in five is held out
VALIDATION_EVERY = 5  # of the rest, one in five validates hyper-parameters
TRAIN_SAMPLES = 2  # degraded copies per family per training photo
SEED = 20261127
REDUCED_CHANNELS = (8,)
WEIGHT_DECAYS = (1e-4,)  # one setting: each fit takes ~8 min on 2 cores; it passed validation
EPOCHS = 20
POINTWISE_WEIGHT = 0.5
CARD_FILE, METRICS_FILE, HEAD_FILE = "MODEL_CARD.md", "metrics.json", "composition_head.npz"


def photo_split(name: str) -> str:
    """'held_out', 'validation' or 'train', fixed by a hash of 'folder/file'."""
    digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    if digest % HELD_OUT_EVERY == 0:
        return "held_out"
    return "validation" if (digest // HELD_OUT_EVERY) % VALIDATION_EVERY == 0 else "train"


def list_photos(photos_dir: Path) -> list[str]:
    names = []
    for folder in FOLDERS:
        names += sorted(f"{folder}/{p.name}" for p in (photos_dir / folder).iterdir()
                        if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return names


def photo_rng(name: str, family: str, sample: int) -> np.random.Generator:
    key = int(hashlib.sha1(f"{SEED}/{name}/{family}/{sample}".encode()).hexdigest()[:16], 16)
    return np.random.default_rng(key)


def load_photo(path: Path) -> Image.Image:
    image = Image.open(path)
    image.draft("RGB", (768, 768))
    return image.convert("RGB")


def extract(network: PhotoNetwork, photos_dir: Path, names: list[str], samples: int) -> dict:
    """Features [P, C, 7, 7] of originals and [P, F, S, C, 7, 7] of their degraded copies (float16)."""
    originals, degraded, cars = [], [], []
    started = time.perf_counter()
    for i, name in enumerate(names):
        image = load_photo(photos_dir / name)
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


def cached_features(network: PhotoNetwork, photos_dir: Path, names: list[str], samples: int, cache: Path) -> dict:
    import inspect

    from quality.image import degrade as degrade_module

    recipe = [names, samples, SEED, FAMILIES, inspect.getsource(degrade_module)]  # a changed family re-extracts
    key = hashlib.sha1(json.dumps(recipe).encode()).hexdigest()[:12]
    path = cache / f"composition-features-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    data = extract(network, photos_dir, names, samples)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


# ----------------------------------------------------------------------------- head
def photo_weights(names: np.ndarray) -> np.ndarray:
    """Per-photo weights giving each folder (cars/, general/) the same total weight.

    cars/ has seven times more photos; unweighted, the head learns "a car press photo" as
    "a good photo" and scores landscapes low whatever their composition.
    """
    folders = np.array([str(n).split("/", 1)[0] for n in names])
    weights = np.zeros(len(names))
    for folder in np.unique(folders):
        weights[folders == folder] = len(names) / (len(np.unique(folders)) * (folders == folder).sum())
    return weights


def fit_head(original: np.ndarray, degraded: np.ndarray, weights: np.ndarray, channels: int, weight_decay: float,
             pointwise: float = POINTWISE_WEIGHT, seed: int = SEED):
    """Pairwise logistic loss on (original, each of its degraded copies), plus `pointwise` x a logistic
    loss of original (1) vs degraded (0) across photos, so that a well-made photo scores high whatever
    it shows, not only higher than its own degraded copies. Returns a torch module."""
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
    orig = torch.from_numpy(original.astype(np.float32))
    worse = torch.from_numpy(degraded.reshape(p * fam * s, *degraded.shape[3:]).astype(np.float32))
    owner = np.repeat(np.arange(p), fam * s)
    pair_weight = torch.from_numpy(weights[owner].astype(np.float32))
    generator = np.random.default_rng(seed)
    batch = 512
    for epoch in range(EPOCHS):
        order = generator.permutation(len(owner))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            w = pair_weight[idx]
            u_good, u_bad = head(orig[owner[idx]]), head(worse[idx])
            loss = (w * nn.functional.softplus(u_bad - u_good)).mean()
            # original -> 1, degraded -> 0; each original stands for its (fam * s) copies
            loss = loss + pointwise * (w * (nn.functional.softplus(-u_good) + nn.functional.softplus(u_bad))).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return head.eval()


def to_numpy_head(head, original: np.ndarray, degraded: np.ndarray, meta: dict) -> CompositionHead:
    import torch

    with torch.no_grad():
        numpy_head = CompositionHead(
            conv=head.conv.weight[:, :, 0, 0].numpy(), conv_bias=head.conv.bias.numpy(),
            spatial=head.spatial.numpy(), global_weight=head.glob.weight[0].numpy(),
            bias=float(head.glob.bias[0]), center=0.0, scale=1.0, meta=meta)
    u_orig = numpy_head.utility(original.astype(np.float32))
    u_deg = numpy_head.utility(degraded.reshape(-1, *degraded.shape[3:]).astype(np.float32))
    good, bad = float(np.median(u_orig)), float(np.median(u_deg))
    numpy_head.center, numpy_head.scale = (good + bad) / 2, max((good - bad) / 4, 1e-6)
    return numpy_head


def pairwise_accuracy(head: CompositionHead, original: np.ndarray, degraded: np.ndarray) -> dict:
    """Per family: share of (original, copy) pairs with the original's utility strictly higher."""
    u_orig = head.utility(original.astype(np.float32))
    result = {}
    for f, family in enumerate(FAMILIES):
        copies = degraded[:, f].astype(np.float32)
        u_deg = head.utility(copies.reshape(-1, *copies.shape[2:])).reshape(copies.shape[:2])
        result[family] = round(eval_metrics.pairwise_accuracy(u_orig[:, None], u_deg, tie_credit=0.0)["pairwise_accuracy"], 4)
    result["all"] = round(float(np.mean([result[f] for f in FAMILIES])), 4)
    return result


def content_balance(head: CompositionHead, split: dict) -> dict:
    """Median score of the originals per folder, and the AUC of original vs degraded across photos:
    whether the absolute score means the same for a car and a landscape."""
    from sklearn.metrics import roc_auc_score

    scores = head.score(split["original"].astype(np.float32))
    degraded = split["degraded"][:, :, 0]
    bad = head.score(degraded.reshape(-1, *degraded.shape[2:]).astype(np.float32))
    folders = np.array([str(n).split("/", 1)[0] for n in split["names"]])
    out = {f"median_original_{folder}": round(float(np.median(scores[folders == folder])), 4)
           for folder in FOLDERS if (folders == folder).any()}
    out["auc_original_vs_degraded"] = round(float(roc_auc_score(
        np.r_[np.ones(len(scores)), np.zeros(len(bad))], np.r_[scores, bad])), 4)
    return out


# ----------------------------------------------------------------------------- commands
def train(args) -> None:
    settings = get_settings()
    build_dir = ensure_effnet_onnx(settings.cache_dir)
    network = PhotoNetwork(build_dir, threads=settings.threads)
    names = list_photos(args.photos)
    split = {n: photo_split(n) for n in names}
    by_split = {s: [n for n in names if split[n] == s] for s in ("train", "validation", "held_out")}
    print({s: len(v) for s, v in by_split.items()}, flush=True)
    data = {s: cached_features(network, args.photos, v, TRAIN_SAMPLES if s != "held_out" else 1, args.cache)
            for s, v in by_split.items()}

    search = []
    for channels in REDUCED_CHANNELS:
        for decay in WEIGHT_DECAYS:
            head = fit_head(data["train"]["original"], data["train"]["degraded"],
                            photo_weights(data["train"]["names"]), channels, decay)
            numpy_head = to_numpy_head(head, data["train"]["original"], data["train"]["degraded"], {})
            accuracy = pairwise_accuracy(numpy_head, data["validation"]["original"], data["validation"]["degraded"])
            accuracy.update(content_balance(numpy_head, data["validation"]))
            worst = min(accuracy[f] for f in FAMILIES)  # the target is per family
            search.append({"channels": channels, "weight_decay": decay, "validation": accuracy, "worst": worst})
            print(f"channels={channels} weight_decay={decay}: validation {accuracy}", flush=True)
    best = max(search, key=lambda r: (r["worst"], r["validation"]["all"]))
    # Refit on train + validation with the chosen settings; the held-out split is measured once.
    original = np.concatenate([data["train"]["original"], data["validation"]["original"]])
    degraded = np.concatenate([data["train"]["degraded"], data["validation"]["degraded"]])
    names = np.concatenate([data["train"]["names"], data["validation"]["names"]])
    head = fit_head(original, degraded, photo_weights(names), best["channels"], best["weight_decay"])
    meta = {"name": "composition-head", "version": date.today().isoformat(), "backbone": PACKAGE,
            "families": list(FAMILIES), "channels": best["channels"], "weight_decay": best["weight_decay"],
            "pointwise_weight": POINTWISE_WEIGHT, "epochs": EPOCHS,
            "trained_on": {"photos": len(original), "pairs": int(degraded.shape[0] * degraded.shape[1] *
                                                                 degraded.shape[2])}}
    numpy_head = to_numpy_head(head, original, degraded, meta)
    held_out = pairwise_accuracy(numpy_head, data["held_out"]["original"], data["held_out"]["degraded"])
    held_out.update(content_balance(numpy_head, data["held_out"]))
    print(f"held-out (features in memory, no JPEG): {held_out}", flush=True)
    car = data["held_out"]["car_probability"]
    is_car = np.array([n.startswith("cars/") for n in data["held_out"]["names"]])
    from sklearn.metrics import roc_auc_score

    car_metrics = {"auc": round(float(roc_auc_score(is_car, car)), 4),
                   "accuracy_at_0.5": round(float(((car >= 0.5) == is_car).mean()), 4),
                   "n_cars": int(is_car.sum()), "n_other": int((~is_car).sum())}
    print(f"car evidence on held-out photos (cars/ vs general/): {car_metrics}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    numpy_head.save(args.out / HEAD_FILE)
    metrics = {"split": {s: len(v) for s, v in by_split.items()}, "search": search, "chosen": best,
               "held_out_in_memory": held_out, "car_evidence_held_out": car_metrics}
    (args.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / HEAD_FILE} and {args.out / METRICS_FILE}")


def write_pairs(args) -> None:
    """The held-out photos and one degraded copy per family, as JPEG (quality 92 on both sides)."""
    settings = get_settings()
    network = PhotoNetwork(ensure_effnet_onnx(settings.cache_dir), threads=settings.threads)
    names = [n for n in list_photos(args.photos) if photo_split(n) == args.split]
    if args.limit:
        names = names[:args.limit]
    out = args.out
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        image = load_photo(args.photos / name)
        subject = network.subject_box(network.run([np.asarray(image)])[0])
        stem = name.replace("/", "_").rsplit(".", 1)[0]
        original = f"images/{stem}.jpg"
        image.save(out / original, quality=92)
        for family in FAMILIES:
            copy, _ = degrade(image, family, subject, photo_rng(name, family, 0))
            worse = f"images/{stem}.{family}.jpg"
            copy.save(out / worse, quality=92)
            rows.append({"better": original, "worse": worse, "family": family, "photo": name})
    with open(out / "pairs.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["better", "worse", "family", "photo"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} pairs of {len(names)} {args.split} photos to {out / 'pairs.csv'}")


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="extract features, fit the head, write models/composition/")
    train_parser.add_argument("--photos", type=Path, default=settings.data_dir / "photos")
    train_parser.add_argument("--out", type=Path, default=settings.models_dir / "composition")
    train_parser.add_argument("--cache", type=Path, default=cache_dir(settings.cache_dir))
    pairs_parser = commands.add_parser("pairs", help="write a split's (original, degraded) pairs as JPEG + pairs.csv")
    pairs_parser.add_argument("--photos", type=Path, default=settings.data_dir / "photos")
    pairs_parser.add_argument("--out", type=Path, required=True)
    pairs_parser.add_argument("--split", choices=("held_out", "validation", "train"), default="held_out")
    pairs_parser.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    args = parser.parse_args(argv)
    train(args) if args.command == "train" else write_pairs(args)


if __name__ == "__main__":
    main()
