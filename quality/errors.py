"""Errors that reach users. Each carries the HTTP status and a stable code.

The core raises these; `api/` only turns them into the contract's error body
(`{"error": {"code", "message", "field"}}`), so the CLI and library users see
the same codes.
"""

from __future__ import annotations


class QualityError(Exception):
    """Base class: a problem with the caller's input or the service's set-up."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(QualityError):
    status_code = 422
    code = "invalid_input"


class TooLarge(QualityError):
    """Over a configured limit: body, text length, image bytes or pixels, counts."""

    status_code = 413
    code = "too_large"


class UnsupportedImage(QualityError):
    """Not an image, or a format we do not decode."""

    status_code = 415
    code = "unsupported_image"


class CorruptImage(QualityError):
    """A supported format whose data cannot be decoded (truncated, damaged)."""

    status_code = 422
    code = "corrupt_image"


class NotFound(QualityError):
    """A contest, entry or thumbnail that does not exist."""

    status_code = 404
    code = "not_found"


class Overloaded(QualityError):
    status_code = 503
    code = "overloaded"


class QuotaExceeded(QualityError):
    """A key's daily post quota is used up (api.quotas): retry after `retry_after` seconds."""

    status_code = 429
    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after: float, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Unavailable(QualityError):
    """A service the request needs (the contest database) cannot be reached right now: 503, retry."""

    status_code = 503
    code = "unavailable"


class ModelIntegrityError(RuntimeError):
    """A model file is missing or its sha256 differs from the manifest: refuse to start."""


class RubricError(RuntimeError):
    """The rubric file is invalid: refuse to start."""
