"""Micro-batching of single posts (quality.batching) and `POST /score` through it.

Whether posts share a batch is made certain, not left to timing: a gate holds the worker
inside a batch while the next posts queue up behind it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from quality.batching import MicroBatcher
from quality.errors import Overloaded, QualityError
from quality.schemas import Parent, Post, ScoreResult
from quality.service import PreparedPost, QualityService
from tests.conftest import DISMISSIVE_REPLY, NEWCOMER_QUESTION, PATIENT_REPLY, b64, encode_image, synthetic_photo
from tests.test_api import POST_TEXT


class GatedService:
    """The real service behind a gate: scoring a batch waits while the gate is shut (holding
    the batcher's worker in a batch), records each batch's post ids, and fails any batch that
    holds a post with id "boom". The service's own batching and fall-back
    (`score_prepared_each`) run over that gated batch scorer."""

    score_prepared_each = QualityService.score_prepared_each
    _score_or_fall_back = QualityService._score_or_fall_back
    _records_photos = False
    micro_batched = True

    def __init__(self, service: QualityService):
        self.service = service
        self.settings = service.settings
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.calls: list[list[str | None]] = []

    def warm_up(self) -> None:
        self.service.warm_up()

    def prepare(self, post: Post, field_prefix: str = "") -> PreparedPost:
        return self.service.prepare(post, field_prefix)

    def _score_prepared(self, prepared: list[PreparedPost]):
        self.calls.append([item.post.id for item in prepared])
        self.entered.set()
        assert self.gate.wait(60), "the test never opened the gate"
        if any(item.post.id == "boom" for item in prepared):
            raise RuntimeError("boom")
        return self.service._score_prepared(prepared)


def wait_until(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.002)


def hold_worker(batcher: MicroBatcher, gated: GatedService) -> Future[ScoreResult]:
    """Shut the gate and queue one post: the worker then waits inside that post's batch."""
    gated.gate.clear()
    gated.entered.clear()
    future = batcher.submit(Post(id="held", text="先占住：保养周期看手册。"))
    assert gated.entered.wait(30)
    return future


# How far a number may move between a post scored alone and inside a batch: one unit of the
# rounding the service applies (6 decimals; `audition.score`, 0-100, 4 decimals). The text
# encoder's rows move by float round-off (~1e-7) with the batch, which now and then flips the
# last rounded digit: `QualityService.score_batch` alone does the same, batching or not.
ROUNDING_UNIT = {"audition.score": 1e-4}


def differences(a, b, path: str = "") -> list[tuple[str, float]]:
    """(path, |a - b|) for every number of two results' JSON; structure and text must match."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        return [d for key in a for d in differences(a[key], b[key], f"{path}.{key}".lstrip("."))]
    if isinstance(a, list):
        assert len(a) == len(b), path
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return [(path, abs(a - b))]
    assert a == b, path
    return []


def assert_same_result(a: ScoreResult, b: ScoreResult) -> None:
    for path, difference in differences(a.model_dump(mode="json"), b.model_dump(mode="json")):
        assert difference <= ROUNDING_UNIT.get(path, 1e-6) * (1 + 1e-6), (a.id, path, difference)


def mixed_posts(photo_b64: str, other_photo_b64: str) -> list[Post]:
    posts = [Post(id=f"t{i}", text=("随便聊聊，" * (i + 1)) + f"车子开了{i}千公里，油耗{6 + i / 10:.1f}L。")
             for i in range(10)]
    posts += [
        Post(id="trip", title="我的第一次长途旅行", text=POST_TEXT, theme="我的第一次长途旅行"),
        Post(id="patient", kind="reply", text=PATIENT_REPLY,
             parent=Parent(text=NEWCOMER_QUESTION, author_is_newcomer=True)),
        Post(id="dismissive", kind="reply", text=DISMISSIVE_REPLY,
             parent=Parent(text=NEWCOMER_QUESTION, author_is_newcomer=True)),
        Post(id="title-only", title="求推荐静音胎"),
        Post(id="photos", text="夜景", images=[{"data": photo_b64}, {"data": other_photo_b64}]),
        Post(id="photo-only", images=[{"data": photo_b64}]),
    ]
    return posts


def test_concurrent_posts_get_the_results_they_get_alone(service, photo_b64, other_photo_b64):
    posts = mixed_posts(photo_b64, other_photo_b64)
    alone = [service.score(post) for post in posts]
    start = threading.Barrier(len(posts), timeout=60)

    def submit(post: Post) -> ScoreResult:
        start.wait()
        return batcher.score(post)

    with MicroBatcher(service, max_batch=32, max_wait_ms=50) as batcher, \
            ThreadPoolExecutor(len(posts)) as pool:
        together = list(pool.map(submit, posts))
    for a, b in zip(alone, together):
        assert_same_result(a, b)
    assert batcher.posts_scored == len(posts)
    assert max(batcher.batch_sizes) > 1, batcher.batch_sizes


def test_free_memory_is_handed_back_once_idle_after_a_batch_with_photos(service, photo_b64, monkeypatch):
    """After a batch with photos and nothing queued, the worker returns malloc's free memory to the
    system (quality.memory.release_free_memory); after a text-only batch it does not."""
    import quality.batching as batching

    released = []
    monkeypatch.setattr(batching, "release_free_memory", lambda: released.append(1) or True)
    with MicroBatcher(service, max_batch=8, max_wait_ms=0) as batcher:
        batcher.score(Post(text="只有文字的帖子，保养周期看手册。"))
        assert batcher.trims == 0 and not released
        batcher.score(Post(images=[{"data": photo_b64}]))
        wait_until(lambda: batcher.trims == 1, "the trim after the photo batch")
    assert released == [1]


def test_a_batch_is_counted_before_any_of_its_callers_is_answered(service):
    """A caller that reads the counters (or /metrics) right after its answer sees its own batch:
    the worker counts a batch before it resolves the batch's futures (a done-callback runs in the
    worker at the moment of resolving, so it reads the counters exactly then)."""
    seen: list[tuple[int, int]] = []
    gated = GatedService(service)
    with MicroBatcher(gated, max_batch=32, max_wait_ms=0) as batcher:
        held = hold_worker(batcher, gated)  # the worker waits, so the callback is in place before the answer
        future = batcher.submit(Post(id="c1", text="首保5000公里，记得带保养手册。"))
        future.add_done_callback(lambda _: seen.append((batcher.posts_scored, sum(batcher.batch_sizes.values()))))
        gated.gate.set()
        held.result(timeout=60)
        future.result(timeout=60)
    assert seen == [(2, 2)]  # the held post's batch and this one


def test_posts_queued_while_the_worker_is_busy_form_one_batch(service):
    gated = GatedService(service)
    with MicroBatcher(gated, max_batch=32, max_wait_ms=0) as batcher:
        held = hold_worker(batcher, gated)
        posts = [Post(id=f"q{i}", text=f"第{i}条：首保{5000 + i}公里。") for i in range(10)]
        futures = [batcher.submit(post) for post in posts]
        assert batcher.queued == 10
        gated.gate.set()
        results = [future.result(timeout=60) for future in futures]
        held.result(timeout=60)
    assert gated.calls == [["held"], [post.id for post in posts]]  # in order of arrival
    assert [r.id for r in results] == [post.id for post in posts]
    assert batcher.batch_sizes == {1: 1, 10: 1}
    # Exactly what scoring the same posts as one batch gives; and what each gets alone.
    assert [r.model_dump() for r in results] == [r.model_dump() for r in service.score_batch(posts)]
    for post, result in zip(posts, results):
        assert_same_result(service.score(post), result)


BAD_POSTS = [
    (Post(id="bad-b64", text="hi", images=[{"data": "not base64!!"}]), 422, "invalid_base64", "images[0].data"),
    (Post(id="too-long", text="好" * 20_001), 413, "text_too_long", "text"),
    (Post(id="empty", text="   "), 422, "empty_post", "text"),
    (Post(id="pdf", text="hi", images=[{"data": b64(b"%PDF-1.4 hello")}]), 415, "unsupported_image",
     "images[0].data"),
]


def test_a_bad_post_among_good_ones_fails_alone_with_its_own_error(service, photo_b64):
    good = [Post(id=f"g{i}", text=f"第{i}条：保养周期看手册，一般{5000 + i}公里一次。") for i in range(6)]
    good.append(Post(id="g-photo", text="夜景", images=[{"data": photo_b64}]))
    bad = [post for post, *_ in BAD_POSTS]
    posts = good[:3] + bad + good[3:]
    start = threading.Barrier(len(posts), timeout=60)

    def submit(post: Post) -> ScoreResult | QualityError:
        start.wait()
        try:
            return batcher.score(post)
        except QualityError as error:
            return error

    with MicroBatcher(service, max_batch=32, max_wait_ms=50) as batcher, \
            ThreadPoolExecutor(len(posts)) as pool:
        outcomes = dict(zip([post.id for post in posts], pool.map(submit, posts)))
    for post in good:
        assert_same_result(service.score(post), outcomes[post.id])
    for post, status, code, field in BAD_POSTS:
        error = outcomes[post.id]
        assert isinstance(error, QualityError), post.id
        assert (error.status_code, error.code, error.field) == (status, code, field)
        with pytest.raises(type(error)) as alone:  # the very error it gets without batching
            service.score(post)
        assert (alone.value.code, alone.value.field) == (error.code, error.field)
    assert batcher.posts_scored == len(good)


def test_a_post_that_breaks_scoring_fails_alone(service):
    gated = GatedService(service)
    with MicroBatcher(gated, max_batch=32, max_wait_ms=0) as batcher:
        held = hold_worker(batcher, gated)
        posts = [Post(id="a", text="首保5000公里。"), Post(id="boom", text="出错"), Post(id="b", text="二保一万公里。")]
        futures = [batcher.submit(post) for post in posts]
        gated.gate.set()
        held.result(timeout=60)
        assert futures[0].result(timeout=60).id == "a"
        assert futures[2].result(timeout=60).id == "b"
        with pytest.raises(RuntimeError, match="boom"):
            futures[1].result(timeout=60)
    assert gated.calls == [["held"], ["a", "boom", "b"], ["a"], ["boom"], ["b"]]  # the batch, then one by one


def test_a_full_queue_is_overloaded_at_once(service):
    gated = GatedService(service)
    with MicroBatcher(gated, max_batch=1, max_wait_ms=0, max_queue=3) as batcher:
        held = hold_worker(batcher, gated)
        futures = [batcher.submit(Post(text=f"排队{i}")) for i in range(3)]
        assert batcher.pending == 3
        with pytest.raises(Overloaded) as refused:
            batcher.submit(Post(text="第四个"))
        assert refused.value.status_code == 503 and refused.value.code == "overloaded"
        gated.gate.set()
        assert all(f.result(timeout=60) for f in [held, *futures])
        assert batcher.score(Post(text="又有空位了")).dimensions.clarity is not None
    assert batcher.pending == 0


def test_a_caller_that_waits_too_long_gets_503_and_its_post_is_dropped(service):
    gated = GatedService(service)
    with MicroBatcher(gated, max_batch=32, max_wait_ms=0, timeout_s=0.2) as batcher:
        held = hold_worker(batcher, gated)
        with pytest.raises(Overloaded) as late:
            batcher.score(Post(id="late", text="等太久了"))
        assert late.value.status_code == 503 and late.value.code == "timeout"
        gated.gate.set()
        held.result(timeout=60)
    assert batcher.posts_scored == 1
    assert gated.calls == [["held"]]


def test_stop_scores_what_was_admitted_and_refuses_the_rest(service):
    gated = GatedService(service)
    batcher = MicroBatcher(gated, max_batch=2, max_wait_ms=0).start()
    held = hold_worker(batcher, gated)
    futures = [batcher.submit(Post(id=f"s{i}", text=f"第{i}条")) for i in range(5)]
    stopped: list[bool] = []
    stopper = threading.Thread(target=lambda: stopped.append(batcher.stop(timeout=60)))
    stopper.start()
    wait_until(lambda: batcher.closing, "stop() to begin")
    with pytest.raises(Overloaded) as refused:
        batcher.submit(Post(text="太晚了"))
    assert refused.value.code == "shutting_down"
    gated.gate.set()
    stopper.join(60)
    assert stopped == [True]
    assert [f.result(timeout=0).id for f in futures] == [f"s{i}" for i in range(5)]
    assert held.done() and batcher.posts_scored == 6
    assert gated.calls == [["held"], ["s0", "s1"], ["s2", "s3"], ["s4"]]


def test_with_photos_recorded_the_first_post_queued_owns_the_photo(service, tmp_path, monkeypatch):
    settings = service.settings.model_copy(update={"photo_store": tmp_path / "photos.sqlite",
                                                   "photo_store_record": True})
    monkeypatch.setattr(service, "settings", settings)
    monkeypatch.setattr(service, "_photo_store", None)
    photo = synthetic_photo(seed=7).resize((480, 360), Image.BILINEAR)
    first = Post(id="C", text="随手拍", images=[{"data": b64(encode_image(photo, quality=90))}])
    repost = Post(id="D", text="随手拍", images=[{"data": b64(encode_image(photo, quality=70))}])
    gated = GatedService(service)
    try:
        with MicroBatcher(gated, max_batch=32, max_wait_ms=0) as batcher:
            held = hold_worker(batcher, gated)
            futures = [batcher.submit(first), batcher.submit(repost)]
            gated.gate.set()
            held.result(timeout=60)
            results = [f.result(timeout=60) for f in futures]
        assert gated.calls == [["held"], ["C", "D"]]
        assert ["duplicate_image" in r.flags for r in results] == [False, True]
        assert "(post C, " in results[1].dimensions.composition.evidence[-1]
    finally:
        if service._photo_store is not None:
            service._photo_store.close()


def test_score_route_goes_through_the_batcher(service):
    app = create_app(service.settings, service=service)
    with TestClient(app) as client:
        batcher = app.state.batcher
        posts = [{"id": f"h{i}", "text": f"第{i}条：保养周期看手册，一般{5000 + i}公里一次。"} for i in range(4)]
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda body: client.post("/score", json=body), posts))
        assert [r.status_code for r in responses] == [200] * 4
        assert [r.json()["id"] for r in responses] == [p["id"] for p in posts]
        assert batcher.posts_scored == 4
        metrics = client.get("/metrics").text
        assert "quality_batch_size_count" in metrics and "quality_batch_pending_posts 0.0" in metrics
    assert batcher.closing  # stopped with the app


def test_a_full_queue_through_the_app_is_503_with_retry_after(service):
    gated = GatedService(service)
    settings = service.settings.model_copy(update={"queue_max_items": 1, "batch_max_items": 1,
                                                   "batch_max_wait_ms": 0})
    app = create_app(settings, service=gated)  # type: ignore[arg-type]
    body = {"text": "保养周期看手册，一般5000公里一次。"}
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        batcher = app.state.batcher
        gated.gate.clear()
        gated.entered.clear()
        first = pool.submit(client.post, "/score", json=body)  # taken by the worker, held at the gate
        assert gated.entered.wait(30)
        second = pool.submit(client.post, "/score", json=body)  # queued: the queue is full
        wait_until(lambda: batcher.pending == 1, "the second request to queue")
        refused = client.post("/score", json=body)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        assert refused.json()["error"]["code"] == "overloaded"
        gated.gate.set()
        assert first.result(60).status_code == 200 and second.result(60).status_code == 200
