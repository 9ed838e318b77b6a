"""The contract's error body for what Ray Serve's HTTP proxy answers by itself.

The proxy answers some requests without reaching the app: overload of the ingress
(`BackPressureError`: 503 with `Retry-After`), no replica to route to (503), its own request
timeout (408), in plain text. `ContractErrors` wraps the proxy (installed through Ray's
`RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`, which `cluster.start_local` sets for the instance it
starts) and turns any error it answers that is not already JSON into `{"error": {"code",
"message", "field"}}` with the same status; a 503 keeps its `Retry-After` or gets one.

The proxy process imports this module alone: it depends on nothing of the service.
"""

from __future__ import annotations

import json

CALLBACK = "ray_apps.proxy_errors.middlewares"
CODES = {503: "overloaded", 408: "timeout", 404: "not_found", 500: "internal_error"}
RETRY_AFTER_S = 1


def contract_error(status: int, text: str) -> bytes:
    message = text.strip() or "the service could not answer this request"
    if status == 503:
        message = f"the service is at capacity; retry after Retry-After ({message})"
    return json.dumps({"error": {"code": CODES.get(status, "http_error"), "message": message, "field": None}},
                      ensure_ascii=False).encode()


class ContractErrors:
    """ASGI middleware: a non-JSON error answer (status >= 400) becomes the contract's error body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: dict = {}

        async def rewrite(message):
            if message["type"] == "http.response.start":
                headers = {name.lower(): value for name, value in message.get("headers", [])}
                if message["status"] >= 400 and not headers.get(b"content-type", b"").startswith(b"application/json"):
                    held.update(start=message, body=b"")
                    return
            elif message["type"] == "http.response.body" and held:
                held["body"] += message.get("body", b"")
                if message.get("more_body", False):
                    return
                start, status = held["start"], held["start"]["status"]
                body = contract_error(status, held["body"].decode("utf-8", "replace")[:500])
                headers = [(name, value) for name, value in start.get("headers", [])
                           if name.lower() not in (b"content-type", b"content-length")]
                if status == 503 and not any(name.lower() == b"retry-after" for name, _ in headers):
                    headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
                headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                held.clear()
                await send({"type": "http.response.start", "status": status, "headers": headers})
                return await send({"type": "http.response.body", "body": body})
            return await send(message)

        return await self.app(scope, receive, rewrite)


def middlewares() -> list:
    """For `RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`: the middlewares the proxy wraps itself in."""
    from starlette.middleware import Middleware

    return [Middleware(ContractErrors)]
