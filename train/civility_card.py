"""Render `models/civility/MODEL_CARD.md` from the `metrics.json` the training run wrote.

    python -m train.civility_card
"""

from __future__ import annotations

import json
from pathlib import Path

from quality.settings import get_settings


def _row(name: str, m: dict) -> str:
    return f"| {name} | {m['auc']:.4f} | {m['accuracy']:.4f} | {m['f1']:.4f} | {m['n']} |"


def render(metrics: dict) -> str:
    model, base = metrics["model"], metrics["baseline_char_tfidf_lr"]
    topics = sorted(model["dev_by_topic"])
    topic_rows = "\n".join(
        f"| {t} | {model['dev_by_topic'][t]['auc']:.4f} | {model['dev_by_topic'][t]['accuracy']:.4f} | "
        f"{model['dev_by_topic'][t]['f1']:.4f} | {base['dev_by_topic'][t]['auc']:.4f} | "
        f"{base['dev_by_topic'][t]['accuracy']:.4f} | {model['dev_by_topic'][t]['n']} |"
        for t in topics
    )
    sel = metrics["selection"]
    return f"""# Model card: civility-head {metrics['version']}

**What it does.** Gives P(offensive) for a Chinese text; the API's `civility.score` is
1 - P(offensive). Logistic regression over hashed char 1-3-grams (sublinear TF x IDF,
2^18 buckets) concatenated with the 512-d Universal Sentence Encoder multilingual v3
embedding (x {sel['embedding_weight']}). Weights: `civility_head.npz` (sha256 in `models/manifest.yaml`).

**Data.** COLD — Chinese Offensive Language Dataset (thu-coai), Apache-2.0:
`cold_train.csv` ({metrics['data']['train_rows']} rows) for training,
`cold_dev.csv` ({metrics['data']['dev_rows']} rows) for the figures below, used once after selection.
Topics: race, gender, region (Weibo and Zhihu comments).

**Selection.** C and the embedding weight by {sel['cv_folds']}-fold cross-validation on the
training split only (best mean AUC {sel['cv_auc']:.4f}, C = {sel['C']}).

## Results on `cold_dev.csv` (threshold 0.5)

| model | AUC | accuracy | F1 | n |
|---|---|---|---|---|
{_row('civility-head (this model)', model['dev'])}
{_row('baseline: char 1-3-gram TF-IDF + LR, same data', base['dev'])}

Difference to the baseline: AUC {model['dev']['auc'] - base['dev']['auc']:+.4f},
accuracy {model['dev']['accuracy'] - base['dev']['accuracy']:+.4f}. On this dev split the
embedding adds little over char n-grams; beating the baseline clearly needed a fine-tuned
encoder: that is the served model now (`models/civility-e5/`); this head serves the
`QUALITY_CIVILITY_MODEL=head` throughput profile.

For reference, COLD's paper reports 0.81 accuracy for COLDetector (fine-tuned
RoBERTa-base) on its own test split — a different split from this dev set.

### By topic

| topic | AUC | accuracy | F1 | baseline AUC | baseline accuracy | n |
|---|---|---|---|---|---|---|
{topic_rows}

## Reproduce

    .venv/bin/python -m train.civility      # trains, writes civility_head.npz and metrics.json
    .venv/bin/python -m train.civility_card # writes this card from metrics.json

Takes about 15 minutes on 2 CPU cores. Then update the sha256 in `models/manifest.yaml`
(printed as `sha256` in `metrics.json`).

## Limitations

- COLD is about race, gender and region on Weibo/Zhihu; car-community replies are a different
  domain. Expect lower accuracy on car-forum text, especially on sarcasm and on insults about
  cars or brands rather than people. Not yet measured on a car-domain labelled set.
- The head's own probability is not calibrated (the served model's calibration is
  `models/civility-e5/calibration.md`).
- Char n-grams can fire on offensive words quoted in a civil post (e.g. someone reporting an
  insult). Spans from the lexicons show which words drove a call so a person can check.
- This is a linear head on frozen features; the fine-tuned encoder is `models/civility-e5/`.
"""


def main() -> None:
    directory = get_settings().models_dir / "civility"
    metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    (directory / "MODEL_CARD.md").write_text(render(metrics), encoding="utf-8")
    print(f"wrote {directory / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
