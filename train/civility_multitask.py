"""Fine-tune the civility encoder for replies too: one e5-small (LoRA), five heads.

    python -m train.civility_multitask [--max-steps 1200] [--out /tmp/civility-mt]

Starts from the served civility-e5 adapter (COLD) and keeps training it, on the reply alone
("query: " + text, as served: one encoder pass per reply), with a linear head per task on the
pooled embedding and a masked loss (a row trains only the tasks it has labels for):
- offensive: COLD train (a sample, so the encoder keeps COLD's notion; its dev AUC is checked);
- uncivil: the team's train replies (x4), template replies, SWSR (sexist = uncivil), DiaSafety
  "Offending User" and ConvAbuse (English, through the multilingual encoder);
- constructive, disagreement, reasoned: the team's train replies and template replies.
`--extra-team` adds `data/replies/extra_train.jsonl`; `--with-dev` adds replies.jsonl's dev split
(once the second dev set, `dev2.jsonl`, does the choosing); `--context` makes the reply tasks'
heads read the parent's embedding too ([reply, parent, reply x parent], the served reply heads'
form; the parent passes without gradient).
The parent is read later, by the reply heads (`train/civility_replies.py`) on top of this
encoder's embedding and the sentence encoder's embeddings of reply and parent. Writes the adapter
and the COLD head (`head.npz`, stacked with char n-grams as `train/civility_finetune.py` does) in
the layout `models/civility-e5/` uses, so the served model can be swapped for it.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from quality.settings import get_settings
from train.civility_finetune import LORA_TARGETS, PREFIX, CivilityModel, finish, save_adapter, train_loop
from train.reply_sources import (read_cold, read_convabuse, read_diasafety, read_extra_team_replies, read_swsr,
                                 read_team_replies)

SEED = 13
TASKS = ("offensive", "uncivil", "constructive", "disagreement", "reasoned")
MAX_LENGTH = 96


class MultiTaskModel(CivilityModel):
    """CivilityModel (its `head` is the offensive head) plus one linear head per other task. With
    `context`, the reply tasks' heads read [reply, parent, reply x parent] embeddings — the form of
    the served reply heads — so the encoder learns reply embeddings that say more beside a parent."""

    def __init__(self, encoder, context: bool = False):
        super().__init__(encoder)
        hidden = encoder.config.hidden_size
        self.context = context
        width = hidden * 3 if context else hidden
        self.task_heads = torch.nn.ModuleDict({task: torch.nn.Linear(width, 1) for task in TASKS[1:]})

    def all_logits(self, input_ids, attention_mask, parents: torch.Tensor | None = None) -> torch.Tensor:
        """One logit per task; `parents`: the parents' embeddings (zeros for rows without one)."""
        pooled = self.embed(input_ids, attention_mask)
        dropped = self.dropout(pooled)  # one mask for every head, as before `context` existed
        reply = torch.cat([dropped, parents, pooled * parents], dim=1) if self.context else dropped
        return torch.cat([self.head(dropped)] + [self.task_heads[t](reply) for t in TASKS[1:]], dim=1)


def rows_for_training(data_dir: Path, rng: random.Random, extra_team: bool = False,
                      with_dev: bool = False) -> list[tuple[str, str | None, list[float]]]:
    """(text, its parent or None, one label per task, NaN where the row has none)."""
    from quality.normalize import clean_text
    from train.civility_replies import SEED as TEMPLATE_SEED
    from train.reply_templates import Generator

    nan = float("nan")
    rows: list[tuple[str, list[float]]] = []
    cold = read_cold(data_dir / "civility" / "cold_train.csv")
    rng.shuffle(cold)
    rows += [(x.text, x.parent, [x.uncivil, nan, nan, nan, nan]) for x in cold[:6000]]
    swsr, _ = read_swsr(data_dir / "civility" / "swsr_comments.csv")
    rng.shuffle(swsr)
    rows += [(x.text, x.parent, [nan, x.uncivil, nan, nan, nan]) for x in swsr[:2500]]
    english = (read_diasafety(data_dir / "incivility_en" / "diasafety" / "train.json", offending_only=True)
               + read_convabuse(data_dir / "incivility_en" / "convabuse" / "train.csv"))
    rng.shuffle(english)
    rows += [(x.text, x.parent, [nan, x.uncivil, nan, nan, nan]) for x in english[:2500]]

    def labelled(x) -> list[float]:
        return [nan, x.uncivil, nan if x.constructive is None else x.constructive,
                nan if x.disagreement is None else x.disagreement, nan if x.reasoned is None else x.reasoned]

    for r in Generator(TEMPLATE_SEED).rows(12000):
        rows.append((r.text, clean_text(r.parent) or None, [nan, int(r.label == "uncivil"), nan if r.label == "uncivil" else int(r.label == "constructive"),
                              int(r.is_disagreement), nan if not r.is_disagreement else int(bool(r.reasoned))]))
    team = (read_team_replies("train") + (read_extra_team_replies() if extra_team else [])
            + (read_team_replies("dev") if with_dev else []))
    rows += [(x.text, x.parent, labelled(x)) for x in team] * 4
    rng.shuffle(rows)
    return rows


