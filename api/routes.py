"""HTTP routes: each one decodes, calls the `quality` service, and returns its typed result."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from api.limits import InFlightLimit
from api.metrics import Metrics
from api.openapi import SCORING
from quality.batching import MicroBatcher
from quality.errors import QuotaExceeded
from quality.validation import check_batch_size
from quality.schemas import BatchRequest, BatchResponse, Post, ScoreResult, ServiceInfo
from quality.service import QualityService

router = APIRouter()
_open_lock = threading.Lock()


def opened_once(request: Request, name: str, open_: Callable[[Any], Any]) -> Any:
    """`app.state.<name>`, made by `open_(app.state)` on first use (once, whichever request comes
    first): the stores, whose databases are connected and migrated only when a route needs them."""
    state = request.app.state
    if getattr(state, name, None) is None:
        with _open_lock:
            if getattr(state, name, None) is None:
                setattr(state, name, open_(state))
    return getattr(state, name)


def get_service(request: Request) -> QualityService:
    return request.app.state.service


def get_in_flight(request: Request) -> InFlightLimit:
    return request.app.state.in_flight


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_batcher(request: Request) -> MicroBatcher | None:
    """The `POST /score` micro-batcher; None when the app's lifespan has not run (no start-up)."""
    return getattr(request.app.state, "batcher", None)


def charge_posts(request: Request, posts: int) -> None:
    """Count `posts` against the calling key's daily quota (api.quotas); 429 `quota_exceeded`
    with Retry-After when it would go over (nothing is counted then). No key, no quota."""
    key = getattr(request.state, "api_key", None) or getattr(request.state, "caller", None)
    if key is None or key.limits.posts_per_day is None:
        return
    wait = request.app.state.budgets.charge_posts(key.budget_name, key.limits, posts)
    metrics: Metrics = request.app.state.metrics
    if wait is not None:
        metrics.observe_key(key.name, "quota_exceeded")
        raise QuotaExceeded(f"{'this client address' if key.budget else 'this API key'}'s daily quota ({key.limits.posts_per_day} posts per UTC day) would be "
                            f"exceeded by {posts} more", retry_after=wait)
    metrics.key_posts.labels(key.name).inc(posts)


ServiceDep = Annotated[QualityService, Depends(get_service)]
InFlightDep = Annotated[InFlightLimit, Depends(get_in_flight)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
BatcherDep = Annotated[MicroBatcher | None, Depends(get_batcher)]

@router.post("/score", response_model=ScoreResult, responses=SCORING, tags=["scoring"])
async def score(post: Post, service: ServiceDep, in_flight: InFlightDep, batcher: BatcherDep,
                metrics: MetricsDep, request: Request) -> ScoreResult:
    """Score one post or reply."""
    charge_posts(request, 1)
    if batcher is None:
        result = await run_in_threadpool(_score_alone, service, in_flight, post)
    else:
        # Posts arriving together are scored as one batch (quality.batching), bounded by the
        # batcher's queue (503 when full) instead of the in-flight limit. Checks and photo
        # decoding run in a thread; the wait for the batch holds none.
        future = await run_in_threadpool(batcher.submit, post)
        result = await batcher.result_async(future)
    metrics.items.inc()
    return result


def _score_alone(service: QualityService, in_flight: InFlightLimit, post: Post) -> ScoreResult:
    with in_flight:
        return service.score(post)


@router.post("/score/batch", response_model=BatchResponse, responses=SCORING, tags=["scoring"])
def score_batch(batch: BatchRequest, service: ServiceDep, in_flight: InFlightDep, metrics: MetricsDep,
                request: Request) -> BatchResponse:
    """Score up to 256 posts; results come back in the same order."""
    check_batch_size(len(batch.items), service.settings.limits)  # an oversize batch is refused, not charged
    charge_posts(request, len(batch.items))
    with in_flight:
        # Scored in slices; past the request timeout the rest is abandoned (503 "timeout").
        results = service.score_batch(batch.items, deadline=time.monotonic() + service.settings.request_timeout_s)
    metrics.items.inc(len(results))
    return BatchResponse(results=results)


@router.get("/health", tags=["service"])
def health(service: ServiceDep) -> dict:
    """Liveness and readiness (models loaded)."""
    return {"status": "ok", "ready": service.ready, "models_version": service.models_version}


@router.get("/info", response_model=ServiceInfo, tags=["service"])
def info(service: ServiceDep) -> ServiceInfo:
    """Every model (name, version, source package, sha256, licence), the rubric version and the limits."""
    return service.info()


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(metrics: MetricsDep, in_flight: InFlightDep, batcher: BatcherDep) -> Response:
    """Prometheus metrics."""
    metrics.in_flight.set(in_flight.in_flight)
    if batcher is not None:
        metrics.batch_pending.set(batcher.pending)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
