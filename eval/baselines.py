"""Reference scores computed in the same run, so every model figure has a number beside it.

- char n-gram TF-IDF + logistic regression, cross-validated (5 folds) on the same file;
- a lexicon baseline: the share of a text covered by the packaged profanity and insult lists;
- for photos, the v0 hand-set composition and quality checks (no learned part).
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from pathlib import Path

from quality.errors import QualityError
from quality.text.lexicon import default_lexicon

SEED = 11


def char_tfidf_cross_validated(texts: list[str], labels: np.ndarray, binary: bool) -> np.ndarray:
    """Out-of-fold scores: each row is scored by a model that never saw it."""
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    if binary:
        pipeline = make_pipeline(vectorizer, LogisticRegression(C=4.0, max_iter=3000, solver="liblinear"))
        folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
        return cross_val_predict(pipeline, texts, labels.astype(int), cv=folds, method="predict_proba")[:, 1]
    pipeline = make_pipeline(vectorizer, Ridge(alpha=1.0))
    return cross_val_predict(pipeline, texts, labels, cv=KFold(5, shuffle=True, random_state=SEED))


def lexicon_scores(texts: list[str], labels_of_interest: tuple[str, ...] = ("profanity", "insult", "dismissive")) -> np.ndarray:
    """Share of characters covered by lexicon hits (0 when none): a higher value = more offensive."""
    lexicon = default_lexicon()
    out = np.zeros(len(texts))
    for i, text in enumerate(texts):
        covered = sum(hit.end - hit.start for hit in lexicon.find(text) if hit.label in labels_of_interest)
        out[i] = min(1.0, 0.5 + covered / max(len(text), 1)) if covered else 0.0
    return out


def composition_heuristic_scores(paths: list[Path]) -> np.ndarray:
    """The v0 heuristic photo score of each image file (NaN where it cannot be decoded)."""
    from quality.image import assess_composition, decode_image

    out = np.full(len(paths), np.nan)
    for i, path in enumerate(paths):
        try:
            image = decode_image(Path(path).read_bytes(), max_bytes=1 << 26, max_pixels=1 << 28)
        except (OSError, QualityError):
            continue
        out[i] = assess_composition(image, 0).composition.score
    return out
