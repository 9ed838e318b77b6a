"""The civility head: logistic regression on char n-grams + sentence embeddings.

Trained on COLD (`python -m train.civility`); weights live in
`models/civility/` and are declared in the manifest. The same `civility_features`
function builds the inputs at training and at serving time.

Char n-grams catch the surface of insults (and work on the unsegmented Chinese of
COLD); the multilingual embedding carries meaning the n-grams miss. Each text's
features depend on that text alone, so a score does not depend on its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from quality.text.char_ngrams import hashed_char_counts, weighted_rows
from quality.artifacts import read_head_file, write_head_file

CHAR_NGRAM_RANGE = (1, 3)
HASH_FEATURES = 2**18  # 262k buckets: few collisions for 1-3 char grams of COLD's vocabulary


def char_ngram_hasher():
    """scikit-learn's vectoriser the heads were trained with (training code; serving uses
    `hashed_char_counts`, the same transform without importing scikit-learn)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char",
        ngram_range=CHAR_NGRAM_RANGE,
        n_features=HASH_FEATURES,
        alternate_sign=False,
        norm=None,
        lowercase=True,
    )


def char_ngram_tfidf(texts: list[str], idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF x IDF, L2-normalised per row (as sklearn's TfidfTransformer)."""
    counts = hashed_char_counts(texts, CHAR_NGRAM_RANGE, HASH_FEATURES)
    return weighted_rows(counts, idf, 1.0 + np.log(counts.data))


def civility_features(
    texts: list[str], embeddings: np.ndarray, idf: np.ndarray, embedding_weight: float
) -> sp.csr_matrix:
    ngrams = char_ngram_tfidf(texts, idf)
    dense = sp.csr_matrix(embeddings.astype(np.float32) * np.float32(embedding_weight))
    return sp.hstack([ngrams, dense], format="csr")


@dataclass(frozen=True)
class CivilityHead:
    """P(offensive) for a text. `score` for the API is 1 - P(offensive)."""

    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    embedding_weight: float
    encoder: str
    threshold: float
    version: str

    @classmethod
    def load(cls, path: Path) -> "CivilityHead":
        arrays, meta = read_head_file(path)
        return cls(
            idf=arrays["idf"].astype(np.float32),
            coef=arrays["coef"].astype(np.float32),
            intercept=float(arrays["intercept"]),
            embedding_weight=float(meta["embedding_weight"]),
            encoder=meta["encoder"],
            threshold=float(meta["threshold"]),
            version=meta["version"],
        )

    def save(self, path: Path) -> None:
        meta = {"embedding_weight": self.embedding_weight, "encoder": self.encoder,
                "threshold": self.threshold, "version": self.version}
        write_head_file(path, meta, idf=self.idf.astype(np.float16), coef=self.coef.astype(np.float32),
                        intercept=np.float64(self.intercept))

    def ngram_logits(self, texts: list[str]) -> np.ndarray:
        """The char n-gram part of the logit alone (cheap: no encoder)."""
        ngrams = char_ngram_tfidf(texts, self.idf)
        return np.asarray(ngrams @ self.coef[:HASH_FEATURES], dtype=np.float64).ravel() + self.intercept

    def logits(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        features = civility_features(texts, embeddings, self.idf, self.embedding_weight)
        return np.asarray(features @ self.coef, dtype=np.float64).ravel() + self.intercept

    def offensive_probability(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(texts, embeddings)))
