"""Sentence embeddings from an exported ONNX graph, with onnxruntime + tokenizers only (no torch).

XLM-R-style tokenizers (e5's) are read through SentencePiece instead (`quality.text.spm_tokenizer`):
the same ids in a fifth of the memory.

The graph (see `quality.text.onnx_export`) takes input_ids / attention_mask and returns
pooled, L2-normalised rows. `encode` tokenises, sorts texts by length and runs them in
micro-batches of similar length, so little time goes into padding; padding never changes a
row (padded keys get zero attention and are left out of pooling), so the result of a text
does not depend on the rest of its batch.

    encoder = encoder_from_onnx_dir(directory, "model.int8.onnx")
    # building (or finding the cached build) and loading in one call: quality.text.onnx_export's
    # load_e5_onnx("int8") and load_sentence_transformer_dir(Path("bge-small-zh"))
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUTPUT_NAME = "sentence_embedding"
MICRO_BATCH = 32  # rows per session call: past ~32 short texts, throughput no longer improves
# Padded tokens per call: bounds the attention scratch (rows x heads x len^2), which onnxruntime's
# arena keeps once touched. 8192 held ~360 MB more for good after one batch of long texts and
# was slower on them (first touch of that memory); 1024 (two 512-token rows) costs short texts
# nothing and keeps concurrent batches out of the server's peak (docs/performance.md).
MAX_BATCH_TOKENS = 1024
PAD_TOKENS = ("<pad>", "[PAD]")  # looked up when neither the caller nor tokenizer.json names a pad id
# Idle ORT threads sleep instead of spinning: on 2 shared cores, spinning halved int8 throughput (166 -> 73 texts/s).
ALLOW_SPINNING = "0"


def load_tokenizer(path: Path, max_length: int, pad_id: int | None = None):
    """A `tokenizers.Tokenizer` that truncates to `max_length` (special tokens included) and never pads."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # padding is per micro-batch, in padded_feeds
    tokenizer.enable_truncation(max_length)
    if pad_id is None:
        padding = json.loads(Path(path).read_text(encoding="utf-8")).get("padding") or {}
        known = [tokenizer.token_to_id(token) for token in PAD_TOKENS]
        pad_id = padding.get("pad_id", next((i for i in known if i is not None), 0))
    return tokenizer, int(pad_id)


def padded_feeds(rows: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    """Right-padded int64 input_ids and attention_mask for one session call."""
    length = max(len(row) for row in rows)
    ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def micro_batches(lengths: list[int], max_rows: int = MICRO_BATCH,
                  max_tokens: int = MAX_BATCH_TOKENS) -> list[list[int]]:
    """Indices grouped by similar length (shortest first), each group within both limits."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        # Sorted ascending, so this row is the longest so far: it sets the padded width.
        if current and (len(current) == max_rows or (len(current) + 1) * lengths[index] > max_tokens):
            batches.append(current)
            current = []
        current.append(index)
    return batches + [current] if current else batches


def _ids_function(path: Path, max_length: int, pad_id: int | None):
    """texts -> token ids: SentencePiece where the tokenizer converts to it (XLM-R's Unigram: ~230 MB
    and ~0.5 s of start-up less), else `tokenizers`; the pad id; which of the two."""
    from quality.text.spm_tokenizer import SentencePieceTokenizer, sentencepiece_model

    model = sentencepiece_model(path)
    if model is None:
        tokenizer, pad = load_tokenizer(path, max_length, pad_id)
        return (lambda texts: [encoding.ids for encoding in tokenizer.encode_batch(texts)]), pad, "tokenizers"
    tokenizer = SentencePieceTokenizer(model, max_length)
    return (tokenizer.encode_batch, int(pad_id if pad_id is not None else max(tokenizer.pad_id, 0)),
            "sentencepiece")


class OnnxSentenceEncoder:
    """TextEncoder over an ONNX sentence-embedding graph. `encode` is safe to call from several threads."""

    def __init__(self, model_path: Path, tokenizer_path: Path, *, name: str, prefix: str = "query: ",
                 max_length: int = 512, threads: int = 2, pad_id: int | None = None, lowercase: bool = False):
        import onnxruntime as ort

        self.name = name
        self.prefix = prefix
        self.max_batch_tokens = MAX_BATCH_TOKENS  # padded tokens per session call (bench/encoder_budget.py varies it)
        self.max_length = max_length
        self._lowercase = lowercase
        self._ids, self._pad_id, self.tokenizer_backend = _ids_function(Path(tokenizer_path), max_length, pad_id)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", ALLOW_SPINNING)
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        width = self._session.get_outputs()[0].shape[-1]
        self.dim = width if isinstance(width, int) else int(self._run([[self._pad_id]]).shape[1])

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        return self._session.run([OUTPUT_NAME], padded_feeds(rows, self._pad_id))[0]

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The ids `encode` feeds the model: prefix added, truncated to max_length."""
        inputs = [self.prefix + text for text in texts]
        if self._lowercase:
            inputs = [text.lower() for text in inputs]
        return self._ids(inputs)

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = self.token_ids(list(texts))
        vectors = np.zeros((len(rows), self.dim), dtype=np.float32)
        for batch in micro_batches([len(row) for row in rows], max_tokens=self.max_batch_tokens):
            vectors[batch] = self._run([rows[i] for i in batch])
        return vectors


def encoder_from_onnx_dir(directory: Path, model_file: str, *, prompt_name: str | None = None,
                          threads: int = 2, max_length: int | None = None) -> OnnxSentenceEncoder:
    """An encoder for `directory/model_file`, configured by the directory's encoder.json.

    `prompt_name` picks one of the model's prompts as prefix; default: the model's default
    prompt (for e5, "query: "), or none. `max_length` truncates shorter than the model's own.
    """
    directory = Path(directory)
    config = json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
    prefix = config["prefix"]
    if prompt_name is not None:
        if prompt_name not in config["prompts"]:
            raise ValueError(f"prompt {prompt_name!r} is not one of {sorted(config['prompts'])} for {config['name']}")
        prefix = config["prompts"][prompt_name]
    if prefix and not config.get("include_prompt", True) and config["pooling"] != "cls":
        raise ValueError(f"{config['name']} pools without its prompt tokens (include_prompt=false), "
                         f"which the ONNX graph does not do; use no prompt")
    variant = model_file.removeprefix("model.").removesuffix(".onnx")
    return OnnxSentenceEncoder(
        directory / model_file, directory / "tokenizer.json", name=f"{config['name']}-{variant}-onnx",
        prefix=prefix, max_length=min(max_length or config["max_length"], config["max_length"]), threads=threads,
        pad_id=config["pad_id"],
        lowercase=config["lowercase"],
    )
