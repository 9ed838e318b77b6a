"""Request-level guards: body size (413) before parsing, and a bound on requests in flight (503)."""

from __future__ import annotations

import threading

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body
from quality.errors import Overloaded


class BodySizeLimit:
    """Refuse bodies over `max_bytes`, by Content-Length or while streaming, with a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        from starlette.responses import JSONResponse

        body = error_body("too_large", f"request body over {self.max_bytes} bytes", None)
        response = JSONResponse(body, status_code=413)
        await response({"type": "http"}, None, send)  # type: ignore[arg-type]


class _BodyTooLarge(Exception):
    pass


class InFlightLimit:
    """At most `limit` scoring requests at once; the next gets 503 + Retry-After at once, not a queue.

    Guards `POST /score/batch` and contest entries. `POST /score` is bounded by its
    micro-batcher's queue instead (`queue_max_items`, quality.batching): a limit of 8 requests
    would also cap its batches at 8 posts.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._count

    def __enter__(self) -> "InFlightLimit":
        with self._lock:
            if self._count >= self.limit:
                raise Overloaded(f"{self.limit} requests are being scored; retry shortly", code="overloaded")
            self._count += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._count -= 1
