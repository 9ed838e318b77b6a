"""The profile date as people write it: a bare date is the end of that day in China Standard
Time (the communities' own clock); a datetime must carry its UTC offset."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def parse_as_of(text: str) -> datetime:
    """`2026-11-30` (23:59:59 that day, UTC+08:00) or a datetime with its offset; ValueError otherwise."""
    text = text.strip()
    if len(text) == 10:
        return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(23, 59, 59), CST)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (e.g. {text}+08:00)")
    return value
