"""API keys: with `QUALITY_API_KEYS` set, every endpoint but `/health` wants `Authorization: Bearer <key>`.

Keys are stored hashed only. `QUALITY_API_KEYS` is a comma- or newline-separated list of entries

    sha256:<64 hex digits>:<scope>[+<scope>...][:<name>]

made by `quality keys new --scope score+judge --name NAME`, which prints the clear key once. A presented
key is hashed (sha256) and compared with every stored hash by `hmac.compare_digest`.

`ROUTE_SCOPES` below is the one place that says which scope each route needs (SECURITY.md copies it):

* `score`: scoring (`/score`, `/score/batch`) and sending members' activities (`/members/profile`,
  `/members/{id}/activities`);
* `judge`: contests, the judges' page, members' profiles and the member page;
* `admin`: everything, and alone `/metrics`;
* `ANY_KEY`: any valid key, whatever its scopes (`/info`, the OpenAPI document and docs pages);
* `OPEN`: no key (`/health` only).

A route missing from the table needs `admin` (fail closed); `tests/test_auth.py` fails on such a route.
A path that matches no route needs any valid key (so 404s do not tell strangers which paths exist).

Browsers cannot send a bearer header when they load a page. The pages (`/ui/contests/{id}`,
`/ui/members/{id}`, `/docs`, `/redoc`) therefore accept the key once as `?key=<key>`: a valid key is answered with a 303 to the same
path without it, setting an HttpOnly, SameSite=Strict cookie (Secure over https) holding the key; the
query string is redacted in place so uvicorn's access log does not record the key. The cookie is honoured
only on `judge` and `ANY_KEY` routes (never for `score` or `/metrics`), and for a method other than
GET/HEAD only when the request's `Origin` is the server's own (CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body
from api.quotas import Budgets, InvalidLimits, KeyLimits, retry_after
from api.routing import flat_routes

log = logging.getLogger("quality.auth")

SCOPES = ("score", "judge", "admin")
OPEN = "open"
ANY_KEY = "any"

# Route path template -> the scope it needs. Every route of the app is listed (tests/test_auth.py).
ROUTE_SCOPES: dict[str, str] = {
    "/health": OPEN,
    "/score": "score",
    "/score/batch": "score",
    "/info": ANY_KEY,
    "/metrics": "admin",
    "/contests": "judge",
    "/contests/{contest_id}": "judge",
    "/contests/{contest_id}/entries": "judge",
    "/contests/{contest_id}/entries/{entry_id}": "judge",
    "/contests/{contest_id}/entries/{entry_id}/images/{index}/thumbnail": "judge",
    "/contests/{contest_id}/ranking": "judge",
    "/contests/{contest_id}/judgements": "judge",
    "/ui/contests/{contest_id}": "judge",
    # Pipelines send members' activities; operators (judge keys, the page) read profiles and tiers.
    "/members/profile": "score",
    "/members/{member_id}/activities": "score",
    "/members/{member_id}": "judge",
    "/members/{member_id}/tier": "judge",
    "/members": "judge",
    "/audit": "admin",
    "/ui/members/{member_id}": "judge",
    "/openapi.json": ANY_KEY,
    "/docs": ANY_KEY,
    "/docs/oauth2-redirect": ANY_KEY,
    "/redoc": ANY_KEY,
}
UNLISTED_ROUTE_SCOPE = "admin"  # fail closed
UNMATCHED_PATH_SCOPE = ANY_KEY
# Pages a browser loads: they take the key once as ?key= and set the cookie.
PAGE_ROUTES = frozenset({"/ui/contests/{contest_id}", "/ui/members/{member_id}", "/docs", "/redoc"})
COOKIE = "quality_key"
COOKIE_SCOPES = frozenset({"judge", ANY_KEY})
KEY_PREFIX = "qk_"
# Address parameters whose values are never kept (api.auth.redact_query_secrets).
SECRET_PARAMS = frozenset({"key", "api_key", "token", "access_token"})
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
COOKIE_SAFE = re.compile(r"[A-Za-z0-9_.~-]{1,256}")
ENTRY_PATTERN = re.compile(r"sha256:([0-9a-f]{64}):([a-z+]+)(?::([^:]*))?(?::(.*))?")


class InvalidApiKeys(ValueError):
    """`QUALITY_API_KEYS` holds an entry that does not parse: the service refuses to start."""


@dataclass(frozen=True)
class ApiKey:
    digest: bytes  # sha256 of the key
    scopes: frozenset[str]
    name: str
    limits: KeyLimits = KeyLimits()  # its request rate and daily post quota (api.quotas)
    budget: str | None = None  # whose counters it spends (api.quotas.Budgets); default: its name

    @property
    def budget_name(self) -> str:
        return self.budget or self.name

    def allows(self, needed: str) -> bool:
        return needed in (OPEN, ANY_KEY) or "admin" in self.scopes or needed in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    scopes = text.split("+")
    unknown = [s for s in scopes if s not in SCOPES]
    if not text or unknown:
        raise InvalidApiKeys(f"unknown scope {unknown[0] if unknown else text!r}: use one or more of "
                             f"{', '.join(SCOPES)} joined by '+'")
    return frozenset(scopes)


def parse_api_keys(text: str | None) -> list[ApiKey]:
    """The entries of `QUALITY_API_KEYS`; InvalidApiKeys (naming the entry by position) if one is bad."""
    keys = []
    entries = [e.strip() for e in re.split(r"[,\n]", text or "")]
    for number, entry in enumerate((e for e in entries if e), 1):
        match = ENTRY_PATTERN.fullmatch(entry)
        if not match:
            # The entry itself is not echoed: it might be a clear key pasted by mistake.
            raise InvalidApiKeys(f"QUALITY_API_KEYS entry {number} is not 'sha256:<64 lowercase hex>:"
                                 "<scope>[+<scope>...][:<name>[:<limits>]]' (make one with `quality keys new`)")
        digest, scopes, name, limits_text = match.groups()
        try:
            scope_set = parse_scopes(scopes)
        except InvalidApiKeys as error:
            raise InvalidApiKeys(f"QUALITY_API_KEYS entry {number}: {error}") from None
        if name is not None and not NAME_PATTERN.fullmatch(name):
            raise InvalidApiKeys(f"QUALITY_API_KEYS entry {number}: a name is 1-64 of A-Z a-z 0-9 _ . @ -")
        try:
            limits = KeyLimits.parse(limits_text)
        except InvalidLimits as error:
            raise InvalidApiKeys(f"QUALITY_API_KEYS entry {number}: {error}") from None
        keys.append(ApiKey(bytes.fromhex(digest), scope_set, name or f"key-{number}", limits))
    return keys


def new_key(scopes: str, name: str | None = None, limits: KeyLimits | None = None) -> tuple[str, str]:
    """A new random key and its `QUALITY_API_KEYS` entry (the only place the clear key appears)."""
    scope_set = parse_scopes(scopes)
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise InvalidApiKeys("a name is 1-64 of A-Z a-z 0-9 _ . @ -")
    limits_text = limits.text() if limits is not None else ""
    if limits_text and name is None:
        raise InvalidApiKeys("a key with limits needs a name (its budget and /metrics are kept by name)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    entry = f"sha256:{hash_key(key)}:{'+'.join(s for s in SCOPES if s in scope_set)}"
    return key, entry + (f":{name}" if name else "") + (f":{limits_text}" if limits_text else "")


def find_key(keys: list[ApiKey], presented: str) -> ApiKey | None:
    """The stored key whose hash is the presented key's; every hash is compared (constant time each)."""
    digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
    found = None
    for key in keys:
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


