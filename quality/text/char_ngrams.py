"""Hashed char n-gram counts, as scikit-learn's HashingVectorizer(analyzer="char") makes them.

The civility heads were trained on `HashingVectorizer(analyzer="char", ngram_range=(1, 3),
n_features=2**18, alternate_sign=False, norm=None, lowercase=True)`. Serving needs only its
transform, and importing scikit-learn costs ~2 s of the server's cold start, so the transform is
rewritten here with the same MurmurHash3 (x86, 32-bit, seed 0; the `mmh3` package): lowercase,
runs of two or more whitespace characters become one space, every 1..3-character substring is
hashed to `abs(h) % n_features` and counted. `tests/test_text.py` checks it equals scikit-learn's
matrix on awkward inputs.
"""

from __future__ import annotations

import re

import mmh3
import numpy as np
import scipy.sparse as sp

_WHITE_SPACES = re.compile(r"\s\s+")
_INT32_MIN = -(2**31)


def _index(gram: str, n_features: int) -> int:
    h = mmh3.hash(gram, 0, True)
    if h == _INT32_MIN:  # abs() would overflow in scikit-learn's int32 arithmetic; it maps it so
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(h) % n_features


def char_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text.lower())
    low, high = ngram_range
    grams: list[str] = []
    for n in range(low, min(high, len(text)) + 1):
        grams.extend(text[i:i + n] for i in range(len(text) - n + 1))
    return grams


def weighted_rows(counts: sp.csr_matrix, idf: np.ndarray, tf: np.ndarray) -> sp.csr_matrix:
    """tf x idf per stored n-gram (`tf`: the term weights of `counts.data`, e.g. 1 + log(count)),
    each row L2-normalised, a row without n-grams left empty; float32 CSR.

    On the CSR arrays directly: scipy's `multiply` by a dense idf row and `diags(...) @` cost ~1 ms
    for a single short text (most of it broadcasting over the 262k columns), this ~20 µs."""
    weighted = tf.astype(np.float32, copy=False) * idf.astype(np.float32, copy=False)[counts.indices]
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    norms = np.sqrt(np.bincount(rows, weights=np.square(weighted, dtype=np.float64), minlength=counts.shape[0]))
    scaled = (weighted / np.maximum(norms, 1e-12)[rows]).astype(np.float32)
    return sp.csr_matrix((scaled, counts.indices.copy(), counts.indptr.copy()), shape=counts.shape)


def hashed_char_counts(texts: list[str], ngram_range: tuple[int, int], n_features: int) -> sp.csr_matrix:
    """(len(texts), n_features) float32 CSR of n-gram counts, duplicates summed."""
    indptr = [0]
    indices: list[int] = []
    for text in texts:
        indices.extend(_index(gram, n_features) for gram in char_ngrams(text, ngram_range))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    matrix = sp.csr_matrix((data, np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
                           shape=(len(texts), n_features))
    matrix.sum_duplicates()
    return matrix
