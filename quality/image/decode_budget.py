"""A memory budget shared by every photo decode in the process.

A photo within the limits can still cost hundreds of MB to decode: a 36-megapixel PNG or WebP
has to be inflated whole (only JPEG can be decoded at reduced size) and is converted to RGB
before it is shrunk, ~7-14 bytes per pixel at the peak. Requests decode their photos in their
own threads, so without a bound, 40 such requests at once would ask for several GB. Each decode
reserves its estimated working memory here first and waits for room; with no room within
`wait_s` it gives up with `Overloaded` (503 + Retry-After). A decode larger than the whole
budget is let through alone (it waits until nothing else is being decoded).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from quality.errors import Overloaded


class DecodeBudget:
    def __init__(self, total_bytes: int, wait_s: float = 30.0):
        if total_bytes < 1 or wait_s < 0:
            raise ValueError("total_bytes must be >= 1 and wait_s >= 0")
        self.total_bytes = total_bytes
        self.wait_s = wait_s
        self._used = 0
        self._peak = 0
        self._room = threading.Condition()

    @property
    def used_bytes(self) -> int:
        return self._used

    @property
    def peak_bytes(self) -> int:
        """The most ever reserved at once (for tests and metrics)."""
        return self._peak

    @contextmanager
    def reserve(self, n_bytes: int) -> Iterator[None]:
        share = max(0, min(int(n_bytes), self.total_bytes))
        deadline = time.monotonic() + self.wait_s
        with self._room:
            while self._used + share > self.total_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Overloaded(
                        f"too many large photos are being decoded at once ({self._used >> 20} MB of "
                        f"{self.total_bytes >> 20} MB in use); retry shortly", code="decode_busy")
                self._room.wait(left)
            self._used += share
            self._peak = max(self._peak, self._used)
        try:
            yield
        finally:
            with self._room:
                self._used -= share
                self._room.notify_all()
