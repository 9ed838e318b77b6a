"""Process-wide memory: how many malloc arenas glibc may keep.

glibc gives threads that contend for malloc arenas of their own (up to 8 per core) and keeps
what they free for reuse by the same arena, so a server whose request threads each decode and
score a photo holds several copies of a photo's working memory. Two arenas on the 2-core
machines this targets: peak RSS of 64 photo posts scored 32 at a time in process 1,132-1,167 ->
996-1,014 MB (`bench/memory_photos.py`), single-request speed unchanged within noise
(docs/performance.md "Memory").

`release_free_memory` hands what the arenas hold free back to the system (glibc's malloc_trim):
after nine 1080p photos scored in process, RSS 780 -> 734 MB in 4 ms. The micro-batcher calls it
when it falls idle after a batch with photos, so it costs no request any time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, found once (`find_library` may run a subprocess: never on a request's path)."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        pass
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at `count` (0: leave glibc's default). True when applied; False
    where it does not apply (another C library) or count is 0. Arenas made before stay."""
    if count <= 0:
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_ARENA_MAX, int(count)) == 1


def release_free_memory() -> bool:
    """Return the memory malloc holds free to the system (glibc's malloc_trim(0)). True when it
    released some; False when nothing was released or it does not apply (another C library)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim(0) == 1