def main(argv: list[str] | None = None) -> None:
    from peft import PeftModel
    from sklearn.model_selection import train_test_split
    from transformers import AutoModel, AutoTokenizer

    from quality.text.e5 import ensure_e5
    from train.civility_finetune import MAX_LENGTH as _  # noqa: F401  (same tokenizer settings otherwise)
    import train.civility_finetune as finetune

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/civility-mt"))
    parser.add_argument("--max-steps", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--version", default=time.strftime("%Y.%m.%d") + "-replies")
    parser.add_argument("--extra-team", action="store_true", help="also train on data/replies/extra_train.jsonl")
    parser.add_argument("--with-dev", action="store_true",
                        help="also train on replies.jsonl's dev split (when the second dev set, dev2.jsonl, chooses)")
    parser.add_argument("--context", action="store_true",
                        help="the reply tasks' heads read [reply, parent, reply x parent] (parent without gradient)")
    args = parser.parse_args(argv)
    finetune.MAX_LENGTH = MAX_LENGTH
    torch.manual_seed(SEED)
    torch.set_num_threads(settings.threads)
    rng = random.Random(SEED)

    rows = rows_for_training(settings.data_dir, rng, args.extra_team, args.with_dev)
    texts = [text for text, _, _ in rows]
    parents = [parent for _, parent, _ in rows]
    labels = np.array([y for _, _, y in rows], dtype=np.float32)
    print(f"{len(rows)} rows; labels per task: " + ", ".join(
        f"{t} {int((~np.isnan(labels[:, i])).sum())}" for i, t in enumerate(TASKS)), flush=True)

    base_dir = ensure_e5()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    served = settings.models_dir / "civility-e5"
    encoder = PeftModel.from_pretrained(AutoModel.from_pretrained(base_dir), served / "adapter", is_trainable=True)
    model = MultiTaskModel(encoder, context=args.context)
    with np.load(served / "head.npz") as head:  # the offensive head starts where the served one is
        with torch.no_grad():
            model.head.weight.copy_(torch.tensor(head["weight"]).reshape(1, -1))
            model.head.bias.fill_(float(head["bias"]))
            for task_head in model.task_heads.values():
                task_head.weight.normal_(0, 1.0)
                task_head.bias.zero_()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and "head" not in n], "lr": args.lr},
        {"params": list(model.head.parameters()) + list(model.task_heads.parameters()), "lr": args.lr * 10},
    ], weight_decay=0.01)
    total = args.max_steps
    warmup = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)))
    args.out.mkdir(parents=True, exist_ok=True)

    def parent_embeddings(batch) -> torch.Tensor | None:
        """The batch's parents through the encoder being trained, without gradient (as served: the
        parent's embedding is computed once per thread); zeros for rows without a parent."""
        if not args.context:
            return None
        out = torch.zeros(len(batch), model.encoder.config.hidden_size)
        with_parent = [k for k, i in enumerate(batch) if parents[i]]
        if with_parent:
            with torch.no_grad():
                p_ids, p_mask = finetune.collate(tokenizer, [parents[batch[k]] for k in with_parent])
                out[with_parent] = model.embed(p_ids, p_mask)
        return out

    def batch_loss(ids, mask, batch):
        y = torch.tensor(labels[batch])
        known = ~torch.isnan(y)  # a row trains only the tasks it has labels for
        logits = model.all_logits(ids, mask, parent_embeddings(batch))
        return torch.nn.functional.binary_cross_entropy_with_logits(logits[known], y[known])

    step, started = train_loop(model, tokenizer, texts, batch_loss, total_steps=total, batch_size=args.batch_size,
                               rng=rng, optimizer=optimizer, scheduler=scheduler, trainable=trainable, out=args.out,
                               save_every=300)
    save_adapter(model, args.out)
    torch.save(model.task_heads.state_dict(), args.out / "task_heads.pt")
    minutes = round((time.time() - started) / 60, 1)
    print(f"trained {step} steps in {minutes} min", flush=True)

    # The COLD head, stacked with char n-grams, as train/civility_finetune.py writes it.
    from train.civility_finetune import read_cold as read_cold_rows
    from quality.normalize import clean_text

    cold_rows = read_cold_rows(settings.data_dir / "civility" / "cold_train.csv")
    fit_rows, holdout_rows = train_test_split(cold_rows, test_size=0.1, random_state=SEED,
                                              stratify=[r.label for r in cold_rows])
    dev_rows = read_cold_rows(settings.data_dir / "civility" / "cold_dev.csv")
    args.rank, args.epochs = 8, None
    finish(args, model, tokenizer, [clean_text(r.text) for r in fit_rows], np.array([r.label for r in fit_rows]),
           [clean_text(r.text) for r in holdout_rows], np.array([r.label for r in holdout_rows]), dev_rows,
           [clean_text(r.text) for r in dev_rows], np.array([r.label for r in dev_rows]),
           {"steps": step, "batch_size": args.batch_size, "lr": args.lr, "minutes": minutes,
            "multitask": list(TASKS), "rows": len(rows), "max_length": MAX_LENGTH,
            "started_from": "models/civility-e5 adapter",
            "extra_team": args.extra_team, "with_dev": args.with_dev, "context": args.context}, started)
    (args.out / "multitask.json").write_text(json.dumps({"tasks": list(TASKS), "prefix": PREFIX,
                                                         "lora_targets": LORA_TARGETS}, indent=1) + "\n")


if __name__ == "__main__":
    main()
