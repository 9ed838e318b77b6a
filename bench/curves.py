"""How the cost of one `POST /score` (or `/score/batch`) grows with the work in it, at concurrency 1.

Three curves, each point a bounded `load_run` (count and seconds below, times --scale):
  text length   a text-only post of 50, 200, 1,000 and 5,000 characters     (40 requests / 4 s per point)
  photos        a post with the usual text and 1, 3 or 9 distinct 1080p JPEGs (15 requests / 5 s per point)
  batch size    /score/batch with 1, 16, 64 or 256 text posts                (20 requests / 6 s per point)

Points that are exactly an HTTP scenario at concurrency 1 (1 photo, batches of 64 and 256) take
that scenario's figures ("from" names it) instead of running twice. Each point reports p50 / p95
and the p50 per unit of work; `vs_first` is the point's p50 over the
smallest point's p50, measured in the same run (so the shape holds on a noisy machine).
"""

from __future__ import annotations

from bench.workload import TEXT, photos_1080p_b64, scaled, scaled_count, text_of_length

TEXT_LENGTHS = (50, 200, 1000, 5000)
PHOTO_COUNTS = (1, 3, 9)
BATCH_SIZES = (1, 16, 64, 256)
# name: (unit, points, path, count, budget_s)
CURVES = {
    "text_length": ("chars", TEXT_LENGTHS, "/score", 40, 4),
    "photos": ("photos", PHOTO_COUNTS, "/score", 15, 5),
    "batch_size": ("posts", BATCH_SIZES, "/score/batch", 20, 6),
}


# Points whose request is the same as an HTTP scenario's at concurrency 1 (bench.server.http_scenarios).
SAME_AS = {("photos", 1): "photo_1080p_c1", ("batch_size", 64): "batch_64_text_c1",
           ("batch_size", 256): "batch_256_text"}


def body(curve: str, amount: int) -> dict:
    if curve == "text_length":
        return {"text": text_of_length(amount)}
    if curve == "photos":
        return {"text": TEXT, "images": [{"data": data} for data in photos_1080p_b64(amount)]}
    if curve == "batch_size":
        return {"items": [{"id": str(i), "text": f"{TEXT}{i}"} for i in range(amount)]}
    raise ValueError(curve)


def summarize_curve(unit: str, runs: list[tuple[int, dict]]) -> dict:
    """A curve from (amount, load_run result) pairs, smallest amount first."""
    points = []
    first = None
    for amount, run in runs:
        point = {"amount": amount, "n": run.get("n", 0)}
        if run.get("n"):
            p50 = run["p50_ms"]
            first = first or p50
            point |= {"p50_ms": p50, "p95_ms": run["p95_ms"], "per_unit_ms": round(p50 / amount, 3),
                      "vs_first": round(p50 / first, 2)}
            if "posts_per_s" in run:
                point["posts_per_s"] = run["posts_per_s"]
            for key in ("server_peak_rss_mb", "from"):
                if key in run:
                    point[key] = run[key]
        points.append(point)
    return {"unit": unit, "points": points}


def run_curves(client, base: str, scale: float = 1.0, progress=None, measured: dict | None = None,
               server_peak_rss=None) -> dict:
    """Every curve point, bounded. `measured` maps a scenario name to its load_run result: a point whose
    request is exactly that scenario's (see `SAME_AS`) takes its figures instead of running again."""
    from bench.server import load_run

    measured = measured or {}
    out = {}
    for curve, (unit, amounts, path, count, budget_s) in CURVES.items():
        runs = []
        for amount in amounts:
            scenario = SAME_AS.get((curve, amount))
            if scenario in measured and measured[scenario].get("n"):
                runs.append((amount, measured[scenario] | {"from": scenario}))
                continue
            if progress:
                progress(f"curve {curve} {amount} {unit}")
            items = amount if curve == "batch_size" else 1
            run = load_run(client, f"{base}{path}", body(curve, amount), items=items,
                           count=scaled_count(count, scale, floor=2), budget_s=scaled(budget_s, scale), warmup=1)
            if server_peak_rss:
                run["server_peak_rss_mb"] = server_peak_rss()
            runs.append((amount, run))
        out[curve] = summarize_curve(unit, runs)
    return out
