"""Flags on a contest entry, against the entries already in the contest: repeated photos and texts,
off-theme content, content needing a person's review.

Hand-set cut-offs (no labelled contest duplicates exist here):
  - photos: pHash Hamming distance 0-2 bits is the same photo (`duplicate_image`), up to
    quality.image.duplicates.NEAR_DUPLICATE_BITS a near copy (re-encoded, resized, lightly
    edited: `near_duplicate_image`);
  - texts: the same normalised text (`duplicate_text`), or sentence-embedding cosine at or above
    NEAR_DUPLICATE_TEXT_COSINE (`near_duplicate_text`, a light rewrite); texts shorter than
    MIN_TEXT_CHARS are not compared (two entries saying "分享一下" are not copies);
  - `off_theme`: theme relevance below OFF_THEME_BELOW;
  - `needs_review`: the civility signal asks for review, or says uncivil.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from quality.image.duplicates import NEAR_DUPLICATE_BITS, hamming
from quality.rubric.config import ScoreFlag
from quality.rubric.flags import score_flags
from quality.schemas import ScoreResult
from quality.normalize import clean_text

SAME_PHOTO_BITS = 2
NEAR_DUPLICATE_TEXT_COSINE = 0.93
MIN_TEXT_CHARS = 20


def text_fingerprint(title: str | None, text: str | None) -> str | None:
    """sha256 of the normalised title + text (None when too short to compare)."""
    normalised = " ".join(clean_text(f"{title or ''}\n{text or ''}").split())
    if len(normalised) < MIN_TEXT_CHARS:
        return None
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Candidate:
    """What the checks read of an entry (a new one, or one already stored)."""

    id: str
    phashes: tuple[str, ...] = ()
    text_sha256: str | None = None
    text_embedding: np.ndarray | None = None


@dataclass
class Findings:
    flags: list[str] = field(default_factory=list)
    duplicate_of: list[str] = field(default_factory=list)

    def add(self, flag: str, other: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)
        if other not in self.duplicate_of:
            self.duplicate_of.append(other)


def repeated_content(new: Candidate, earlier: list[Candidate]) -> Findings:
    """Which earlier entries the new one repeats, and how (earlier entries in the order given)."""
    found = Findings()
    for other in earlier:
        distances = [hamming(a, b) for a in new.phashes for b in other.phashes]
        if distances and min(distances) <= SAME_PHOTO_BITS:
            found.add("duplicate_image", other.id)
        elif distances and min(distances) <= NEAR_DUPLICATE_BITS:
            found.add("near_duplicate_image", other.id)
        if new.text_sha256 is not None and new.text_sha256 == other.text_sha256:
            found.add("duplicate_text", other.id)
        elif (new.text_sha256 is not None and other.text_sha256 is not None and new.text_embedding is not None
              and other.text_embedding is not None
              and float(np.dot(new.text_embedding, other.text_embedding)) >= NEAR_DUPLICATE_TEXT_COSINE):
            found.add("near_duplicate_text", other.id)
    return found


def content_flags(result: ScoreResult, rules: dict[str, ScoreFlag]) -> list[str]:
    """The rubric's contest-entry flags (off_theme: theme relevance below its cut-off) and
    needs_review, read from the entry's own score."""
    scores = {name: getattr(result.dimensions, name).score if getattr(result.dimensions, name) else None
              for name in type(result.dimensions).model_fields}
    flags = score_flags(rules, scores)
    signal = result.civility_signal
    if signal.needs_review or signal.label == "uncivil":
        flags.append("needs_review")
    return flags
