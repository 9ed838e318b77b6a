"""Rows of a file (JSONL, CSV or Parquet; one post a row) to result records, as `quality score`
writes them: a row's `ScoreResult` as JSON, or `{"id": ..., "error": {code, message, field}}`
for a row that is not a valid post or cannot be scored. The CLI and the Ray Data jobs both
write through this, so a file gives the same lines on either engine.
"""

from __future__ import annotations

from pydantic import ValidationError

from quality.errors import QualityError
from quality.schemas import Post


def error_record(row: dict | Exception, error: Exception) -> dict:
    row_id = row.get("id") if isinstance(row, dict) else None
    if isinstance(error, QualityError):
        body = error.to_dict()
    elif isinstance(error, ValidationError):
        first = error.errors()[0]
        body = {"code": "invalid_input", "message": first["msg"],
                "field": ".".join(str(p) for p in first["loc"]) or None}
    else:
        body = {"code": "invalid_input", "message": str(error), "field": None}
    return {"id": row_id, "error": body}


def score_rows(service, rows: list[dict | Exception]) -> list[dict]:
    """One record per row, in order. The valid posts are scored together (`score_each`); a row
    that did not parse, is not a valid post, or fails its checks gets its error record."""
    records: list[dict | None] = [None] * len(rows)
    posts, positions = [], []
    for position, row in enumerate(rows):
        try:
            if isinstance(row, Exception):
                raise row
            posts.append(Post.model_validate(row))
            positions.append(position)
        except (ValidationError, ValueError) as error:
            records[position] = error_record(row, error)
    for position, outcome in zip(positions, service.score_each(posts)):
        records[position] = (error_record(rows[position], outcome) if isinstance(outcome, QualityError)
                             else outcome.model_dump(mode="json"))
    return records
