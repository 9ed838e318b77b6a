"""A batch of texts with the shared work done once: cleaning, segmentation, features, embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from quality.model_store import ModelStore
from quality.text.encoder import TextEncoder, UniversalSentenceEncoder
from quality.text.features import TextFeatures, extract_features
from quality.text.normalize import clean_text
from quality.text.segment import segment

ENCODER_MODEL = "use-multilingual-v3"


def load_encoder(store: ModelStore) -> TextEncoder:
    return store.get(ENCODER_MODEL, lambda s: UniversalSentenceEncoder(threads=s.settings.threads))


@dataclass(frozen=True)
class TextItem:
    """What the text scorers read of one post. `raw_text` keeps the caller's string for span offsets."""

    raw_text: str
    title: str = ""
    kind: str = "post"
    parent_text: str | None = None
    parent_is_newcomer: bool = False

    @property
    def text(self) -> str:
        return clean_text(self.raw_text)

    @property
    def has_text(self) -> bool:
        return bool(self.text or clean_text(self.title))

    @property
    def full_text(self) -> str:
        """Title and body, as the reader meets them."""
        title = clean_text(self.title)
        return f"{title}\n{self.text}" if title and self.text else (title or self.text)


class TextBatch:
    def __init__(self, items: list[TextItem], encoder: TextEncoder):
        self.items = items
        self._encoder = encoder

    def __len__(self) -> int:
        return len(self.items)

    @cached_property
    def texts(self) -> list[str]:
        return [item.full_text for item in self.items]

    @cached_property
    def words(self) -> list[list[str]]:
        return [segment(text) for text in self.texts]

    @cached_property
    def features(self) -> list[TextFeatures]:
        return [extract_features(text, words) for text, words in zip(self.texts, self.words)]

    @cached_property
    def embeddings(self) -> np.ndarray:
        return self._encoder.encode(self.texts)

    @cached_property
    def parent_embeddings(self) -> np.ndarray:
        """Rows for items with a parent; zeros elsewhere."""
        parents = [clean_text(item.parent_text) for item in self.items]
        out = np.zeros((len(self.items), self._encoder.dim), dtype=np.float32)
        with_parent = [i for i, p in enumerate(parents) if p]
        if with_parent:
            out[with_parent] = self._encoder.encode([parents[i] for i in with_parent])
        return out