def required_scope(scope: Scope) -> tuple[str, str | None]:
    """(scope needed, route template or None) for a request, matched as the router will match it."""
    partial = None
    for route in flat_routes(scope["app"].router.routes):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            path = getattr(route, "path", None)
            return ROUTE_SCOPES.get(path, UNLISTED_ROUTE_SCOPE), path
        if match == Match.PARTIAL and partial is None:
            partial = getattr(route, "path", None)
    if partial is not None:  # the path exists, not with this method: 405 for those allowed
        return ROUTE_SCOPES.get(partial, UNLISTED_ROUTE_SCOPE), partial
    return UNMATCHED_PATH_SCOPE, None


@dataclass(frozen=True)
class RouteAccess:
    """What `ApiKeyAuth` asks of one route and method when keys are set (read by api/openapi.py)."""

    scope: str                 # its ROUTE_SCOPES entry (`admin` when unlisted), OPEN or ANY_KEY included
    cookie: bool               # the key cookie is honoured as well as the bearer header
    page: bool                 # takes the key once as ?key= (303 with Set-Cookie)
    statuses: tuple[int, ...]  # what the middleware can answer instead of the route


def route_access(path: str, method: str) -> RouteAccess:
    """The key a route template needs for `method`, as `ApiKeyAuth` enforces it. Changes nothing."""
    needed = ROUTE_SCOPES.get(path, UNLISTED_ROUTE_SCOPE)
    if needed == OPEN:
        return RouteAccess(needed, cookie=False, page=False, statuses=())
    safe = method.upper() in ("GET", "HEAD")
    cookie = needed in COOKIE_SCOPES
    page = path in PAGE_ROUTES and safe
    # 403: a key without the scope (impossible for ANY_KEY), or a cookie on a cross-site unsafe method.
    forbidden = needed != ANY_KEY or (cookie and not safe)
    statuses = [401, 429] + ([403] if forbidden else []) + ([303] if page else [])
    return RouteAccess(needed, cookie=cookie, page=page, statuses=tuple(sorted(statuses)))


