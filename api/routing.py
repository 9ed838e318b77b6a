"""The app's routes as a flat list (FastAPI keeps included routers as lazy wrappers), and what a
path allows: for the auth layer's route table and for 405 answers."""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import Scope


def flat_routes(routes) -> list:
    """Every route, included routers flattened (FastAPI >= 0.16x keeps them as lazy `_IncludedRouter`s)."""
    out = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is None:
            out.append(route)
            continue
        if getattr(getattr(route, "include_context", None), "prefix", ""):
            raise RuntimeError("api.auth matches routes by their own path: include routers without a prefix")
        out.extend(flat_routes(original.routes))
    return out


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route of the app answers at this request's path. A path that is a route's
    literal path (`/members/profile`) is that route's alone: templates that would also match it
    (`/members/{member_id}`) do not answer there (their handlers refuse such ids with 405)."""
    literal: set[str] = set()
    templated: set[str] = set()
    for route in flat_routes(scope["app"].router.routes):
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        match, _ = route.matches({**scope, "method": next(iter(route_methods))})
        if match == Match.FULL:
            (templated if "{" in getattr(route, "path", "") else literal).update(route_methods)
    return sorted(literal or templated)


def is_literal_path(scope: Scope, path: str) -> bool:
    """Whether `path` is the literal path of some route (so no template answers there)."""
    return any("{" not in getattr(route, "path", "{") and getattr(route, "path", None) == path
               for route in flat_routes(scope["app"].router.routes))
