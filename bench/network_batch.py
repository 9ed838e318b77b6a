"""Time a photo through the composition network in batches of 1, 2, 4 and 8 (in process).

    .venv/bin/python -m bench.network_batch

Eight 768 x 432 photos (random pixels: the network's cost does not depend on them), five rounds,
the batch sizes interleaved; prints the median ms a photo for each. Why the scorer runs the
network one photo a call (`NETWORK_BATCH`, quality/image/scorer.py): docs/performance.md "Memory".
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from quality.image.scorer import _build_network
from quality.model_store import ModelStore
from quality.settings import Settings

SIZES = (8, 4, 2, 1)


def main(rounds: int = 5) -> None:
    network = _build_network(ModelStore(Settings()))
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 255, (432, 768, 3), dtype=np.uint8) for _ in range(8)]
    network.run(photos[:1])  # the session's first call
    timings: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(rounds):
        for size in SIZES:
            started = time.perf_counter()
            for start in range(0, len(photos), size):
                network.run(photos[start:start + size])
            timings[size].append((time.perf_counter() - started) / len(photos) * 1000)
    for size in sorted(SIZES):
        print(f"batch {size}: {statistics.median(timings[size]):.1f} ms a photo")


if __name__ == "__main__":
    main()
