"""`/openapi.json` tells the truth about errors and keys (api/openapi.py).

Every status an operation can give is declared, every error with the contract's body (`ErrorBody`);
FastAPI's `HTTPValidationError` (never returned) is gone; the key requirements follow
`api.auth.ROUTE_SCOPES`; and real error responses validate against the schema their operation declares.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from api.app import create_app
from api.auth import ANY_KEY, COOKIE_SCOPES, OPEN, ROUTE_SCOPES, flat_routes, hash_key, new_key
from api.errors import error_body
from api.limits import InFlightLimit
from api.openapi import BEARER_SCHEME, COOKIE_SCHEME
from quality.schemas import ErrorBody
from quality.settings import Limits
from tests.conftest import b64

ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
KEYED = {401, 403, 429}  # with QUALITY_API_KEYS set: no (valid) key, a key without the route's scope, its budget
IN_CONTEST = KEYED | {404, 422}  # a contest (entry, image) in the path: unknown, or a malformed id
WITH_BODY = KEYED | {413, 422}  # any JSON body: the body limit, validation
SCORING = WITH_BODY | {415, 503}  # posts are decoded and scored: images, the in-flight bound

# The error statuses each operation can give: the spec this test holds the schema to.
EXPECTED_ERRORS: dict[tuple[str, str], set[int]] = {
    ("GET", "/health"): set(),
    ("GET", "/info"): {401, 429},  # any key will do: no 403
    ("GET", "/metrics"): KEYED,
    ("POST", "/score"): SCORING,
    ("POST", "/score/batch"): SCORING,
    # contest routes: the database can be down (503 unavailable)
    ("GET", "/contests"): KEYED | {503},
    ("POST", "/contests"): WITH_BODY | {503},
    ("GET", "/contests/{contest_id}"): IN_CONTEST | {503},
    ("GET", "/contests/{contest_id}/entries"): IN_CONTEST | {503},
    ("POST", "/contests/{contest_id}/entries"): SCORING | {404},
    ("GET", "/contests/{contest_id}/entries/{entry_id}"): IN_CONTEST | {503},
    ("GET", "/contests/{contest_id}/entries/{entry_id}/images/{index}/thumbnail"): IN_CONTEST | {503},
    ("GET", "/contests/{contest_id}/ranking"): IN_CONTEST | {503},
    ("POST", "/contests/{contest_id}/judgements"): WITH_BODY | {404, 503},
    ("GET", "/contests/{contest_id}/judgements"): IN_CONTEST | {503},
    ("GET", "/ui/contests/{contest_id}"): IN_CONTEST | {503},
    # member routes: the stateless profile scores content; the stored ones use the database
    ("POST", "/members/profile"): SCORING,
    ("POST", "/members/{member_id}/activities"): SCORING | {503},
    ("GET", "/members/{member_id}"): IN_CONTEST | {405, 503},  # 405: /members/profile
    ("GET", "/members"): KEYED | {422, 503},
    ("GET", "/audit"): KEYED | {422, 503},
    ("POST", "/members/{member_id}/tier"): WITH_BODY | {404, 503},
    ("GET", "/ui/members/{member_id}"): IN_CONTEST | {503},  # 404: no stored activity
}


@pytest.fixture(scope="module")
def admin_key() -> tuple[str, str]:
    return new_key("admin", name="openapi-admin")


@pytest.fixture(scope="module")
def app(service, tmp_path_factory, admin_key):
    """The service with keys set: the document then declares them (the client sends the admin key)."""
    settings = service.settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("openapi"),
                                                   "api_keys": admin_key[1]})
    return create_app(settings, service=service)


@pytest.fixture(scope="module")
def client(app, admin_key):
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key[0]}"}) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def schema(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_operation_declares_its_errors_with_the_contract_body(schema):
    seen = set()
    for method, path, operation in operations(schema):
        seen.add((method, path))
        responses = operation["responses"]
        errors = {int(status) for status in responses if int(status) >= 400}
        assert errors == EXPECTED_ERRORS[(method, path)], (method, path)
        for status in errors:
            assert responses[str(status)]["content"] == ERROR_CONTENT, (method, path, status)
            assert responses[str(status)]["description"], (method, path, status)
        if 503 in errors:
            assert "Retry-After" in responses["503"]["headers"], (method, path)
        if 401 in errors:
            assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
    assert seen == set(EXPECTED_ERRORS)


def test_fastapis_validation_error_is_not_in_the_schema(schema):
    text = json.dumps(schema)
    assert "HTTPValidationError" not in text and "#/components/schemas/ValidationError" not in text
    assert "ValidationError" not in schema["components"]["schemas"]
    error_schema = schema["components"]["schemas"]["ErrorBody"]
    assert error_schema["required"] == ["error"] and error_schema["additionalProperties"] is False
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "field"} and detail["additionalProperties"] is False


def test_security_follows_the_route_scope_table(app, schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes[BEARER_SCHEME] == {**schemes[BEARER_SCHEME], "type": "http", "scheme": "bearer"}
    assert schemes[COOKIE_SCHEME]["type"] == "apiKey" and schemes[COOKIE_SCHEME]["in"] == "cookie"
    documented = {(method, path): operation for method, path, operation in operations(schema)}
    routes = [route for route in flat_routes(app.routes) if getattr(route, "include_in_schema", False)]
    assert {(m, r.path) for r in routes for m in r.methods} == set(documented)
    for (method, path), operation in documented.items():
        needed = ROUTE_SCOPES[path]
        assert operation["x-required-scope"] == needed, (method, path)
        if needed == OPEN:
            assert operation["security"] == [] and "401" not in operation["responses"], (method, path)
            continue
        expected = [{BEARER_SCHEME: []}] + ([{COOKIE_SCHEME: []}] if needed in COOKIE_SCOPES else [])
        assert operation["security"] == expected, (method, path)
        assert "401" in operation["responses"], (method, path)
        assert ("403" in operation["responses"]) == (needed != ANY_KEY or method != "GET"), (method, path)
        assert (needed if needed != ANY_KEY else "any valid API key") in operation["description"], (method, path)
    assert "303" in documented[("GET", "/ui/contests/{contest_id}")]["responses"]  # ?key= sets the cookie


def assert_declared(schema: dict, method: str, path: str, response) -> dict:
    """The response's status is declared for the operation, and its body validates against the schema
    declared for that status (jsonschema, refs resolved in the document). Returns the body."""
    declared = schema["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in declared, (method, path, response.status_code, list(declared))
    assert response.headers["content-type"].startswith("application/json")
    body_schema = declared[str(response.status_code)]["content"]["application/json"]["schema"]
    Draft202012Validator({**body_schema, "components": schema["components"]}).validate(response.json())
    ErrorBody.model_validate(response.json())
    for header in declared[str(response.status_code)].get("headers", {}):
        assert header in response.headers, (method, path, response.status_code, header)
    return response.json()["error"]


def test_real_errors_validate_against_the_declared_schema(client, schema):
    error = assert_declared(schema, "GET", "/contests/{contest_id}", client.get("/contests/no-such-contest"))
    assert error["code"] == "not_found"
    error = assert_declared(schema, "GET", "/contests/{contest_id}", client.get("/contests/" + "x" * 65))
    assert error["code"] == "invalid_input" and error["field"] == "contest_id"
    error = assert_declared(schema, "POST", "/score", client.post("/score", json={"text": 42}))
    assert error["code"] == "invalid_input"
    error = assert_declared(schema, "POST", "/score", client.post(
        "/score", content=b'{"text": "unterminated', headers={"content-type": "application/json"}))
    assert error["code"] == "invalid_json"
    error = assert_declared(schema, "POST", "/score", client.post("/score", json={"text": "好" * 20_001}))
    assert error["code"] == "text_too_long" and error["field"] == "text"
    error = assert_declared(schema, "POST", "/score", client.post(
        "/score", json={"text": "hi", "images": [{"data": b64(b"%PDF-1.4 hello")}]}))
    assert error["code"] == "unsupported_image" and error["field"] == "images[0].data"
    error = assert_declared(schema, "GET", "/contests/{contest_id}/entries/{entry_id}/images/{index}/thumbnail",
                            client.get("/contests/none/entries/none/images/-1/thumbnail"))
    assert error["field"] == "index"


def test_body_limit_and_overload_validate_against_the_declared_schema(service, schema):
    settings = service.settings.model_copy(update={"limits": Limits(max_body_bytes=1000)})
    app = create_app(settings, service=service)
    client = TestClient(app)  # no lifespan needed: neither reaches the models
    error = assert_declared(schema, "POST", "/score", client.post("/score", json={"text": "好" * 2000}))
    assert error["code"] == "too_large"
    app.state.in_flight = InFlightLimit(0)  # every scoring request is one too many
    response = client.post("/score/batch", json={"items": [{"text": "好"}]})
    assert response.status_code == 503
    assert assert_declared(schema, "POST", "/score/batch", response)["code"] == "overloaded"
    assert response.headers["retry-after"].isdigit()


def test_key_errors_validate_against_the_declared_schema(service, schema):
    key, _ = new_key("judge", name="openapi")
    keys = f"sha256:{hash_key(key)}:judge:openapi"
    app = create_app(service.settings.model_copy(update={"api_keys": keys}), service=service)
    client = TestClient(app)
    keyed_schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {key}"}).json()
    assert keyed_schema == schema  # the same document whichever keys are set
    error = assert_declared(schema, "POST", "/score", client.post("/score", json={"text": "hi"}))
    assert error["code"] == "unauthorized"
    error = assert_declared(schema, "POST", "/score", client.post(
        "/score", json={"text": "hi"}, headers={"Authorization": f"Bearer {key}"}))
    assert error["code"] == "forbidden"
    error = assert_declared(schema, "GET", "/info", client.get("/info", headers={"Authorization": "Basic abc"}))
    assert error["code"] == "unauthorized"


def test_errors_outside_any_operation_have_the_contract_body(client):
    # 404 (no such path) and 405 (a method the path lacks) are declared in the document's description.
    for response, status in ((client.get("/nowhere"), 404), (client.delete("/score"), 405)):
        assert response.status_code == status
        ErrorBody.model_validate(response.json())
    assert ErrorBody.model_validate(error_body("x", "y")).error.field is None


def test_a_route_that_declares_no_errors_still_gets_ours_for_fastapis_422():
    # The fallback in api/openapi.py: FastAPI's default 422 is replaced, its schemas removed,
    # and an unlisted route is documented as admin-only (api/auth.py fails closed).
    from fastapi import FastAPI, Query

    from api.openapi import install_openapi

    bare = FastAPI()

    @bare.get("/things/{thing_id}")
    def thing(thing_id: int, page: int = Query(1, ge=1)) -> dict:
        return {}

    install_openapi(bare)
    document = bare.openapi()
    operation = document["paths"]["/things/{thing_id}"]["get"]
    assert operation["responses"]["422"]["content"] == ERROR_CONTENT
    assert "HTTPValidationError" not in json.dumps(document)
    assert "ErrorBody" in document["components"]["schemas"] and "ErrorDetail" in document["components"]["schemas"]
    assert operation["x-required-scope"] == "admin" and set(operation["responses"]) >= {"401", "403"}
    assert bare.openapi() is document  # FastAPI's cache still works


def test_without_keys_the_document_declares_no_auth_and_requests_need_none(service, tmp_path):
    """The document describes the running service: with QUALITY_API_KEYS unset no key is asked, so
    none is declared -- no security scheme, no `security`, no 401/403/303, no scope."""
    app = create_app(service.settings.model_copy(update={"state_dir": tmp_path, "api_keys": None}), service=service)
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
        assert client.get("/contests").status_code == 200  # no Authorization header: accepted, as declared
    assert "securitySchemes" not in document.get("components", {})
    for method, path, operation in operations(document):
        assert "security" not in operation and "x-required-scope" not in operation, (method, path)
        assert not {"401", "403", "303", "429"} & set(operation["responses"]), (method, path)
        errors = {int(s) for s in operation["responses"] if int(s) >= 400}
        assert errors == EXPECTED_ERRORS[(method, path)] - KEYED, (method, path)


def _post_schema_validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator({"$ref": "#/components/schemas/Post", "components": schema["components"]})


@pytest.mark.parametrize("post, accepted", [
    ({"text": "高速油耗6.2L"}, True),
    ({"title": "提车作业"}, True),
    ({"kind": "reply", "text": "多练", "parent": {"text": "侧方总压线怎么办", "author_is_newcomer": True}}, True),
    ({"text": " \u3000\u200b\t"}, False),                         # nothing visible: empty_post
    ({"text": "\u200b", "title": "\ufeff "}, False),
    ({"text": "多练", "parent": {"text": "怎么办"}}, False),         # parent on a post: parent_on_post
    ({"kind": "post", "text": "多练", "parent": {"text": "怎么办"}}, False),
    ({"text": "好" * 20_001}, False),                               # past the running limit: 413
    ({"text": "多练", "theme": "题" * 20_001}, False),
    ({"text": 42}, False),
    ({"kind": "reply", "text": "多练", "parent": {"text": "x", "author_is_newcomer": 1}}, False),  # no 1 for true
    ({"kind": "reply", "text": "多练", "parent": {"text": "x", "author_is_newcomer": "true"}}, False),
])
def test_the_post_schema_accepts_what_the_service_accepts(client, schema, post, accepted):
    """What /openapi.json says of a post is what `POST /score` does with it (schemathesis' positive
    and negative data checks): the visible-text and parent rules, the running text limit, strict types."""
    valid = _post_schema_validator(schema).is_valid(post)
    answer = client.post("/score", json=post)
    assert valid is accepted, list(_post_schema_validator(schema).iter_errors(post))
    assert (answer.status_code == 200) is accepted, answer.text


def test_the_blank_characters_in_the_post_schema_are_those_the_clean_up_removes():
    """`BLANK_CHARS` (the schema's visible-text pattern) is exactly what `clean_text` leaves nothing of."""
    import re

    from quality.normalize import clean_text
    from quality.schemas import BLANK_CHARS

    blank = re.compile(f"[{BLANK_CHARS}]")
    disagree = [hex(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF
                and (clean_text(chr(code)) == "") != bool(blank.fullmatch(chr(code)))]
    assert disagree == []


def test_the_document_states_the_running_limits(service, tmp_path):
    limits = Limits(max_text_chars=500, max_images_per_post=2, max_batch_items=8)
    settings = service.settings.model_copy(update={"state_dir": tmp_path, "limits": limits})
    components = create_app(settings, service=service).openapi()["components"]["schemas"]
    text = [branch for branch in components["Post"]["properties"]["text"]["anyOf"] if branch.get("type") == "string"]
    assert text[0]["maxLength"] == 500
    assert components["Post"]["properties"]["images"]["maxItems"] == 2
    assert components["BatchRequest"]["properties"]["items"]["maxItems"] == 8
    assert components["BatchRequest"]["properties"]["items"]["minItems"] == 1
