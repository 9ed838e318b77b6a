"""Features of labelled replies for training the reply-civility heads, cached outside git.

The encoders are the service's own (the fine-tuned civility e5 as served, int8 ONNX, and the
configured sentence encoder), so the heads see in training exactly what they see when serving.
Encoder outputs are cached per source in `<cache>/reply-features/` keyed by the texts and the
models' versions; lexical counts are recomputed (cheap, and they change with the code).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quality.artifacts import cache_dir
from quality.model_store import ModelStore
from quality.settings import Settings
from quality.text.reply_features import lexical_features
from train.reply_sources import Example

BATCH = 256


@dataclass
class EncodedReplies:
    civility: np.ndarray  # [n, 384] the civility encoder's embedding of the reply
    cold_logits: np.ndarray  # [n] the COLD model's logit
    reply: np.ndarray  # [n, d] sentence encoder, reply
    parent: np.ndarray  # [n, d] sentence encoder, parent (zeros without one)
    lexical: np.ndarray  # [n, len(LEXICAL_NAMES)]
    civility_parent: np.ndarray  # [n, 384] the civility encoder's embedding of the parent (zeros without one)


FIELDS = ("civility", "cold_logits", "reply", "parent", "lexical", "civility_parent")


class Featurizer:
    """Encodes replies (and parents) for the reply heads, cached by what the features depend on.
    `sentence=False` skips the sentence encoder's pass (heads whose context is the civility encoder
    do not read it): its fields are then empty (n x 0), and cached under their own key."""

    def __init__(self, settings: Settings | None = None, sentence: bool = True):
        from quality.text.batch import load_encoder
        from quality.text.civility import FINETUNED_MODEL, FineTunedClassifier

        self.settings = settings or Settings()
        self.store = ModelStore(self.settings)
        self.sentence = load_encoder(self.store)
        self.civility = self.store.get(FINETUNED_MODEL, FineTunedClassifier)
        # The features depend on the civility encoder, its COLD head and the sentence encoder only, so
        # a change elsewhere in the manifest (a retrained reply head) keeps the cache.
        cold_head = next(f.sha256 for f in self.store.entry(FINETUNED_MODEL).files if f.role == "head")
        self.with_sentence = sentence
        self.version = f"{self.civility.encoder_identity}|{cold_head}|" + (self.sentence.name if sentence else
                                                                             "no-sentence-pass")
        self.folder = cache_dir(self.settings.cache_dir) / "reply-features"

    def _key(self, examples: list[Example]) -> str:
        digest = hashlib.sha256(self.version.encode())
        for example in examples:
            digest.update(json.dumps([example.text, example.parent], ensure_ascii=False).encode() + b"\n")
        return digest.hexdigest()[:20]

    def encode(self, examples: list[Example], name: str) -> EncodedReplies:
        path = self.folder / f"{name}-{self._key(examples)}.npz"
        arrays, changed = {}, False
        if path.is_file():
            with np.load(path) as cached:
                arrays = {key: cached[key] for key in cached.files}
        if not arrays:
            arrays, changed = self._encode(examples, name), True
        elif "civility_parent" not in arrays:  # a cache written before the civility encoder read parents
            arrays["civility_parent"], changed = self._civility_parents(examples), True
        if changed:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp.npz")
            np.savez(temporary, **arrays)
            temporary.rename(path)
        lexical = np.stack([lexical_features(e.text, e.parent, e.newcomer) for e in examples]) if examples else \
            np.zeros((0, 0), np.float32)
        return EncodedReplies(arrays["civility"], arrays["cold_logits"], arrays["reply"], arrays["parent"], lexical,
                              arrays["civility_parent"])

    def _civility_parents(self, examples: list[Example]) -> np.ndarray:
        """The civility encoder's embedding of each row's parent (an Example's parent is already
        cleaned as served), zeros without one."""
        parents = sorted({e.parent for e in examples if e.parent})
        rows = {}
        for start in range(0, len(parents), BATCH):
            chunk = parents[start:start + BATCH]
            rows.update(zip(chunk, self.civility.encoder.encode(chunk).astype(np.float32)))
        dim = self.civility.encoder.dim
        zeros = np.zeros(dim, np.float32)
        return np.stack([rows.get(e.parent, zeros) if e.parent else zeros for e in examples]) if examples \
            else np.zeros((0, dim), np.float32)

    def _encode(self, examples: list[Example], name: str) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        texts = [e.text for e in examples]
        civility, cold, reply = [], [], []
        for start in range(0, len(texts), BATCH):
            chunk = texts[start:start + BATCH]
            embeddings = self.civility.encoder.encode(chunk)
            civility.append(embeddings.astype(np.float32))
            cold.append(self.civility.head.logits(chunk, embeddings).astype(np.float32))
            reply.append(self.sentence.encode(chunk).astype(np.float32) if self.with_sentence
                         else np.zeros((len(chunk), 0), np.float32))
            print(f"\r{name}: {min(start + BATCH, len(texts))}/{len(texts)} encoded", end="", file=sys.stderr)
        parents = sorted({e.parent for e in examples if e.parent}) if self.with_sentence else []
        parent_rows = {}
        for start in range(0, len(parents), BATCH):
            chunk = parents[start:start + BATCH]
            for text, row in zip(chunk, self.sentence.encode(chunk)):
                parent_rows[text] = row.astype(np.float32)
        dim = self.sentence.dim if self.with_sentence else 0
        parent = np.stack([parent_rows.get(e.parent, np.zeros(dim, np.float32)) if e.parent
                           else np.zeros(dim, np.float32) for e in examples]) if examples else np.zeros((0, dim))
        print(f"\r{name}: {len(texts)} replies, {len(parents)} parents encoded in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        return {"civility": np.concatenate(civility), "cold_logits": np.concatenate(cold),
                "reply": np.concatenate(reply), "parent": parent, "civility_parent": self._civility_parents(examples)}


def cached_path_for(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}-*.npz"))
