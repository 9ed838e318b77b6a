"""Train the post-kind head on the team's labelled posts (data/post_kinds) and write its card.

    python -m train.post_kind                 # fit on train, choose on train CV, report dev
    python -m train.post_kind --test          # also the test split (once, after every choice)

Multinomial logistic regression on the service's sentence embedding of title + text (scaled to
unit spread) and the cue counts of `quality.text.post_kind` (standardised). The regularisation C
and the variant served -- the embedding with the cues, the embedding alone, or the cues alone --
are chosen by 5-fold cross-validation on the train split, by log-loss: the member layer reads
the probabilities as confidences, so they must be honest, not only their argmax. The dev split
is reported for all three; the test split is read only with --test.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from quality.artifacts import sha256_file
from quality.settings import get_settings
from quality.text.batch import build_encoder
from quality.text.post_kind import FEATURE_NAMES, POST_KINDS, PostKindHead, cue_features, embedding_inputs

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
SEED = 19
DATA = Path(__file__).resolve().parents[1] / "data" / "post_kinds" / "posts.jsonl"


def read_posts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def design(rows: list[dict], encoder) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, cue features, labels) of rows."""
    texts = [f"{row.get('title') or ''}\n{row['text']}".strip() for row in rows]
    embeddings = encoder.encode(texts)
    cues = np.stack([cue_features(row.get("title") or "", row["text"]) for row in rows]).astype(np.float64)
    labels = np.array([POST_KINDS.index(row["label"]) for row in rows])
    return embeddings, cues, labels


def fit(x: np.ndarray, y: np.ndarray, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000, random_state=SEED).fit(x, y)


def choose_c(x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """C with the lowest 5-fold CV log-loss; every C's (log-loss, macro-F1)."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    scores = {}
    for c in C_GRID:
        p = cross_val_predict(LogisticRegression(C=c, max_iter=5000, random_state=SEED), x, y, cv=folds,
                              method="predict_proba")
        scores[c] = {"log_loss": round(float(log_loss(y, p)), 4),
                     "macro_f1": round(float(f1_score(y, p.argmax(axis=1), average="macro")), 4)}
    return min(scores, key=lambda c: scores[c]["log_loss"]), scores


def report(y: np.ndarray, probabilities: np.ndarray) -> dict:
    predicted = probabilities.argmax(axis=1)
    per_kind = f1_score(y, predicted, average=None, labels=range(len(POST_KINDS)))
    return {"n": int(len(y)), "accuracy": round(float(accuracy_score(y, predicted)), 4),
            "log_loss": round(float(log_loss(y, probabilities, labels=range(len(POST_KINDS)))), 4),
            "macro_f1": round(float(f1_score(y, predicted, average="macro")), 4),
            "f1": {kind: round(float(v), 4) for kind, v in zip(POST_KINDS, per_kind)},
            "confusion": {"labels": list(POST_KINDS),
                          "rows_true_columns_predicted": confusion_matrix(
                              y, predicted, labels=range(len(POST_KINDS))).tolist()}}


def standardiser(cues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = cues.mean(axis=0)
    scale = cues.std(axis=0)
    return mean, np.where(scale > 1e-6, scale, 1.0)


def variant(name: str, x_train, y_train, x_eval, y_eval) -> dict:
    c, cv = choose_c(x_train, y_train)
    model = fit(x_train, y_train, c)
    return {"variant": name, "C": c, "train_cv": cv, "best_train_cv_log_loss": cv[c]["log_loss"],
            "dev": report(y_eval, model.predict_proba(x_eval))}


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=settings.models_dir / "post-kind")
    parser.add_argument("--version", default=date.today().isoformat())
    parser.add_argument("--test", action="store_true", help="also report the test split (once, after choosing)")
    args = parser.parse_args(argv)

    rows = read_posts(args.data)
    split = {name: [r for r in rows if r["split"] == name] for name in ("train", "dev", "test")}
    encoder = build_encoder(settings.text_encoder, settings.threads, settings.cache_dir)
    e_train, q_train, y_train = design(split["train"], encoder)
    e_dev, q_dev, y_dev = design(split["dev"], encoder)
    x_train_e, x_dev_e = embedding_inputs(e_train), embedding_inputs(e_dev)
    mean, scale = standardiser(q_train)
    z = lambda q: (q - mean) / scale  # noqa: E731
    variants = [
        variant("embedding + cues", np.hstack([x_train_e, z(q_train)]), y_train, np.hstack([x_dev_e, z(q_dev)]), y_dev),
        variant("embedding only", x_train_e, y_train, x_dev_e, y_dev),
        variant("cues only", z(q_train), y_train, z(q_dev), y_dev),
    ]
    chosen = min(variants, key=lambda v: v["best_train_cv_log_loss"])  # on train CV, never on dev
    use_embedding, use_cues = chosen["variant"] != "cues only", chosen["variant"] != "embedding only"
    x_train = np.hstack([x_train_e * use_embedding, z(q_train) * use_cues])
    model = fit(x_train, y_train, chosen["C"])
    # A part left out has zero weights, so the head's shape (and the service's code) is one.
    weight = model.coef_.T.copy()
    weight[:e_train.shape[1]] *= use_embedding
    weight[e_train.shape[1]:] *= use_cues
    head = PostKindHead(weight=weight.astype(np.float32), bias=model.intercept_.astype(np.float32),
                        cue_mean=mean.astype(np.float32), cue_scale=scale.astype(np.float32),
                        version=args.version, encoder=encoder.name)
    args.out.mkdir(parents=True, exist_ok=True)
    head_path = args.out / "post_kind_head.npz"
    head.save(head_path)
    # The saved head, reloaded, gives the chosen variant's dev figures (what the service serves).
    served = PostKindHead.load(head_path).probabilities(e_dev, q_dev)
    metrics = {"version": args.version, "encoder": encoder.name, "features": list(FEATURE_NAMES),
               "train_rows": int(len(y_train)), "chosen": chosen["variant"], "C": chosen["C"],
               "dev": report(y_dev, served), "variants": variants, "sha256": sha256_file(head_path)}
    if args.test:
        e_test, q_test, y_test = design(split["test"], encoder)
        metrics["test"] = report(y_test, PostKindHead.load(head_path).probabilities(e_test, q_test))
        hard = np.array([bool(r.get("hard")) for r in split["test"]])
        if hard.any():
            metrics["test_hard"] = report(y_test[hard], PostKindHead.load(head_path).probabilities(
                e_test[hard], q_test[hard]))
    (args.out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: metrics[k] for k in ("version", "C", "dev")} | {
        "variants": {v["variant"]: v["dev"]["macro_f1"] for v in variants},
        **({"test": metrics["test"]["macro_f1"]} if args.test else {})}, ensure_ascii=False))


if __name__ == "__main__":
    main()
