"""Micro-batching: single posts that arrive together are scored as one batch.

Scoring a batch costs much less per post than scoring its posts one by one (one encoder call,
one network call over all photos: on 2 busy shared cores, 16 short text posts took ~0.45 s
as a batch against ~1 s one by one). `POST /score` carries one post, so under load the server
gathers the posts that arrive close together and scores them with one `score_prepared_each` call.
In the server (api.app, api.routes) the batcher starts with the app and stops with it, and
`POST /score` waits for its batch without holding a thread; `POST /score/batch` is already a
batch and is scored directly.

How a post goes through:

1. `submit` (in the request's thread) first takes a place in the bounded queue: with
   `max_queue` posts already waiting (being decoded or queued), it raises `Overloaded`
   (503 + Retry-After) at once, before any work is spent on the post. The contract's
   "never an unbounded queue".
2. Still in the request's thread, the post is checked and its photos decoded
   (`QualityService.prepare`): that is CPU work that runs in parallel across requests, and a
   bad post (invalid base64, over a limit) fails there, alone, with the same 4xx error as
   without batching. Only prepared, valid posts are queued.
3. One worker thread takes the oldest queued post, waits until `max_wait_ms` after that post
   was queued for more to arrive (or until `max_batch` are there), and scores what it took
   as one batch. When the worker was busy, the oldest post has already waited longer than
   that, so the next batch starts at once with everything that queued meanwhile: batches
   grow with the load by themselves. The worker waits only under load (the last batch had more
   than one post, or posts are being prepared right now): a lone post on an idle server is
   scored at once, with no batching delay.
4. Each post's future gets its own result. The service's results do not depend on the rest
   of the batch (the contract: "the same input gives the same result, alone or inside any
   batch"; up to float round-off, which now and then moves the last rounded digit of a
   score, as `QualityService.score_batch` does). If scoring a batch fails unexpectedly, the
   service scores its posts again one by one, so only the post that fails gets the error
   (`QualityService.score_prepared_each`, with its exception for `photo_store_record`).
5. A caller waits at most `timeout_s` (from when its post is queued) for its result, then
   gets `Overloaded` (code "timeout", 503 + Retry-After); a post still queued then is
   dropped, not scored.

Bounds: `max_queue` replaces the in-flight limit (api.limits.InFlightLimit) for `/score`. That
limit counts requests being scored, so it would cap a batch at its size (8) and refuse posts
the queue takes cheaply; posts waiting here hold no thread. In all, at most `max_queue` posts
wait and `max_batch` are being scored.

Order: posts are scored in the order they were queued, and within a batch the service
handles them in order, so with `photo_store_record` on the first post queued with a photo
owns it and later ones are flagged, as when they are scored one after another.

One worker thread, on purpose: the models already use both cores inside one call
(onnxruntime and BLAS threads), so two batches at once would only compete for them; what
does parallelise (decoding photos, checking limits) happens in the callers' threads.

Stopping (`stop`) refuses new posts and returns once every admitted post is scored
(graceful shutdown: nothing admitted is dropped).

Memory: a queued post holds its request (base64 photos included) until it is scored;
`max_queue` x the body limit bounds it, and in practice posts are far smaller.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

from quality.errors import Overloaded
from quality.memory import release_free_memory
from quality.schemas import Post, ScoreResult
from quality.service import PreparedPost, QualityService
from quality.settings import Settings

log = logging.getLogger("quality.batching")

BatchObserver = Callable[[int, float], None]  # (posts in the batch, seconds spent scoring it)


@dataclass
class _Queued:
    prepared: PreparedPost
    queued_at: float  # time.monotonic()
    future: Future[ScoreResult] = field(default_factory=Future)


class MicroBatcher:
    """Scores single posts submitted from many threads in batches, with one worker thread.

        batcher = MicroBatcher(service, max_batch=32, max_wait_ms=3, max_queue=256).start()
        result = batcher.score(post)          # from any thread; blocks until scored
        batcher.stop()                        # scores what was admitted, then returns
    """

    def __init__(self, service: QualityService, *, max_batch: int = 32, max_wait_ms: float = 3.0,
                 max_queue: int = 256, timeout_s: float = 30.0, on_batch: BatchObserver | None = None):
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0 or timeout_s <= 0:
            raise ValueError("max_batch and max_queue must be >= 1, max_wait_ms >= 0 and timeout_s > 0")
        self.service = service
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.on_batch = on_batch
        self._queue: deque[_Queued] = deque()
        self._pending = 0  # admitted and not yet taken by the worker: being prepared, or queued
        self._last_batch_size = 1  # of the batch taken last: > 1 means posts arrive together
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        # What the worker did (read by tests and /metrics): batches by size, posts scored.
        self.batch_sizes: Counter[int] = Counter()
        self.posts_scored = 0
        self.trims = 0  # times free memory was handed back, idle after a batch with photos (quality.memory)

    @classmethod
    def from_settings(cls, service: QualityService, settings: Settings | None = None,
                      on_batch: BatchObserver | None = None) -> "MicroBatcher":
        settings = settings or service.settings
        return cls(service, max_batch=settings.batch_max_items, max_wait_ms=settings.batch_max_wait_ms,
                   max_queue=settings.queue_max_items, timeout_s=settings.request_timeout_s, on_batch=on_batch)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> "MicroBatcher":
        with self._cond:
            if self._thread is not None:
                raise RuntimeError("this MicroBatcher has already been started")
            self._thread = threading.Thread(target=self._work, name="quality-batcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Refuse new posts, score every admitted one, stop the worker. False if it had not
        finished within `timeout` seconds (it then goes on in the background)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def __enter__(self) -> "MicroBatcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def pending(self) -> int:
        """Posts admitted and not yet taken into a batch (being decoded, or queued)."""
        return self._pending

    @property
    def queued(self) -> int:
        """Posts prepared and waiting for the worker."""
        return len(self._queue)

    # -- submitting ---------------------------------------------------------------------
    def submit(self, post: Post) -> Future[ScoreResult]:
        """Admit, prepare (in this thread) and queue one post; a Future of its `ScoreResult`.

        Raises `Overloaded` when `max_queue` posts are waiting or the batcher is stopping,
        and the post's own `QualityError` when it is bad input.
        """
        self._admit()
        try:
            prepared = self.service.prepare(post)
        except BaseException:
            self._release()
            raise
        item = _Queued(prepared, time.monotonic())
        with self._cond:
            self._queue.append(item)
            self._cond.notify_all()
        return item.future

    def score(self, post: Post) -> ScoreResult:
        """Submit one post and wait (at most `timeout_s`) for its result."""
        return self.result(self.submit(post))

    def result(self, future: Future[ScoreResult]) -> ScoreResult:
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()  # still queued: dropped; already being scored: the result is dropped
            raise self._timeout_error() from None

    async def result_async(self, future: Future[ScoreResult]) -> ScoreResult:
        """`result` for the event loop: waits without holding a thread."""
        try:
            # On timeout (or the request's own cancellation) wait_for cancels the wrapper,
            # which cancels the future if it is still queued.
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            raise self._timeout_error() from None

    def _timeout_error(self) -> Overloaded:
        return Overloaded(f"the post was not scored within {self.timeout_s:g} s; retry shortly", code="timeout")

    def _admit(self) -> None:
        with self._cond:
            if self._thread is None:
                raise RuntimeError("MicroBatcher.start() has not been called")
            if self._closing:
                raise Overloaded("the service is shutting down; retry shortly", code="shutting_down")
            if self._pending >= self.max_queue:
                raise Overloaded(f"{self.max_queue} posts are waiting to be scored; retry shortly",
                                 code="overloaded")
            self._pending += 1

    def _release(self, n: int = 1) -> None:
        with self._cond:
            self._pending -= n
            self._cond.notify_all()

    # -- the worker ---------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            try:
                if batch:
                    self._score(batch)
            except Exception:  # never let the worker die: the callers would wait out their timeouts
                log.exception("the batch worker failed")

    def _collect(self) -> list[_Queued] | None:
        """The next batch (posts whose callers gave up are left out); None once stopped and drained."""
        with self._cond:
            while not self._queue:
                if self._closing and self._pending == 0:
                    return None
                self._cond.wait()
            # Wait for company only under load (the last batch had company, or posts are being
            # prepared right now): a lone post on an idle server is scored at once, so
            # concurrency 1 pays no batching delay.
            under_load = self._last_batch_size > 1 or self._pending > len(self._queue)
            deadline = self._queue[0].queued_at + (self.max_wait_s if under_load else 0.0)
            while len(self._queue) < self.max_batch and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            self._pending -= len(taken)
            self._last_batch_size = len(taken)
            self._cond.notify_all()
        # After this a caller's timeout no longer cancels the post: it is being scored.
        return [item for item in taken if item.future.set_running_or_notify_cancel()]

    def _score(self, batch: list[_Queued]) -> None:
        started = time.perf_counter()
        # The service scores the batch and, should that fail, each post alone, so only the post
        # that fails gets the error (QualityService.score_prepared_each).
        try:
            outcomes = self.service.score_prepared_each([item.prepared for item in batch])
        except Exception as error:  # never expected: fail the batch's posts rather than the worker
            outcomes = [error] * len(batch)
        # Counted before any caller is answered: a caller (or /metrics read after its answer) always
        # sees its own batch counted.
        self.batch_sizes[len(batch)] += 1
        self.posts_scored += len(batch)
        if self.on_batch is not None:
            try:
                self.on_batch(len(batch), time.perf_counter() - started)
            except Exception:  # metrics must never stop the worker
                log.exception("batch observer failed")
        for item, outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        # A photo's working memory, freed, stays with malloc; once idle, give it back (~50 MB after
        # a few photos; quality.memory), so what comes next does not stack on it.
        if not self._queue and any(item.prepared.images for item in batch):
            release_free_memory()
            self.trims += 1
