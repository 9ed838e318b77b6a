"""What the crop search costs: photos whose learned composition is under CROP_SEARCH_BELOW get a
few windows scored by the composition network (`suggested_crop`); the rest do not.

    .venv/bin/python -m bench.crop_search [--photos 60]

Scores the first N CLIVE photos of ../shared/data/photos_mos (500 x 500 JPEGs) one post each, in
process, twice (the second call timed), and prints the median time of the photos with and without
the search.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=60)
    args = parser.parse_args(argv)

    from bench.workload import load_average
    from quality.image.scorer import CROP_SEARCH_BELOW
    from quality.schemas import ImageInput, Post
    from quality.service import QualityService

    service = QualityService()
    folder = service.settings.data_dir / "photos_mos" / "clive"
    files = sorted(folder.glob("*.jpg"))[:args.photos]
    if not files:
        raise SystemExit(f"no photos under {folder}")
    service.warm_up()
    load_before = load_average()
    times: dict[bool, list[float]] = {True: [], False: []}
    for path in files:
        post = Post(images=[ImageInput(data=base64.b64encode(path.read_bytes()).decode("ascii"))])
        service.score(post)
        started = time.perf_counter()
        photo = service.score(post).dimensions.composition.images[0]
        times[photo.learned_score < CROP_SEARCH_BELOW].append(1000 * (time.perf_counter() - started))
    print(json.dumps({"load_average": [load_before, load_average()], **{
        ("with_crop_search" if searched else "without"): {"photos": len(v), "p50_ms": round(statistics.median(v), 1)}
        for searched, v in times.items() if v}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
