"""Distil the civility encoder into fewer layers for CPU serving (issue 20).

    python -m train.civility_distill [--layers 1,3,5,7,9,11] [--epochs 2] [--out /tmp/civility-student]

Teacher: the served civility-e5 (e5-small + `models/civility-e5/adapter`, merged, fp32 torch).
Student: the merged teacher with only `--layers` of its 12 blocks kept (every other one by
default, the last always), plus a LoRA adapter (rank `--rank` on every linear layer of the kept
blocks) trained so that the student's pooled, L2-normalised embedding matches the teacher's
(squared error) on unlabelled text of every kind the service reads. Every head reads that
embedding (the COLD head, the reply heads, and the text heads once they move onto it), so
matching it keeps them, and the heads are then measured on the student (`--check`, and
`train/civility_replies.py` with the student served).

The corpus uses no label and no evaluation text: COLD train, SWSR's training posts, car-forum
opinions (BDCI 2018), template replies and their parents, the team's training replies and
parents (train split and extra), the post-kind training posts, DiaSafety / ConvAbuse training
turns, the politeness corpora and UKPConvArg arguments (English, read by the same encoder).
2 % of it (by hash) is held out to report the student-teacher cosine.

Writes `<out>/adapter/` (the student's LoRA, stored in float16: 2.7 MB instead of 5.4; loaded into
the fp32 model, the merged weights differ by < 5e-4) and `<out>/student.json` (kept layers, training
figures). A student saved in float32 before that is converted in place with

    python -m train.civility_distill --half --out /tmp/civility-student

Then

    python -m train.civility_distill --heads --out /tmp/civility-student

builds the student as served (merged, static int8 ONNX, in the cache) and refits the COLD head on
its embeddings as `train/civility_finetune.py` fits the teacher's (a linear head on the fit rows of
COLD train, C chosen on the held-out 10 %, the stacker with the char n-gram model fitted there),
writes `<out>/head.npz`, and reports COLD dev AUC of teacher and student as served, side by side.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from quality.normalize import clean_text
from quality.settings import get_settings
from quality.text.civility_e5 import keep_layers
from train.civility_finetune import LORA_TARGETS, PREFIX, train_loop

SEED = 13
MAX_LENGTH = 256  # posts are longer than replies; 97 % of the corpus fits
HELD_OUT_SHARE = 0.02
TEACHER_HEAD = "teacher_head.npz"  # the teacher's COLD head, kept beside the served (student's) head.npz


def store_half(adapter_dir: Path) -> None:
    """Rewrite a saved adapter's floating tensors in float16 (peft casts them back on loading)."""
    from safetensors.torch import load_file, save_file

    path = Path(adapter_dir) / "adapter_model.safetensors"
    weights = load_file(path)
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, path,
              metadata={"format": "pt"})


def _share(text: str) -> float:
    return int(hashlib.sha256(f"distil:{text}".encode()).hexdigest()[:8], 16) / 0x100000000


