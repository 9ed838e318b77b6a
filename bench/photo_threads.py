"""How many onnxruntime threads each photo network should have: one 1080p JPEG, decoded and scored
in process (`CompositionScorer.score_batch`), with the two networks built at each setting and the
settings taken in turns, so a busy machine slows them alike.

    .venv/bin/python -m bench.photo_threads [--rounds 8] [--per-round 5]

Prints, per setting (perceived-quality network threads, composition network threads), the median
and the fastest call in ms. The served setting is `QUALITY_PHOTO_THREADS` for both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

SETTINGS = ((2, 2), (1, 1), (2, 1))  # (perceived-quality threads, composition threads)


def scorer_with(settings, quality_threads: int, composition_threads: int):
    from quality.image.cnn import PhotoNetwork
    from quality.image.cnn_build import ensure_effnet_onnx
    from quality.image.quality_features import PhotoQualityFeatures
    from quality.image.scorer import NETWORK_NAME, CompositionScorer
    from quality.model_store import ModelStore

    scorer = CompositionScorer(ModelStore(settings))
    weights = scorer.store.path(NETWORK_NAME)
    scorer.network = PhotoNetwork(ensure_effnet_onnx(settings.cache_dir, weights=weights), threads=composition_threads)
    scorer.quality_features = PhotoQualityFeatures(settings.cache_dir, threads=quality_threads, weights=weights)
    return scorer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=5)
    args = parser.parse_args(argv)

    from bench.workload import load_average, photo_1080p_b64
    from quality.image.decode import decode_base64_image
    from quality.settings import Settings

    settings = Settings()
    photo = photo_1080p_b64()
    limits = settings.limits

    def decoded():
        return decode_base64_image(photo, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels)

    scorers = {threads: scorer_with(settings, *threads) for threads in SETTINGS}
    for scorer in scorers.values():  # warm-up: first calls touch the arenas
        for _ in range(3):
            scorer.score_batch([[decoded()]])
    times: dict[tuple[int, int], list[float]] = {threads: [] for threads in SETTINGS}
    load_before = load_average()
    for _ in range(args.rounds):
        for threads, scorer in scorers.items():
            for _ in range(args.per_round):
                started = time.perf_counter()
                scorer.score_batch([[decoded()]])
                times[threads].append(1000 * (time.perf_counter() - started))
    print(json.dumps({"load_average": [load_before, load_average()], "settings": [
        {"quality_threads": q, "composition_threads": c, "p50_ms": round(statistics.median(v), 1),
         "min_ms": round(min(v), 1), "n": len(v)} for (q, c), v in times.items()]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
