"""Prometheus metrics, updated by middleware, never inside model code."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("quality_requests_total", "HTTP requests", ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "quality_request_seconds", "HTTP request latency", ["route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.items = Counter("quality_scored_items_total", "posts scored", registry=self.registry)
        self.in_flight = Gauge("quality_in_flight_requests", "scoring requests in flight", registry=self.registry)
        # Per API key, by the key's name from QUALITY_API_KEYS (api.quotas): requests and posts.
        self.key_requests = Counter("quality_key_requests_total", "requests per API key name and outcome",
                                    ["key", "outcome"], registry=self.registry)
        self.key_posts = Counter("quality_key_posts_total", "posts counted against each key's daily quota",
                                 ["key"], registry=self.registry)
        # POST /score micro-batching (quality.batching): posts waiting, batch sizes, model time per batch.
        self.batch_pending = Gauge("quality_batch_pending_posts", "posts waiting to be batched (decoding or queued)",
                                   registry=self.registry)
        self.batch_size = Histogram("quality_batch_size", "posts per micro-batch of POST /score",
                                    registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.batch_seconds = Histogram(
            "quality_batch_seconds", "time to score one micro-batch", registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def observe_key(self, name: str, outcome: str) -> None:
        """A request by the key named `name` (never the key): allowed, rate_limited or quota_exceeded."""
        self.key_requests.labels(name, outcome).inc()

    def observe_batch(self, size: int, seconds: float) -> None:
        """Called by the batcher's worker after each batch."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            # The route template, not the raw path, so ids do not explode the label set.
            name = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(name, str(status["code"])).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)