def corpus(data_dir: Path) -> list[str]:
    """Unlabelled training texts, cleaned as served, deduplicated, in a fixed order."""
    from train.argument_heads import read_pairs
    from train.post_kind import DATA as POSTS, read_posts
    from train.reply_sources import (read_cold, read_convabuse, read_diasafety, read_extra_team_replies, read_swsr,
                                     read_team_replies)
    from train.reply_templates import Generator

    texts: list[str] = []
    texts += [x.text for x in read_cold(data_dir / "civility" / "cold_train.csv")]
    texts += [x.text for x in read_swsr(data_dir / "civility" / "swsr_comments.csv")[0]]
    with open(data_dir / "domain" / "bdci2018_car_opinions.csv", encoding="utf-8-sig", newline="") as handle:
        texts += [row["content"] for row in csv.DictReader(handle)]
    for row in Generator(SEED).rows(12000):
        texts += [row.text, row.parent or ""]
    team = read_team_replies("train") + read_extra_team_replies()
    texts += [x.text for x in team] + [x.parent or "" for x in team]
    texts += [((p.get("title") or "") + "\n" + (p.get("text") or "")).strip()
              for p in read_posts(POSTS) if p["split"] == "train"]
    english = (read_diasafety(data_dir / "incivility_en" / "diasafety" / "train.json")
               + read_convabuse(data_dir / "incivility_en" / "convabuse" / "train.csv"))
    texts += [x.text for x in english] + [x.parent or "" for x in english]
    for name in ("polite_wikipedia.csv", "polite_stack-exchange.csv"):
        with open(data_dir / "civility" / name, encoding="utf-8", newline="") as handle:
            texts += [row.get("Request", "") for row in csv.DictReader(handle)]
    for pair in read_pairs(data_dir / "helpfulness" / "ukpconvarg2"):
        texts += [pair.winner, pair.loser]
    seen, out = set(), []
    for text in map(clean_text, texts):
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def merged_teacher(adapter_dir: Path):
    from peft import PeftModel
    from transformers import AutoModel

    from quality.text.e5 import ensure_e5

    return PeftModel.from_pretrained(AutoModel.from_pretrained(ensure_e5()), adapter_dir).merge_and_unload()


def pooled(model, ids, mask) -> torch.Tensor:
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9), dim=-1)


