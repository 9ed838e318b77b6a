"""SentencePiece in place of a Unigram `tokenizer.json` (XLM-R's, which e5 uses): the same pieces,
scores and normaliser, a fifth of the memory and half the load time.

`tokenizers` keeps XLM-R's 250,002 pieces in ~280 MB and takes ~1 s to load them; SentencePiece
holds the same model in ~55 MB and segments 5x faster. The pieces are written in the
tokenizer.json's id order, so the ids need no offset. The two agree on all but ties: on 40,213
COLD and team texts, 26 (0.07 %) differ, each an equal-score segmentation ordered the other way
(runs of "!", combining marks); docs/performance.md has the figures.

`sentencepiece_model(tokenizer_path)` writes `<tokenizer>.<sha12>.spm` beside the tokenizer once,
checked against `tokenizers` on CHECK_TEXTS, and returns None when the tokenizer is not of that
kind, the check fails, or the directory is read-only: the caller keeps `tokenizers` then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

# Ordinary texts of every script the service reads; a conversion that segments any differently is refused.
CHECK_TEXTS = (
    "query: 新手提车，请问保养周期多久？", "query: 你这种人也配开车？回驾校重学吧",
    "query: 油耗6.2L/100km，后备箱能放下28寸箱子。", "query: The brakes fade after two laps, change the fluid.",
    "query: 全角ＡＢＣ１２３ and ｶﾀｶﾅ", "query: 😂🚗 emoji 和 tab\tnew\nline", "query: ", "query:   多 个  空格 ",
    "query: Ⅻ ① ℌ𝔢𝔩𝔩𝔬 \u200b零宽", "query: " + "长文本" * 400,
)


def _spec_supported(spec: dict) -> bool:
    model, normalizer, pre = spec.get("model") or {}, spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre])
    return (model.get("type") == "Unigram" and not model.get("byte_fallback")
            and normalizer.get("type") == "Precompiled"
            and [s.get("type") for s in steps] in (["Metaspace"], ["WhitespaceSplit", "Metaspace"])
            and all(s.get("replacement", "▁") == "▁" and s.get("prepend_scheme", "always") == "always"
                    for s in steps if s.get("type") == "Metaspace"))


def _special_id(spec: dict, content: str) -> int | None:
    return next((t["id"] for t in spec.get("added_tokens", []) if t["content"] == content), None)


def write_sentencepiece(spec: dict, out: Path) -> None:
    """A SentencePiece model with the Unigram tokenizer.json's pieces, scores and normaliser, ids unchanged."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    trainer, normalizer = proto.trainer_spec, proto.normalizer_spec
    trainer.model_type = pb.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(spec["model"]["vocab"])
    trainer.unk_id = spec["model"]["unk_id"]
    for field, token in (("bos_id", "<s>"), ("eos_id", "</s>"), ("pad_id", "<pad>")):
        setattr(trainer, field, _special_id(spec, token) if _special_id(spec, token) is not None else -1)
    normalizer.name = "nmt_nfkc"
    normalizer.precompiled_charsmap = base64.b64decode(spec["normalizer"]["precompiled_charsmap"])
    normalizer.add_dummy_prefix = normalizer.remove_extra_whitespaces = normalizer.escape_whitespaces = True
    special = {t["id"] for t in spec.get("added_tokens", [])}
    kinds = pb.ModelProto.SentencePiece
    for index, (piece, score) in enumerate(spec["model"]["vocab"]):
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = (kinds.UNKNOWN if index == trainer.unk_id else kinds.CONTROL if index in special
                      else kinds.NORMAL)
    out.write_bytes(proto.SerializeToString())


class SentencePieceTokenizer:
    """`encode_batch(texts) -> ids` as `tokenizers` gives them: <s> pieces </s>, truncated to max_length."""

    def __init__(self, model_path: Path, max_length: int):
        import sentencepiece

        self._processor = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
        self.bos_id, self.eos_id = self._processor.bos_id(), self._processor.eos_id()
        self.pad_id = self._processor.pad_id()
        self._budget = max_length - 2

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [[self.bos_id, *ids[:self._budget], self.eos_id] for ids in self._processor.encode(list(texts))]


def _agrees(model_path: Path, tokenizer_path: Path) -> bool:
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(tokenizer_path))
    reference.no_truncation()
    reference.no_padding()
    ours = SentencePieceTokenizer(model_path, max_length=1 << 20)
    return [e.ids for e in reference.encode_batch(list(CHECK_TEXTS))] == ours.encode_batch(list(CHECK_TEXTS))


def sentencepiece_model(tokenizer_path: Path) -> Path | None:
    """The checked SentencePiece copy of `tokenizer_path` (made on first use), or None."""
    tokenizer_path = Path(tokenizer_path)
    digest = hashlib.sha256(tokenizer_path.read_bytes()).hexdigest()[:12]
    target = tokenizer_path.with_name(f"{tokenizer_path.stem}.{digest}.spm")
    refused = target.with_suffix(".not-spm")
    if target.exists():
        return target
    if refused.exists():
        return None
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        return None
    try:
        spec = json.loads(tokenizer_path.read_text(encoding="utf-8"))
        staging = target.with_suffix(f".tmp-{os.getpid()}")
        if not _spec_supported(spec):
            refused.touch()
            return None
        write_sentencepiece(spec, staging)
        if not _agrees(staging, tokenizer_path):
            staging.unlink()
            refused.touch()
            return None
        os.replace(staging, target)  # atomic: a concurrent process sees the whole file or none
    except OSError:  # a read-only cache: keep tokenizers
        return None
    return target
