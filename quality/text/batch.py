"""A batch of texts with the shared work done once: cleaning, segmentation, features, embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from quality.model_store import ModelStore
from quality.text.encoder import TextEncoder, UniversalSentenceEncoder
from quality.text.features import TextFeatures, extract_features
from quality.normalize import clean_text
from quality.text.segment import segment

ENCODER_MODEL = "use-multilingual-v3"
E5_MODEL = "e5-small"


def build_encoder(name: str, threads: int, cache_dir=None) -> TextEncoder:
    """The encoder named by `QUALITY_TEXT_ENCODER`: a packaged one by name, or a local directory."""
    from pathlib import Path

    if name == ENCODER_MODEL:
        return UniversalSentenceEncoder(threads=threads, cache_dir=cache_dir)
    if name == E5_MODEL:
        from quality.text.onnx_export import load_e5_onnx

        return load_e5_onnx("int8", cache_dir, threads=threads)
    path = Path(name).expanduser()
    if not path.is_dir():
        from quality.errors import ModelIntegrityError

        raise ModelIntegrityError(
            f"QUALITY_TEXT_ENCODER={name!r} is neither {ENCODER_MODEL!r}, {E5_MODEL!r} nor a local "
            "sentence-transformers directory")
    from quality.text.onnx_export import load_sentence_transformer_dir

    return load_sentence_transformer_dir(path, cache_dir, threads=threads)


def load_encoder(store: ModelStore) -> TextEncoder:
    settings = store.settings
    return store.get("text-encoder", lambda s: build_encoder(settings.text_encoder, settings.threads,
                                                              settings.cache_dir))


def require_trained_on(store: ModelStore, model_name: str, encoder: TextEncoder) -> None:
    """Stop with a clear message when a head was trained on another encoder's embeddings."""
    from quality.errors import ModelIntegrityError

    trained_on = store.entry(model_name).preprocessing.get("encoder")
    if trained_on and trained_on != encoder.name:
        raise ModelIntegrityError(
            f"{model_name} was trained on {trained_on!r} embeddings, but the configured text encoder is "
            f"{encoder.name!r} (QUALITY_TEXT_ENCODER). Retrain the head on this encoder "
            f"(see models/{model_name.removesuffix('-head')}/MODEL_CARD.md) or use {trained_on!r}.")


@dataclass(frozen=True)
class TextItem:
    """What the text scorers read of one post. `raw_text` keeps the caller's string for span offsets."""

    raw_text: str
    title: str = ""
    kind: str = "post"
    parent_text: str | None = None
    parent_is_newcomer: bool = False
    theme: str | None = None

    # Cached: the scorers ask for these several times per item (cached_property writes the
    # instance __dict__ directly, which a frozen dataclass allows).
    @cached_property
    def text(self) -> str:
        return clean_text(self.raw_text)

    @cached_property
    def has_text(self) -> bool:
        return bool(self.text or clean_text(self.title))

    @cached_property
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
        """Rows for items with text; zeros for photo-only posts (nothing to encode)."""
        with_text = [i for i, text in enumerate(self.texts) if text]
        if len(with_text) == len(self.texts):
            return self._encoder.encode(self.texts)
        out = np.zeros((len(self.texts), self._encoder.dim), dtype=np.float32)
        if with_text:
            out[with_text] = self._encoder.encode([self.texts[i] for i in with_text])
        return out

    @cached_property
    def parent_embeddings(self) -> np.ndarray:
        """Rows for items with a parent; zeros elsewhere."""
        parents = [clean_text(item.parent_text) for item in self.items]
        out = np.zeros((len(self.items), self._encoder.dim), dtype=np.float32)
        with_parent = [i for i, p in enumerate(parents) if p]
        if with_parent:
            out[with_parent] = self._encoder.encode([parents[i] for i in with_parent])
        return out