def collate(tokenizer, texts: list[str]):
    encoded = tokenizer([PREFIX + t for t in texts], padding=True, truncation=True, max_length=MAX_LENGTH,
                        return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


@torch.inference_mode()
def embed_all(model, tokenizer, texts: list[str], batch_size: int = 64, label: str = "") -> np.ndarray:
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    started = time.time()
    for n, start in enumerate(range(0, len(order), batch_size)):
        rows = order[start:start + batch_size]
        out[rows] = pooled(model, *collate(tokenizer, [texts[i] for i in rows])).numpy()
        if label and n % 100 == 0:
            print(f"{label}: {start + len(rows)}/{len(texts)} in {time.time() - started:.0f} s", flush=True)
    return out


def served_teacher_embeddings(texts: list[str], adapter_dir: Path, batch_size: int = 256) -> np.ndarray:
    """The teacher as served (static int8 ONNX), truncated as the student reads: ~5x the torch fp32 pass here."""
    from quality.text.civility_e5 import ensure_civility_onnx
    from quality.text.onnx_encoder import encoder_from_onnx_dir

    settings = get_settings()
    model = ensure_civility_onnx(adapter_dir, settings.cache_dir)
    encoder = encoder_from_onnx_dir(model.parent, model.name, threads=settings.threads, max_length=MAX_LENGTH)
    out = np.zeros((len(texts), encoder.dim), np.float32)
    started = time.time()
    for start in range(0, len(texts), batch_size):
        out[start:start + batch_size] = encoder.encode(texts[start:start + batch_size])
        if start % (40 * batch_size) == 0:
            print(f"teacher (int8 ONNX): {start + batch_size}/{len(texts)} in {time.time() - started:.0f} s", flush=True)
    return out


def teacher_embeddings(texts: list[str], adapter_dir: Path, tokenizer, cache: Path, served: bool = False) -> np.ndarray:
    """The teacher's pooled embeddings of `texts`, cached by adapter and texts: the merged fp32 torch model, or
    with `served` the int8 ONNX model the service runs (what a served student replaces)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in adapter_dir.rglob("*") if p.is_file()):
        digest.update(file.read_bytes())
    for text in texts:
        digest.update(text.encode() + b"\n")
    path = cache / f"distil-teacher-{digest.hexdigest()[:16]}-{MAX_LENGTH}{'-int8' if served else ''}.npy"
    if path.is_file():
        return np.load(path)
    if served:
        embeddings = served_teacher_embeddings(texts, adapter_dir)
    else:
        embeddings = embed_all(merged_teacher(adapter_dir), tokenizer, texts, label="teacher")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, embeddings)
    return embeddings


def main(argv: list[str] | None = None) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from quality.artifacts import cache_dir
    from quality.text.e5 import ensure_e5

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="1,3,5,7,9,11")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--train-norms", action="store_true",
                        help="also train the kept blocks' LayerNorms (a full copy of each, a few KB), which the "
                             "dropped blocks' absence shifts")
    parser.add_argument("--served-teacher", action="store_true",
                        help="targets from the teacher as served (int8 ONNX; ~10 min for the corpus instead of ~47)")
    parser.add_argument("--limit", type=int, default=0, help="use only this many corpus texts (a quick trial)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/civility-student"))
    parser.add_argument("--heads", action="store_true",
                        help="refit the COLD head on the trained student in --out, as served, and compare with the teacher")
    parser.add_argument("--half", action="store_true",
                        help="store the adapter of the trained student in --out in float16 (in place)")
    args = parser.parse_args(argv)
    if args.half:
        store_half(args.out / "adapter")
        spec = json.loads((args.out / "student.json").read_text())
        (args.out / "student.json").write_text(json.dumps({**spec, "adapter_dtype": "float16"}, indent=1) + "\n")
        return
    if args.heads:
        refit_heads(args.out)
        return
    torch.manual_seed(SEED)
    torch.set_num_threads(settings.threads)
    rng = random.Random(SEED)
    layers = [int(v) for v in args.layers.split(",")]
    adapter_dir = settings.models_dir / "civility-e5" / "adapter"
    tokenizer = AutoTokenizer.from_pretrained(ensure_e5())

    texts = corpus(settings.data_dir)
    if args.limit:
        texts = random.Random(SEED).sample(texts, args.limit)
    held = np.array([_share(t) < HELD_OUT_SHARE for t in texts])
    print(f"corpus: {len(texts)} texts, {int(held.sum())} held out", flush=True)
    targets = teacher_embeddings(texts, adapter_dir, tokenizer, cache_dir(settings.cache_dir) / "distil",
                                 served=args.served_teacher)
    train_rows = np.flatnonzero(~held)
    train_texts = [texts[i] for i in train_rows]
    train_targets = torch.tensor(targets[train_rows])

    student = keep_layers(merged_teacher(adapter_dir), layers)
    student = get_peft_model(student, LoraConfig(r=args.rank, lora_alpha=args.rank, lora_dropout=0.0,
                                                 target_modules=LORA_TARGETS,
                                                 modules_to_save=["LayerNorm"] if args.train_norms else None))
    trainable = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    total = int(args.epochs * len(train_texts) / args.batch_size)
    warmup = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))
    args.out.mkdir(parents=True, exist_ok=True)

    def batch_loss(ids, mask, rows):
        # squared distance of unit vectors = 2 - 2 cos; halved, it is 1 - cos per row
        return ((pooled(student, ids, mask) - train_targets[rows]) ** 2).sum(-1).mean() / 2

    step, started = train_loop(student, tokenizer, train_texts, batch_loss, total_steps=total,
                               batch_size=args.batch_size, rng=rng, optimizer=optimizer, scheduler=scheduler,
                               trainable=trainable, out=args.out, save_every=500, collate_fn=collate,
                               save=lambda model, out: model.save_pretrained(out / "adapter"), loss_name="1-cos")
    student.save_pretrained(args.out / "adapter")
    store_half(args.out / "adapter")
    minutes = round((time.time() - started) / 60, 1)
    held_texts = [texts[i] for i in np.flatnonzero(held)]
    cosine = (embed_all(student, tokenizer, held_texts) * targets[held]).sum(1)
    report = {"layers": layers, "rank": args.rank, "lora_targets": LORA_TARGETS, "train_norms": args.train_norms,
              "teacher": "int8 ONNX as served" if args.served_teacher else "merged fp32",
              "max_length": MAX_LENGTH,
              "prefix": PREFIX, "steps": step, "batch_size": args.batch_size, "lr": args.lr, "minutes": minutes,
              "corpus": len(texts), "held_out": len(held_texts),
              "held_out_cosine": {"mean": round(float(cosine.mean()), 5),
                                  "p05": round(float(np.quantile(cosine, 0.05)), 5),
                                  "min": round(float(cosine.min()), 5)} if len(cosine) else None,
              "teacher_adapter": str(adapter_dir), "adapter_dtype": "float16"}
    (args.out / "student.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report), flush=True)


def refit_heads(out: Path) -> dict:
    """The COLD head and stacker on the served student's embeddings; COLD dev AUC against the teacher."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from quality.text.civility_e5 import StackedCivilityHead, ensure_civility_onnx
    from quality.text.civility_head import char_ngram_tfidf
    from quality.text.onnx_encoder import encoder_from_onnx_dir
    from train.civility import binary_metrics, fit_idf, fit_logistic
    from train.civility_finetune import read_cold as read_cold_rows

    settings = get_settings()
    adapter_dir = settings.models_dir / "civility-e5" / "adapter"
    rows = read_cold_rows(settings.data_dir / "civility" / "cold_train.csv")
    fit_rows, holdout_rows = train_test_split(rows, test_size=0.1, random_state=SEED, stratify=[r.label for r in rows])
    dev_rows = read_cold_rows(settings.data_dir / "civility" / "cold_dev.csv")
    texts = {name: [clean_text(r.text) for r in part] for name, part in
             (("fit", fit_rows), ("holdout", holdout_rows), ("dev", dev_rows))}
    y = {name: np.array([r.label for r in part]) for name, part in
         (("fit", fit_rows), ("holdout", holdout_rows), ("dev", dev_rows))}

    def encoder(student_dir):
        model = ensure_civility_onnx(adapter_dir, settings.cache_dir, student_dir=student_dir)
        return encoder_from_onnx_dir(model.parent, model.name, threads=settings.threads)

    teacher_head = StackedCivilityHead.load(settings.models_dir / "civility-e5" / TEACHER_HEAD)
    teacher_dev = teacher_head.offensive_probability(texts["dev"], encoder(None).encode(texts["dev"]))
    student = encoder(out)
    started = time.time()
    embedded = {name: student.encode(part) for name, part in texts.items()}
    print(f"student encoded {sum(map(len, texts.values()))} COLD texts in {time.time() - started:.0f} s", flush=True)
    heads = {c: LogisticRegression(C=c, max_iter=3000).fit(embedded["fit"], y["fit"]) for c in (1.0, 10.0, 100.0)}
    c_best = max(heads, key=lambda c: roc_auc_score(y["holdout"], heads[c].decision_function(embedded["holdout"])))
    head = heads[c_best]
    idf = fit_idf(texts["fit"])
    ngram = fit_logistic(char_ngram_tfidf(texts["fit"], idf), y["fit"], 16.0)
    stack = np.column_stack([head.decision_function(embedded["holdout"]),
                             ngram.decision_function(char_ngram_tfidf(texts["holdout"], idf))])
    stacker = LogisticRegression(C=1.0).fit(stack, y["holdout"])
    np.savez_compressed(out / "head.npz", weight=head.coef_.ravel().astype(np.float32),
                        bias=np.float32(head.intercept_[0]), stacker_coef=stacker.coef_.ravel(),
                        stacker_intercept=np.float64(stacker.intercept_[0]), idf=idf.astype(np.float16),
                        ngram_coef=ngram.coef_.ravel().astype(np.float32),
                        ngram_intercept=np.float64(ngram.intercept_[0]))
    student_dev = StackedCivilityHead.load(out / "head.npz").offensive_probability(texts["dev"], embedded["dev"])
    report = {"head_c": c_best, "cold_dev": {"teacher_served": binary_metrics(y["dev"], teacher_dev),
                                             "student_served": binary_metrics(y["dev"], student_dev)}}
    spec = json.loads((out / "student.json").read_text())
    (out / "student.json").write_text(json.dumps({**spec, "heads": report}, indent=1) + "\n")
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
