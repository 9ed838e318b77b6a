"""Would the text heads do as well on the civility model's encoder as on USE? (issue 20)

    .venv/bin/python -m train.shared_encoder_check

Refits the post-kind head (its own recipe: C by train-CV log-loss, dev split) and the
politeness head (ridge, pooled 5-fold CV Spearman, best alpha) on each encoder's embeddings and
prints the figures side by side. Dev and cross-validation only: no test split is read, and
nothing is written. Figures: docs/performance.md.
"""

from __future__ import annotations

import json

import numpy as np
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict

import train.politeness as politeness
import train.post_kind as post_kind
from quality.settings import get_settings
from quality.text.batch import ENCODER_MODEL, build_encoder
from quality.text.civility_e5 import ensure_civility_onnx
from quality.text.onnx_encoder import encoder_from_onnx_dir
from quality.text.post_kind import embedding_inputs


def encoders(settings) -> dict:
    model = ensure_civility_onnx(settings.models_dir / "civility-e5" / "adapter", settings.cache_dir)
    return {ENCODER_MODEL: build_encoder(ENCODER_MODEL, settings.threads, settings.cache_dir),
            "civility-e5": encoder_from_onnx_dir(model.parent, model.name, threads=settings.threads)}


def post_kind_figures(encoder) -> dict:
    rows = post_kind.read_posts(post_kind.DATA)
    train = [r for r in rows if r["split"] == "train"]
    dev = [r for r in rows if r["split"] == "dev"]
    e_train, q_train, y_train = post_kind.design(train, encoder)
    e_dev, q_dev, y_dev = post_kind.design(dev, encoder)
    mean, scale = post_kind.standardiser(q_train)
    with_cues = post_kind.variant("embedding + cues", np.hstack([embedding_inputs(e_train), (q_train - mean) / scale]),
                                  y_train, np.hstack([embedding_inputs(e_dev), (q_dev - mean) / scale]), y_dev)
    alone = post_kind.variant("embedding only", embedding_inputs(e_train), y_train, embedding_inputs(e_dev), y_dev)
    return {v["variant"]: {"C": v["C"], "train_cv_log_loss": v["best_train_cv_log_loss"],
                           "dev_macro_f1": v["dev"]["macro_f1"]} for v in (with_cues, alone)}


def politeness_figure(encoder, settings) -> float:
    wiki, y_wiki = politeness.read_politeness(settings.data_dir / "civility" / "polite_wikipedia.csv")
    stack, y_stack = politeness.read_politeness(settings.data_dir / "civility" / "polite_stack-exchange.csv")
    x, y = encoder.encode(wiki + stack), np.concatenate([y_wiki, y_stack])
    folds = KFold(5, shuffle=True, random_state=politeness.SEED)
    return round(float(max(stats.spearmanr(y, cross_val_predict(Ridge(alpha=a), x, y, cv=folds)).statistic
                           for a in politeness.ALPHAS)), 4)


def main() -> None:
    settings = get_settings()
    for name, encoder in encoders(settings).items():
        print(json.dumps({"encoder": name, "post_kind": post_kind_figures(encoder),
                          "politeness_cv5_spearman": politeness_figure(encoder, settings)}, ensure_ascii=False),
              flush=True)


if __name__ == "__main__":
    main()
