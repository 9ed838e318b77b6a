"""Every error leaves as the contract's body: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routing import allowed_methods
from quality.errors import QualityError

log = logging.getLogger("quality.api")


def error_body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


def field_path(location: tuple | list) -> str | None:
    """('body', 'items', 3, 'kind') -> 'items[3].kind'."""
    parts = [p for p in location if p not in ("body", "query", "path", "header")
             and not (isinstance(p, str) and p.startswith("~"))]  # "~": a tagged union's branch
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QualityError)
    async def _quality_error(_: Request, error: QualityError) -> JSONResponse:
        headers = {"Retry-After": "1"} if error.status_code == 503 else None
        if error.status_code == 429:
            headers = {"Retry-After": str(max(1, math.ceil(getattr(error, "retry_after", 1))))}
        return JSONResponse(error_body(error.code, error.message, error.field), error.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        code = "invalid_json" if first.get("type") == "json_invalid" else "invalid_input"
        message = first.get("msg", "invalid request")
        field = field_path(first.get("loc", ()))
        if len(error.errors()) > 1:
            message += f" (and {len(error.errors()) - 1} more problems)"
        return JSONResponse(error_body(code, message, field), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            # FastAPI's 400 for a JSON body it cannot decode at all (invalid UTF-8, nesting too
            # deep for the parser): the contract's 422 invalid_json, as for malformed JSON.
            message = "the body could not be read as JSON (invalid UTF-8, nesting too deep or a number too long)"
            return JSONResponse(error_body("invalid_json", message), 422)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(error.status_code, "http_error")
        headers = error.headers
        if error.status_code == 405:
            # Starlette names only the first route that matched the path; the path may have several.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.scope))}
        return JSONResponse(error_body(code, str(error.detail)), error.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(error_body("internal_error", "the service failed on this request; it is logged"), 500)
