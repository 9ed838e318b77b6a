"""The recently-seen embeddings cache that spares a parent's encoder pass for each of its replies."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from quality.text.embedding_cache import EmbeddingCache


class CountingEncoder:
    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97] for t in texts], dtype=np.float32)


def test_rows_follow_the_texts_and_each_missing_text_is_encoded_once():
    encoder = CountingEncoder()
    cache = EmbeddingCache(encoder, capacity=8)
    rows = cache.embed(["b", "aa", "b", "ccc"])
    assert [r.tolist() for r in rows] == [encoder(["b"])[0].tolist(), encoder(["aa"])[0].tolist(),
                                          encoder(["b"])[0].tolist(), encoder(["ccc"])[0].tolist()]
    assert encoder.calls[0] == ["aa", "b", "ccc"]  # one call, each distinct text once
    encoder.calls.clear()
    again = cache.embed(["ccc", "d"])
    assert encoder.calls == [["d"]] and again[0].tolist() == rows[3].tolist()
    assert (cache.hits, cache.misses) == (1, 4)


def test_the_least_recently_used_text_goes_first():
    encoder = CountingEncoder()
    cache = EmbeddingCache(encoder, capacity=2)
    cache.embed(["a"])
    cache.embed(["b"])
    cache.embed(["a"])  # a is now the most recent
    cache.embed(["c"])  # b goes
    assert len(cache) == 2
    encoder.calls.clear()
    cache.embed(["a", "c"])
    assert encoder.calls == []
    cache.embed(["b"])
    assert encoder.calls == [["b"]]


def test_a_capacity_below_one_is_refused():
    with pytest.raises(ValueError):
        EmbeddingCache(CountingEncoder(), capacity=0)


def test_threads_sharing_the_cache_get_their_own_rows():
    encoder = CountingEncoder()
    cache = EmbeddingCache(encoder, capacity=16)
    texts = [f"parent {i}" for i in range(40)]
    results: dict[int, list] = {}

    def work(n: int):
        chosen = texts[n::4]
        results[n] = [(t, r.tolist()) for t, r in zip(chosen, cache.embed(chosen))]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for rows in results.values():
        for text, row in rows:
            assert row == encoder([text])[0].tolist()
    assert len(cache) <= 16
