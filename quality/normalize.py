"""Text clean-up shared by every text scorer, so training and serving see the same input."""

from __future__ import annotations

import re
import unicodedata

# Zero-width and bidi controls carry no meaning but split words and fool lexicons.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u3000]+")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str | None) -> str:
    """NFKC (full-width → half-width), drop invisible and control characters, squeeze spaces.

    Offsets of civility spans are into the caller's original text, so spans are
    computed on the original string, not on this one.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text = _SURROGATES.sub("", text)
    text = _SPACES.sub(" ", text)
    return text.strip()
