"""What `/openapi.json` says about errors and keys, so that it says what the service does.

* Every error response is declared with the contract's body, `quality.schemas.ErrorBody`
  (`{"error": {"code", "message", "field"}}`, api/errors.py): the routes declare theirs with the
  `responses=` dicts below, and FastAPI's default 422 (`HTTPValidationError`, which the service never
  returns) is replaced by ours wherever FastAPI would add it.
* Limits (`QUALITY_LIMIT_*`): the running limits on text, images per post and batch items as
  `maxLength` / `maxItems` of the request schemas, so a request the document allows is not 413.
* Keys (api/auth.py): the security schemes, and for every operation its `security`, its
  `x-required-scope` and the 401/403 (and a page's 303) `ApiKeyAuth` can answer, all derived from
  `api.auth.route_access`, i.e. from `ROUTE_SCOPES`, by `document_errors_and_keys`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.auth import ANY_KEY, COOKIE, OPEN, flat_routes, route_access
from quality.members.schemas import MAX_PROFILE_ACTIVITIES, MAX_STORED_BATCH
from quality.schemas import ErrorBody
from quality.settings import Limits

BEARER_SCHEME = "bearerKey"
COOKIE_SCHEME = "keyCookie"
ERROR_REF = "#/components/schemas/ErrorBody"
FASTAPI_422_REF = "#/components/schemas/HTTPValidationError"
FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def error_response(description: str, **extra: Any) -> dict:
    """A `responses=` entry: the contract's error body, with a description (and e.g. headers)."""
    return {"model": ErrorBody, "description": description, **extra}


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                               "schema": {"type": "integer", "minimum": 0}}}

INVALID = {422: error_response(
    "invalid input: a malformed or unknown field or parameter (invalid_input), JSON that does not parse "
    "(invalid_json), or a check the schema cannot express (e.g. empty_post, parent_on_post, invalid_base64, "
    "corrupt_image, empty_batch)")}
TOO_LARGE = {413: error_response(
    "over a limit: the request body (too_large), text length, image bytes or pixels, images per post, "
    "batch items, a batch's characters of text (batch_text_too_long), a photo that looks like a "
    "decompression bomb (decompression_bomb)")}
UNSUPPORTED_IMAGE = {415: error_response("an image that is not JPEG, PNG, WebP or GIF (unsupported_image)")}
OVERLOADED = {503: error_response(
    "overloaded, timed out or shutting down (overloaded, timeout, shutting_down), photo decoding at its "
    "memory budget (decode_busy), or the contest database unreachable (unavailable); retry after Retry-After",
    headers=RETRY_AFTER)}
# Every contest route reads or writes the contest database, which can be down or restarting.
DATABASE = {503: error_response("the contest database cannot be reached right now (unavailable); "
                                "retry after Retry-After", headers=RETRY_AFTER)}
NOT_FOUND = {404: error_response("no such contest, entry or image (not_found)")}
MEMBER_NOT_FOUND = {404: error_response("no activity is stored for this member (not_found)")}
LITERAL_PATH = {405: error_response("the path is another route's literal path, e.g. `/members/profile` "
                                    "(method_not_allowed; `Allow` names its methods)",
                                    headers={"Allow": {"description": "the methods the path has",
                                                       "schema": {"type": "string"}}})}

SCORING = {**TOO_LARGE, **UNSUPPORTED_IMAGE, **INVALID, **OVERLOADED}  # posts are decoded and scored
WITH_BODY = {**TOO_LARGE, **INVALID}  # any JSON body: the body limit and validation
IN_CONTEST = {**NOT_FOUND, **INVALID}  # a contest (entry, image) named in the path


def _error_content() -> dict:
    return {"application/json": {"schema": {"$ref": ERROR_REF}}}


def _auth_responses(access, method: str) -> dict[str, dict]:
    scope = "any key" if access.scope == ANY_KEY else f"a key with the `{access.scope}` scope (or `admin`)"
    out: dict[str, dict] = {}
    if 401 in access.statuses:
        out["401"] = {
            "description": "no key, an unknown key, or an Authorization header that is not `Bearer <key>` "
                           "(unauthorized; only when QUALITY_API_KEYS is set)",
            "headers": {"WWW-Authenticate": {"description": 'Bearer realm="quality"',
                                             "schema": {"type": "string"}}},
            "content": _error_content()}
    if 403 in access.statuses:
        reasons = []
        if access.scope != ANY_KEY:
            reasons.append(f"the key lacks the `{access.scope}` scope")
        if access.cookie and method.upper() not in ("GET", "HEAD"):
            reasons.append("a request authenticated by the key cookie that does not come from this server's "
                           "own pages")
        out["403"] = {"description": f"{'; or '.join(reasons)} (forbidden; only when QUALITY_API_KEYS is set)",
                      "content": _error_content()}
    if 429 in access.statuses:
        out["429"] = {
            "description": "the key's request rate is used up (rate_limited), or for a route that scores posts "
                           "its daily post quota (quota_exceeded): retry after Retry-After (keys with limits only)",
            "headers": RETRY_AFTER, "content": _error_content()}
    if 303 in access.statuses:
        out["303"] = {
            "description": f"with `?key=<key>` ({scope}, when QUALITY_API_KEYS is set): the key is set as an "
                           "HttpOnly, SameSite=Strict cookie and the browser redirected to this path without it",
            "headers": {"Location": {"schema": {"type": "string"}},
                        "Set-Cookie": {"schema": {"type": "string"}}}}
    return out


