"""Chinese word segmentation (jieba), loaded once per process."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    with _lock:
        tokenizer.initialize()
    return tokenizer


def dictionary_path() -> str:
    import jieba

    return jieba.get_dict_file().name


def segment(text: str) -> list[str]:
    """Words of `text`, whitespace and punctuation-only tokens dropped."""
    if not text:
        return []
    return [word for word in _tokenizer().lcut(text) if word.strip() and any(ch.isalnum() for ch in word)]


def search_words(text: str) -> list[str]:
    """Words and the shorter words inside them (jieba's search mode: 长途旅行 -> 长途, 旅行, 长途旅行)."""
    if not text:
        return []
    return [word for word in _tokenizer().lcut_for_search(text) if word.strip() and any(ch.isalnum() for ch in word)]


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets into `text` of each word (punctuation and spaces skipped)."""
    if not text:
        return []
    return [(start, end) for word, start, end in _tokenizer().tokenize(text)
            if word.strip() and any(ch.isalnum() for ch in word)]