ANONYMOUS = "anonymous"  # the name key-less callers are counted under in /metrics


def anonymous_caller(scope: Scope, limits: KeyLimits) -> ApiKey:
    """A key-less caller: the budget of its client address (`QUALITY_ADDRESS_LIMITS`), every scope
    (no keys are configured), counted in /metrics as `anonymous` (never per address)."""
    client = scope.get("client")
    address = client[0] if client else "unknown"
    return ApiKey(digest=b"", scopes=frozenset(SCOPES), name=ANONYMOUS, limits=limits, budget=f"address {address}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiKeyAuth:
    """ASGI middleware: the outermost layer, so nothing (not even the body) is read before the key."""

    def __init__(self, app: ASGIApp, keys: list[ApiKey], budgets: Budgets | None = None, on_key=None,
                 address_limits: KeyLimits | None = None):
        """`budgets`: the keys' request rates (api.quotas); `on_key(name, status)`: called for every
        request a key made, with the status when this layer answered it (429) else None.
        `address_limits`: without keys, the budget each client address gets (a non-loopback bind)."""
        self.app = app
        self.keys = keys
        self.address_limits = address_limits
        self.budgets = budgets or Budgets()
        self.on_key = on_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # On every route, with keys or without: a secret in the address is taken out of the scope
        # before anything else reads it (uvicorn's access log reads this same scope).
        from_address = redact_query_secrets(scope)
        if not self.keys:
            if self.address_limits is not None and required_scope(scope)[0] != OPEN:
                caller = anonymous_caller(scope, self.address_limits)
                if not await self._within_rate(scope, send, caller, None):
                    return
                scope.setdefault("state", {})["caller"] = caller  # for the post quota (api.routes)
            await self.app(scope, receive, send)
            return
        needed, template = required_scope(scope)
        if needed == OPEN:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        method = scope["method"]

        if template in PAGE_ROUTES and method in ("GET", "HEAD") and from_address is not None:
            await self._login(scope, send, needed, template, from_address)
            return

        authorization = headers.get("authorization")
        via_cookie = False
        if authorization is not None:
            kind, _, presented = authorization.partition(" ")
            if kind.lower() != "bearer" or not presented.strip():
                await self._deny(scope, send, 401, "unauthorized",
                                 "use 'Authorization: Bearer <key>'", template)
                return
            presented = presented.strip()
        elif needed in COOKIE_SCOPES and (cookie := _cookie(headers.get("cookie"), COOKIE)) is not None:
            presented, via_cookie = cookie, True
        else:
            await self._deny(scope, send, 401, "unauthorized",
                             "this endpoint needs 'Authorization: Bearer <key>'", template)
            return
        key = await self._known_key_with_scope(scope, send, presented, needed, template)
        if key is None:
            return
        if via_cookie and method not in ("GET", "HEAD") and not _same_origin(headers):
            await self._deny(scope, send, 403, "forbidden",
                             "a request authenticated by cookie must come from this server's own pages",
                             template, name=key.name)
            return
        if not await self._within_rate(scope, send, key, template):
            return
        scope.setdefault("state", {})["api_key"] = key  # for the routes' post quota (request.state.api_key)
        await self.app(scope, receive, send)

    async def _within_rate(self, scope: Scope, send: Send, key: ApiKey, template: str | None) -> bool:
        """Take one request from the caller's budget; if it is used up, the 429 is sent and False returned."""
        wait = self.budgets.take_request(key.budget_name, key.limits)
        if self.on_key is not None:
            self.on_key(key.name, None if wait is None else 429)
        if wait is not None:
            whose = "this API key's" if key.budget is None else "this client address's"
            await self._deny(scope, send, 429, "rate_limited",
                             f"{whose} rate ({key.limits.rate:g} requests/s) is used up; retry after "
                             f"Retry-After seconds", template, name=key.name, retry=wait)
            return False
        return True

    async def _known_key_with_scope(self, scope: Scope, send: Send, presented: str, needed: str, template: str):
        """The stored key matching `presented` if it has the scope; else the 401 or 403 is sent and None returned."""
        key = find_key(self.keys, presented) if presented else None
        if key is None:
            await self._deny(scope, send, 401, "unauthorized", "unknown API key", template, error="invalid_token")
            return None
        if not key.allows(needed):
            await self._deny(scope, send, 403, "forbidden", f"this API key lacks the '{needed}' scope",
                             template, name=key.name)
            return None
        return key

    async def _login(self, scope: Scope, send: Send, needed: str, template: str, presented: str) -> None:
        rest = [(name, value) for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                                           keep_blank_values=True) if name not in SECRET_PARAMS]
        # A key that is not cookie-safe is never put in a header (Set-Cookie injection).
        safe = presented if COOKIE_SAFE.fullmatch(presented) else ""
        if await self._known_key_with_scope(scope, send, safe, needed, template) is None:
            return
        location = scope.get("root_path", "") + scope["path"] + (f"?{urlencode(rest)}" if rest else "")
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={presented}; Path=/; HttpOnly; SameSite=Strict{secure}"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
            (b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def _deny(self, scope: Scope, send: Send, status: int, code: str, message: str, template: str | None,
                    *, name: str | None = None, error: str | None = None, retry: float | None = None) -> None:
        client = (scope.get("client") or ("?",))[0]
        # What is logged: the client address, method, route template, status and the key's name. Never a key.
        log.log(logging.DEBUG if status == 429 else logging.WARNING,  # a flood must not flood the log
                "auth %d %s %s from %s%s", status, scope["method"], template or "(no route)", client,
                    f" key={name}" if name else "")
        body = _json(error_body(code, message))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            challenge = 'Bearer realm="quality"' + (f', error="{error}"' if error else "")
            headers.append((b"www-authenticate", challenge.encode()))
        if retry is not None:
            headers.append((b"retry-after", retry_after(retry).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def redact_query_secrets(scope: Scope) -> str | None:
    """Replace the value of every secret-looking parameter of the request's address (`key`,
    `api_key`, `token`, `access_token`) with "[redacted]", in the scope itself, so no log, error
    or handler downstream sees it; return the first `key` value (a page takes its key that way)."""
    raw = scope.get("query_string", b"")
    if not raw:
        return None
    query = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    if not any(name in SECRET_PARAMS for name, _ in query):
        return None
    presented = next((value for name, value in query if name == "key"), None)
    scope["query_string"] = urlencode([(name, "[redacted]" if name in SECRET_PARAMS else value)
                                       for name, value in query]).encode("latin-1")
    return presented


def _json(value: dict) -> bytes:
    import json

    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _cookie(header: str | None, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _same_origin(headers: dict[str, str]) -> bool:
    origin, host = headers.get("origin"), headers.get("host")
    return bool(origin and host) and urlsplit(origin).netloc.lower() == host.lower()
