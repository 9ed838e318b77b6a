"""Cross-validated composition-head variants, on the train and validation splits only (the held-out
split is not read): each variant's five fold heads score the fold they never saw, as
`train.composition train` does, and the out-of-fold pair accuracy is printed per family, for car and
non-car photos. The figures of docs/photo-score.md "Framing only":

    python -m train.composition_variants baseline geometric_only flip flip_geometric_only wd_0.2

`flip` adds mirrored photos and copies to training (their features extracted once and cached: ~9 min).
"""
import argparse
import hashlib
import json
import sys
import time

import numpy as np
from PIL import ImageOps

from quality.image.cnn import PhotoNetwork
from quality.image.cnn_build import ensure_effnet_onnx
from quality.image.degrade import FAMILIES, GEOMETRIC, degrade
from quality.settings import get_settings
from train import composition as C

args = labels = network = by = None  # set by main(): the data's place, the content labels, the network, the splits


def _setup() -> None:
    global args, labels, network, by
    settings = get_settings()
    args = argparse.Namespace(photos=settings.data_dir / "photos",
                              mos=settings.data_dir / "photos_mos" / "clive_mos.csv", cache=C.cache_dir(settings.cache_dir))
    labels = C.read_content_labels()
    network = PhotoNetwork(ensure_effnet_onnx(settings.cache_dir), threads=settings.threads)
    names = C.list_photos(args.photos, args.mos)
    by = {s: [n for n in names if C.photo_split(n) == s] for s in ("train", "validation")}


def extract_flipped(paths, names, samples):
    originals, degraded = [], []
    t = time.perf_counter()
    for i, (name, path) in enumerate(zip(names, paths)):
        image = C.load_photo(path)
        out = network.run([np.asarray(image)])[0]
        subject = network.subject_box(out)
        copies = [np.asarray(ImageOps.mirror(degrade(image, f, subject, C.photo_rng(name, f, s))[0]))
                  for f in FAMILIES for s in range(samples)]
        fo = network.run([np.asarray(ImageOps.mirror(image))])[0]
        outs = network.run(copies)
        originals.append(fo.features.astype(np.float16))
        degraded.append(np.stack([o.features for o in outs]).astype(np.float16).reshape(len(FAMILIES), samples, *fo.features.shape))
        if (i + 1) % 200 == 0:
            print(f"  flipped {i + 1}/{len(names)} {(i + 1) / (time.perf_counter() - t):.1f}/s", flush=True)
    return {"names": np.array(names), "original": np.stack(originals), "degraded": np.stack(degraded)}


def flipped_split(split_names, samples):
    parts = []
    for folder in C.FOLDERS:
        part = [n for n in split_names if n.split("/", 1)[0] == folder]
        if not part:
            continue
        key = hashlib.sha1(json.dumps([part, samples, "flip-v1"]).encode()).hexdigest()[:12]
        path = args.cache / f"composition-features-flipped-{key}.npz"
        if path.exists():
            with np.load(path) as d:
                parts.append({k: d[k] for k in d.files})
            continue
        d = extract_flipped([C.photo_path(n, args.photos, args.mos) for n in part], part, samples)
        np.savez(path, **d)
        parts.append(d)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def pool_of(parts):
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def cv(pool, variant, flipped=None):
    P = len(pool["names"])
    folds = np.array([C.fold_of(str(n)) for n in pool["names"]])
    fam_idx = [FAMILIES.index(f) for f in (GEOMETRIC if variant.get("geometric_only") else FAMILIES)]
    original, copies = np.zeros(P), np.zeros((P, len(FAMILIES)))
    if flipped is not None:
        orig_all = np.concatenate([pool["original"], flipped["original"]])
        deg_all = np.concatenate([pool["degraded"], flipped["degraded"]])
    else:
        orig_all, deg_all = pool["original"], pool["degraded"]
    if len(fam_idx) < len(FAMILIES):
        deg_all = deg_all[:, fam_idx]
    for k in range(C.FOLDS):
        rows = np.flatnonzero(folds != k)
        held = np.flatnonzero(folds == k)
        w = np.zeros(P)
        w[rows] = C.photo_weights(pool["names"][rows], labels)
        train_rows = rows if flipped is None else np.r_[rows, rows + P]
        weights = w if flipped is None else np.r_[w, w]
        head = C.to_numpy_head(C.fit_head(orig_all, deg_all, weights, variant.get("channels", C.CHANNELS),
                                          variant.get("wd", C.WEIGHT_DECAY), variant.get("pointwise", C.POINTWISE),
                                          epochs=variant.get("epochs", C.SETTING_EPOCHS), photos=train_rows))
        original[held] = C.chunked(head.raw_utility, pool["original"][held])
        first = pool["degraded"][held, :, 0]
        copies[held] = C.chunked(head.raw_utility, first.reshape(-1, *first.shape[2:])).reshape(len(held), len(FAMILIES))
    return C.oof_pairwise(pool, labels, {"original": original, "copies": copies, "fold": folds})


def main(which: list[str]) -> None:
    _setup()
    pool = pool_of([C.split_features(network, args, by[s], C.TRAIN_SAMPLES) for s in ("train", "validation")])
    print("pool", pool["original"].shape, pool["degraded"].shape, flush=True)
    flipped = None
    if any("flip" in w for w in which):
        flipped = pool_of([flipped_split(by[s], C.TRAIN_SAMPLES) for s in ("train", "validation")])
    variants = {
        "baseline": {},
        "flip": {"flip": True},
        "geometric_only": {"geometric_only": True},
        "flip_geometric_only": {"flip": True, "geometric_only": True},
        "wd_0.2": {"wd": 0.2},
    }
    for name in which:
        t = time.perf_counter()
        v = variants[name]
        result = cv(pool, v, flipped if v.get("flip") else None)
        geo = np.mean([result["non_car"][f] for f in GEOMETRIC])
        print(json.dumps({"variant": name, "seconds": round(time.perf_counter() - t),
                          "non_car_geometric_mean": round(float(geo), 4), **result}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
