"""Resident memory of the service scoring 1080p photo posts, alone and side by side, in process.

    .venv/bin/python -m bench.memory_photos                          # as configured (2 malloc arenas)
    QUALITY_MALLOC_ARENAS=0 .venv/bin/python -m bench.memory_photos  # glibc's default arenas

Loads the service, scores one photo post, then 6 one after another, 16 at 8 at a time and 64
at 32 at a time (each post one of 8 distinct photos), printing VmRSS and the peak (VmHWM)
after each step. Figures: docs/performance.md "Memory".
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from bench.workload import photos_1080p_b64, rss_mb
from quality.schemas import Post
from quality.service import QualityService
from quality.settings import Settings


def main() -> None:
    photos = photos_1080p_b64(8)
    service = QualityService(Settings())

    def score(i: int) -> None:
        service.score(Post(id=f"p{i}", images=[{"data": photos[i % len(photos)]}]))

    steps = {}

    def step(name: str) -> None:
        steps[name] = {"rss_mb": rss_mb(field="VmRSS"), "peak_mb": rss_mb()}
        print(f"{name:>22}: RSS {steps[name]['rss_mb']:.0f} MB, peak {steps[name]['peak_mb']:.0f} MB", flush=True)

    step("loaded")
    score(0)
    step("1 photo")
    for i in range(1, 7):
        score(i)
    step("6 more, serially")
    for workers, count in ((8, 16), (32, 64)):
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(score, range(count)))
        step(f"{count} at {workers} at a time")
    print(json.dumps({"malloc_arenas": service.settings.malloc_arenas, "steps": steps}))


if __name__ == "__main__":
    main()
