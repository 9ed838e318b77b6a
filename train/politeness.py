"""Train the politeness head on the Stanford Politeness Corpus (English) and write its card.

    python -m train.politeness

Ridge regression from the USE multilingual v3 embedding to the annotators' normalised
politeness score, trained on Wikipedia and Stack Exchange requests together. Selection by
5-fold CV on the pooled data; also reported: transfer from one community to the other
(train on one, test on the other), the closest thing here to a new domain. The labels are
English; the encoder is multilingual, so the head is applied to Chinese replies by
cross-lingual transfer — which no Chinese labels here can measure directly.
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import date
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict

from quality.artifacts import sha256_file
from quality.settings import get_settings
from quality.text.encoder import UniversalSentenceEncoder
from quality.text.politeness_head import PolitenessHead

ALPHAS = (1.0, 3.0, 10.0, 30.0)
SEED = 5


def read_politeness(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("Request", "").strip()]
    return [r["Request"] for r in rows], np.array([float(r["Normalized Score"]) for r in rows])


def correlations(labels, predictions) -> dict:
    return {"spearman": round(float(stats.spearmanr(labels, predictions).statistic), 4),
            "pearson": round(float(stats.pearsonr(labels, predictions).statistic), 4), "n": int(len(labels))}


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wikipedia", type=Path, default=settings.data_dir / "civility" / "polite_wikipedia.csv")
    parser.add_argument("--stack-exchange", type=Path,
                        default=settings.data_dir / "civility" / "polite_stack-exchange.csv")
    parser.add_argument("--out", type=Path, default=settings.models_dir / "politeness")
    args = parser.parse_args(argv)

    encoder = UniversalSentenceEncoder(threads=settings.threads)
    wiki_texts, y_wiki = read_politeness(args.wikipedia)
    se_texts, y_se = read_politeness(args.stack_exchange)
    x_wiki, x_se = encoder.encode(wiki_texts), encoder.encode(se_texts)
    x_train, y_train = np.vstack([x_wiki, x_se]), np.concatenate([y_wiki, y_se])

    folds = KFold(5, shuffle=True, random_state=SEED)
    cv = {alpha: cross_val_predict(Ridge(alpha=alpha), x_train, y_train, cv=folds) for alpha in ALPHAS}
    best_alpha = max(ALPHAS, key=lambda a: stats.spearmanr(y_train, cv[a]).statistic)
    model = Ridge(alpha=best_alpha).fit(x_train, y_train)
    # Scale so that sigmoid(scale * prediction) spreads the training predictions over (0, 1).
    scale = float(1.5 / max(np.std(model.predict(x_train)), 1e-6))
    head = PolitenessHead(weight=model.coef_.astype(np.float32), bias=float(model.intercept_), scale=scale,
                          version=f"{date.today():%Y.%m.%d}")
    weights_path = args.out / "politeness_head.npz"
    head.save(weights_path)
    metrics = {
        "pooled_cv5": correlations(y_train, cv[best_alpha]),
        "wikipedia_to_stack_exchange": correlations(y_se, Ridge(alpha=best_alpha).fit(x_wiki, y_wiki).predict(x_se)),
        "stack_exchange_to_wikipedia": correlations(y_wiki, Ridge(alpha=best_alpha).fit(x_se, y_se).predict(x_wiki)),
        "training_rows": int(len(y_train)),
        "alpha": best_alpha,
        "cv_by_alpha": {str(a): round(float(stats.spearmanr(y_train, cv[a]).statistic), 4) for a in ALPHAS},
        "version": head.version,
        "sha256": sha256_file(weights_path),
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
