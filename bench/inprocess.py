"""The same work without HTTP: references for the server's figures, measured in the bench process
after the server has stopped (so the two never compete for the cores).

  service_in_process    `QualityService.score` / `score_batch` on the same posts as the HTTP scenarios
                        (text post 100 calls / 5 s, text + 1080p photo 30 / 6 s, 256 text posts 3 / 15 s)
  photo_pipeline_1080p  one 1080p JPEG stage by stage (decode, network, heuristics, level, all), 40 runs / 20 s
"""

from __future__ import annotations

import statistics
import time

from bench.workload import TEXT, scaled, scaled_count, summarize_ms, timed_loop

PHOTO_BUDGET_S = 20.0


def photo_pipeline(data_b64: str, runs: int = 40, budget_s: float = PHOTO_BUDGET_S) -> dict:
    """In-process cost of one 1080p JPEG, stage by stage (medians, ms), on the same models as the server.

    References beside the total: the v0 heuristics alone, and the network's forward pass alone.
    """
    from quality.image.composition import assess_composition
    from quality.image.decode import decode_base64_image
    from quality.image.level import level_features
    from quality.image.scorer import CompositionScorer
    from quality.model_store import ModelStore
    from quality.settings import Settings

    settings = Settings()
    scorer = CompositionScorer(ModelStore(settings))
    limits = settings.limits
    stages: dict[str, list[float]] = {"decode": [], "network": [], "quality_network": [], "heuristics": [],
                                      "level": [], "decode_and_score": []}

    def timed(name, fn):
        started = time.perf_counter()
        value = fn()
        stages[name].append(1000 * (time.perf_counter() - started))
        return value

    decode = lambda: decode_base64_image(data_b64, max_bytes=limits.max_image_bytes,  # noqa: E731
                                         max_pixels=limits.max_image_pixels)
    deadline = time.perf_counter() + budget_s
    for _ in range(runs):
        if time.perf_counter() > deadline and stages["decode"]:
            break
        image = timed("decode", decode)
        if scorer.network is not None:
            timed("network", lambda: scorer.network.run([image.rgb]))
        if scorer.quality_features is not None:  # the perceived-quality pass at a 512 px long side
            timed("quality_network", lambda: scorer.quality_features.features(image.rgb))
        timed("heuristics", lambda: assess_composition(image, 0))
        if scorer.level is not None:  # the level detector's features and trees
            timed("level", lambda: scorer.level.probability(level_features(image.rgb)))
        timed("decode_and_score", lambda: scorer.score_batch([[decode()]]))
    return {f"{name}_p50_ms": round(statistics.median(v), 2) for name, v in stages.items() if v} | {
        "n": len(stages["decode"])}


def service_in_process(photo_b64: str, scale: float = 1.0) -> dict:
    """p50 of `QualityService` calls on the HTTP scenarios' posts, in this process (no HTTP, no JSON)."""
    from quality.schemas import Post
    from quality.service import QualityService
    from quality.settings import Settings

    started = time.perf_counter()
    service = QualityService(Settings())
    service.warm_up()
    load_s = time.perf_counter() - started
    text_post = Post(text=TEXT)
    photo_post = Post(text=TEXT, images=[{"data": photo_b64}])
    batch = [Post(id=str(i), text=f"{TEXT}{i}") for i in range(256)]
    service.score(photo_post)  # warm-up of the photo path
    out: dict = {"load_and_warm_up_s": round(load_s, 2)}
    for name, call, count, budget_s in (("text_post", lambda: service.score(text_post), 100, 5),
                                        ("photo_1080p", lambda: service.score(photo_post), 30, 6),
                                        ("batch_256_text", lambda: service.score_batch(batch), 3, 15)):
        seconds, stopped_by = timed_loop(call, scaled_count(count, scale), scaled(budget_s, scale, floor=0.5))
        out[name] = summarize_ms(seconds) | {"stopped_by": stopped_by, "per_s": round(len(seconds) / sum(seconds), 3)}
    out["batch_256_text"]["posts_per_s"] = round(256 * out["batch_256_text"].pop("per_s"), 1)
    return out