def _security_text(access) -> str:
    if access.scope == OPEN:
        return "Open: needs no key."
    who = "any valid API key" if access.scope == ANY_KEY else f"an API key with the `{access.scope}` scope (or `admin`)"
    how = "`Authorization: Bearer <key>`" + (f" or the `{COOKIE}` cookie" if access.cookie else "")
    return f"With QUALITY_API_KEYS set, needs {who}: {how}."


ADDRESS_RATE_LIMITED = {"429": {
    "description": "this client address's request rate is used up (rate_limited), or for a route that scores "
                   "posts its daily post quota (quota_exceeded): retry after Retry-After (QUALITY_ADDRESS_LIMITS, "
                   "served without keys on a non-loopback address)",
    "headers": RETRY_AFTER, "content": _error_content()}}


def document_address_budget(schema: dict, routes) -> dict:
    """Served without keys on a non-loopback address: every operation but the open ones can be 429."""
    for route in flat_routes(routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is not None and route_access(route.path, method).scope != OPEN:
                operation["responses"] = dict(sorted({**operation["responses"], **ADDRESS_RATE_LIMITED}.items()))
    return schema


def document_errors_and_keys(schema: dict, routes, keys_configured: bool = True) -> dict:
    """Rewrite FastAPI's generated document in place: our 422 for FastAPI's, and -- only when keys
    are configured, as the running service then asks for them -- the key requirements of every
    operation from `api.auth.route_access`. Returns `schema`."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "ErrorBody" not in schemas:  # no route declared an error: add the model for the auth responses
        definition = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(definition.pop("$defs", {}))
        schemas["ErrorBody"] = definition
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if FASTAPI_422_REF in str(responses.get("422", {}).get("content")):  # a route that declared no 422
                responses["422"] = {"description": INVALID[422]["description"], "content": _error_content()}
            for status, response in responses.items():
                if status[:1] in ("4", "5") and ERROR_REF in str(response.get("content")):
                    # FastAPI files a model under the route's media type (text/html for a page): errors are JSON
                    response["content"] = _error_content()
    for name in FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    if not keys_configured:  # QUALITY_API_KEYS unset: the service asks no key, and says so
        return schema

    components.setdefault("securitySchemes", {}).update({
        BEARER_SCHEME: {"type": "http", "scheme": "bearer",
                        "description": "an API key made by `quality keys new` (only when QUALITY_API_KEYS is set; "
                                       "see SECURITY.md)"},
        COOKIE_SCHEME: {"type": "apiKey", "in": "cookie", "name": COOKIE,
                        "description": "the key, set by a page's `?key=<key>`; honoured on `judge` and any-key "
                                       "routes only, for unsafe methods only from this server's own pages"},
    })
    for route in flat_routes(routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            access = route_access(route.path, method)
            operation["x-required-scope"] = access.scope
            if access.scope == OPEN:
                operation["security"] = []
            else:
                operation["security"] = [{BEARER_SCHEME: []}] + ([{COOKIE_SCHEME: []}] if access.cookie else [])
            operation["responses"].update(_auth_responses(access, method))
            operation["responses"] = dict(sorted(operation["responses"].items()))
            text = _security_text(access)
            operation["description"] = f"{operation['description']}\n\n{text}" if operation.get("description") else text
    return schema


def _bound(schema: dict | None, keyword: str, value: int) -> None:
    """Set `keyword` on a property's schema, or on its non-null branch (`X | None` is an anyOf)."""
    if schema is None:
        return
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") in ("string", "array"):
            branch[keyword] = value


def document_limits(schema: dict, limits: Limits) -> dict:
    """The running input limits in the request schemas (past them the service answers 413)."""
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("Post", "Post-Input"):
        properties = schemas.get(name, {}).get("properties", {})
        for field in ("text", "title", "theme"):
            _bound(properties.get(field), "maxLength", limits.max_text_chars)
        _bound(properties.get("images"), "maxItems", limits.max_images_per_post)
    _bound(schemas.get("Parent", {}).get("properties", {}).get("text"), "maxLength", limits.max_text_chars)
    _bound(schemas.get("BatchRequest", {}).get("properties", {}).get("items"), "maxItems", limits.max_batch_items)
    for name, most in (("ProfileRequest", MAX_PROFILE_ACTIVITIES), ("ActivitiesBatch", MAX_STORED_BATCH)):
        _bound(schemas.get(name, {}).get("properties", {}).get("activities"), "maxItems", most)
    return schema


def install_openapi(app: FastAPI, keys_configured: bool = True, limits: Limits | None = None,
                    address_budget: bool = False) -> None:
    """`app.openapi` (FastAPI's documented hook): FastAPI's document, then `document_errors_and_keys`
    for the running configuration (`keys_configured`: QUALITY_API_KEYS is set) and, when given,
    `document_limits`."""
    generate = app.openapi
    documented: dict | None = None

    def openapi() -> dict:
        nonlocal documented
        schema = generate()  # cached by FastAPI until the routes change
        if schema is not documented:
            documented = document_errors_and_keys(schema, app.routes, keys_configured)
            if limits is not None:
                document_limits(schema, limits)
            if address_budget and not keys_configured:
                document_address_budget(schema, app.routes)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
