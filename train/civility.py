"""Train the civility head on COLD and write weights, metrics and the model card.

    python -m train.civility            # reads ../shared/data/civility/cold_{train,dev}.csv

Model selection (C and the embedding weight) uses 3-fold cross-validation on the
training split only; `cold_dev.csv` is touched once, for the reported figures. A
char n-gram TF-IDF + logistic-regression baseline is trained on the same data and
reported beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from quality.artifacts import sha256_file
from quality.settings import get_settings
from quality.text.civility_head import CivilityHead, char_ngram_hasher, civility_features
from quality.text.encoder import UniversalSentenceEncoder
from quality.normalize import clean_text
from train.datasets import LabelledText, read_cold

SEED = 13
C_GRID = (1.0, 4.0, 16.0)
EMBEDDING_WEIGHT_GRID = (0.5, 1.0, 2.0)


def fit_idf(texts: list[str]) -> np.ndarray:
    """Smooth IDF over hashed char n-grams, rounded to fp16 as it is stored."""
    counts = char_ngram_hasher().transform(texts).tocsc()
    document_frequency = np.diff(counts.indptr)
    n = len(texts)
    idf = np.log((1.0 + n) / (1.0 + document_frequency)) + 1.0
    return idf.astype(np.float16).astype(np.float32)


def fit_logistic(features, labels, c: float) -> LogisticRegression:
    model = LogisticRegression(C=c, max_iter=3000, solver="liblinear")
    return model.fit(features, labels)


def binary_metrics(labels: np.ndarray, p_positive: np.ndarray, threshold: float = 0.5) -> dict:
    predicted = (p_positive >= threshold).astype(int)
    return {
        "auc": round(float(roc_auc_score(labels, p_positive)), 4),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "f1": round(float(f1_score(labels, predicted)), 4),
        "n": int(len(labels)),
    }


def per_group(rows: list[LabelledText], p_positive: np.ndarray) -> dict:
    groups = sorted({row.group for row in rows})
    labels = np.array([row.label for row in rows])
    out = {}
    for group in groups:
        mask = np.array([row.group == group for row in rows])
        out[group] = binary_metrics(labels[mask], p_positive[mask])
    return out


def select_hyperparameters(texts, embeddings, labels) -> tuple[float, float, float]:
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=SEED)
    best = (-1.0, C_GRID[0], EMBEDDING_WEIGHT_GRID[0])
    for weight in EMBEDDING_WEIGHT_GRID:
        for c in C_GRID:
            aucs = []
            for train_idx, valid_idx in folds.split(texts, labels):
                idf = fit_idf([texts[i] for i in train_idx])
                x_train = civility_features([texts[i] for i in train_idx], embeddings[train_idx], idf, weight)
                x_valid = civility_features([texts[i] for i in valid_idx], embeddings[valid_idx], idf, weight)
                model = fit_logistic(x_train, labels[train_idx], c)
                aucs.append(roc_auc_score(labels[valid_idx], model.predict_proba(x_valid)[:, 1]))
            mean_auc = float(np.mean(aucs))
            print(f"  cv: embedding_weight={weight} C={c} auc={mean_auc:.4f}", flush=True)
            if mean_auc > best[0]:
                best = (mean_auc, c, weight)
    return best


def tfidf_baseline(train_texts, train_labels, dev_texts) -> np.ndarray:
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    x_train = vectorizer.fit_transform(train_texts)
    model = fit_logistic(x_train, train_labels, 4.0)
    return model.predict_proba(vectorizer.transform(dev_texts))[:, 1]


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=settings.data_dir / "civility" / "cold_train.csv")
    parser.add_argument("--dev", type=Path, default=settings.data_dir / "civility" / "cold_dev.csv")
    parser.add_argument("--out", type=Path, default=settings.models_dir / "civility")
    parser.add_argument("--version", default=f"{date.today():%Y.%m.%d}")
    args = parser.parse_args(argv)

    train_rows, dev_rows = read_cold(args.train), read_cold(args.dev)
    train_texts = [clean_text(row.text) for row in train_rows]
    dev_texts = [clean_text(row.text) for row in dev_rows]
    y_train = np.array([row.label for row in train_rows])
    y_dev = np.array([row.label for row in dev_rows])
    print(f"train {len(train_rows)} rows, dev {len(dev_rows)} rows", flush=True)

    encoder = UniversalSentenceEncoder(threads=settings.threads)
    started = time.time()
    e_train, e_dev = encoder.encode(train_texts), encoder.encode(dev_texts)
    print(f"encoded in {time.time() - started:.0f}s", flush=True)

    cv_auc, c, weight = select_hyperparameters(train_texts, e_train, y_train)
    print(f"selected C={c} embedding_weight={weight} (3-fold cv auc {cv_auc:.4f})", flush=True)

    idf = fit_idf(train_texts)
    model = fit_logistic(civility_features(train_texts, e_train, idf, weight), y_train, c)
    head = CivilityHead(
        idf=idf,
        coef=model.coef_.ravel().astype(np.float32),
        intercept=float(model.intercept_[0]),
        embedding_weight=weight,
        encoder=encoder.name,
        threshold=0.5,
        version=args.version,
    )
    weights_path = args.out / "civility_head.npz"
    head.save(weights_path)
    # Evaluate the saved file, exactly as the service will load it.
    p_dev = CivilityHead.load(weights_path).offensive_probability(dev_texts, e_dev)
    p_baseline = tfidf_baseline(train_texts, y_train, dev_texts)

    metrics = {
        "model": {"dev": binary_metrics(y_dev, p_dev), "dev_by_topic": per_group(dev_rows, p_dev)},
        "baseline_char_tfidf_lr": {
            "dev": binary_metrics(y_dev, p_baseline),
            "dev_by_topic": per_group(dev_rows, p_baseline),
        },
        "selection": {"cv_folds": 3, "cv_auc": round(cv_auc, 4), "C": c, "embedding_weight": weight},
        "data": {"train": str(args.train.name), "dev": str(args.dev.name),
                 "train_rows": len(train_rows), "dev_rows": len(dev_rows)},
        "version": args.version,
        "sha256": sha256_file(weights_path),
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(metrics, ensure_ascii=False))


if __name__ == "__main__":
    main()
