"""The same scorer on Ray: Ray Serve online (`serve_app`), Ray Data offline (`data_jobs`).

Optional: needs the `ray` extra (`pip install '.[ray]'`). Nothing here imports ray at module
level, so the base install imports this package fine; `require_ray()` says what to install.

What goes to a Ray worker is configuration (a `Settings` dump, file paths, row ranges); each
worker builds its own `QualityService` from it, once, and loads the models itself. There is no
state shared between workers: every worker reads its own rows and writes its own part file.
"""

from __future__ import annotations

RAY_HINT = "the Ray engine needs the ray extra: pip install '.[ray]' (or pip install 'quality[ray]')"


class RayUnavailable(RuntimeError):
    """Ray is not installed, or a Ray instance could not be started or reached."""


def require_ray():
    """The `ray` module, or RayUnavailable with the install hint."""
    try:
        import ray
    except ImportError as error:
        raise RayUnavailable(RAY_HINT) from error
    return ray
