"""API keys (issue 10, SECURITY.md): with QUALITY_API_KEYS set every route but /health wants a bearer key of
the right scope. Routes are taken from `app.routes`, so a new route cannot slip through unchecked."""

from __future__ import annotations

import argparse
import logging
import re

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from api import cli
from api.app import create_app
from api.auth import (ANY_KEY, COOKIE, OPEN, ROUTE_SCOPES, InvalidApiKeys, flat_routes, hash_key, new_key,
                      parse_api_keys)

THEME = "我的第一次长途旅行"
TEXT = "第一次自驾长途，从成都到稻城亚丁，全程1200公里。高速百公里6.8L，山路8.5L，连续下坡时建议用低挡。"


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    """Clear keys, by the scopes they carry."""
    return {scopes: new_key(scopes, name=f"test-{scopes.replace('+', '-')}")[0]
            for scopes in ("score", "judge", "admin", "score+judge")}


@pytest.fixture(scope="module")
def settings(service, keys, tmp_path_factory):
    entries = "\n".join(new_key_entry(key, scopes) for scopes, key in keys.items())
    return service.settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("auth"), "api_keys": entries})


def new_key_entry(key: str, scopes: str) -> str:
    return f"sha256:{hash_key(key)}:{scopes}:test-{scopes.replace('+', '-')}"


@pytest.fixture(scope="module")
def app(settings, service):
    return create_app(settings, service=service)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def ids(client, keys, photo_b64) -> dict:
    judge = bearer(keys["judge"])
    contest = client.post("/contests", json={"name": "冬季自驾", "theme": THEME}, headers=judge)
    assert contest.status_code == 201, contest.text
    contest_id = contest.json()["id"]
    entry = client.post(f"/contests/{contest_id}/entries", headers=judge,
                        json={"id": "trip", "text": TEXT, "images": [{"data": photo_b64}]})
    assert entry.status_code == 201, entry.text
    stored = client.post("/members/m-auth/activities", headers=bearer(keys["score"]),
                         json={"activities": [VOTE]})
    assert stored.status_code == 200, stored.text
    return {"contest_id": contest_id, "entry_id": entry.json()["id"], "index": "0", "member_id": "m-auth"}


VOTE = {"id": "a1", "at": "2026-11-02T20:15:00+08:00", "kind": "vote"}


BODIES = {
    ("POST", "/score"): {"text": TEXT},
    ("POST", "/score/batch"): {"items": [{"text": TEXT}]},
    ("POST", "/contests"): {"name": "春季自驾", "theme": THEME},
    ("POST", "/contests/{contest_id}/entries"): {"text": "周末去了趟海边，油耗5.9L，路况很好。"},
    ("POST", "/contests/{contest_id}/judgements"): {"judge": "王评委", "entry": "{entry_id}", "score": 80},
    ("POST", "/members/profile"): {"member_id": "m-auth", "activities": [VOTE]},
    ("POST", "/members/{member_id}/activities"): {"activities": [VOTE]},
    ("POST", "/members/{member_id}/tier"): {"tier": "basic"},
}


def with_ids(body: dict | None, ids: dict) -> dict | None:
    return body and {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}


def requests(app, ids) -> list[tuple[str, str, str, dict | None]]:
    """(method, template, concrete path, json body) for every method of every route of the app."""
    out = []
    for route in flat_routes(app.routes):
        assert isinstance(route, Route), f"{route!r}: not a plain route; extend this test and api/auth.py"
        for method in sorted(route.methods - {"HEAD"}):
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: ids[m.group(1)], route.path)
            body = with_ids(BODIES.get((method, route.path)), ids)
            assert method == "GET" or body is not None, f"add an example body for {method} {route.path}"
            out.append((method, route.path, path, body))
    return out


def call(client, method, path, body=None, headers=None):
    return client.request(method, path, json=body, headers=headers or {}, follow_redirects=False)


def test_every_route_is_in_the_scope_table(app):
    paths = {route.path for route in flat_routes(app.routes)}
    assert len(paths) >= 16
    assert paths <= set(ROUTE_SCOPES), f"routes without a scope (so admin-only): {paths - set(ROUTE_SCOPES)}"
    assert {path for path, scope in ROUTE_SCOPES.items() if scope == OPEN} == {"/health"}


def test_every_route_needs_a_key_of_its_scope(app, client, keys, ids):
    other_scope = {"score": "judge", "judge": "score", "admin": "score+judge"}
    for method, template, path, body in requests(app, ids):
        needed = ROUTE_SCOPES[template]
        label = f"{method} {template}"
        if needed == OPEN:
            assert call(client, method, path, body).status_code == 200, label
            continue
        for headers in ({}, bearer("qk_wrong"), bearer(keys["admin"] + "x"), {"Authorization": "Basic abc"}):
            response = call(client, method, path, body, headers)
            assert response.status_code == 401, (label, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthorized"
            assert set(response.json()["error"]) == {"code", "message", "field"}
        if needed != ANY_KEY:
            response = call(client, method, path, body, bearer(keys[other_scope[needed]]))
            assert response.status_code == 403, (label, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        right = [keys["admin"]] + ([keys[needed]] if needed in keys else list(keys.values()))
        for key in right:
            response = call(client, method, path, body, bearer(key))
            assert response.status_code in (200, 201), (label, response.status_code, response.text[:300])


def test_unknown_paths_and_methods_tell_nothing_without_a_key(client, keys):
    assert call(client, "GET", "/no-such-thing").status_code == 401
    assert call(client, "GET", "/no-such-thing", headers=bearer(keys["score"])).status_code == 404
    assert call(client, "DELETE", "/score").status_code == 401
    assert call(client, "DELETE", "/score", headers=bearer(keys["score"])).status_code == 405


def test_unauthenticated_bodies_are_not_read(client):
    # Over the body limit and not JSON: refused on the key alone, before any of it is parsed.
    response = client.post("/score", content=b"{" * 1000, headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_health_is_open(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_keys_are_stored_hashed_only(client, settings, keys, caplog):
    dump = settings.model_dump_json()
    info = client.get("/info", headers=bearer(keys["score"])).text
    with caplog.at_level(logging.INFO):
        call(client, "GET", "/metrics", headers=bearer(keys["score"]))  # a refusal is logged
        call(client, "GET", "/info", headers=bearer(keys["admin"] + "x"))
    assert "key=test-score" in caplog.text
    for key in keys.values():
        assert key not in dump and key not in info and key not in caplog.text
        assert hash_key(key) in dump and hash_key(key) not in info


def test_judges_page_takes_the_key_once_and_then_a_strict_cookie(app, client, keys, ids):
    page = f"/ui/contests/{ids['contest_id']}"
    with TestClient(app) as browser:
        assert call(browser, "GET", page).status_code == 401
        assert call(browser, "GET", f"{page}?key=qk_wrong").status_code == 401
        assert call(browser, "GET", f"{page}?key={keys['score']}").status_code == 403
        login = call(browser, "GET", f"{page}?key={keys['judge']}")
        assert login.status_code == 303 and login.headers["location"] == page
        cookie = login.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.cookies.get(COOKIE) == keys["judge"]
        served = call(browser, "GET", page)
        assert served.status_code == 200 and "Content-Security-Policy" in served.headers
        contest = f"/contests/{ids['contest_id']}"
        assert call(browser, "GET", f"{contest}/ranking").status_code == 200
        assert call(browser, "GET", f"{contest}/entries/{ids['entry_id']}/images/0/thumbnail").status_code == 200
        # Writes by cookie only from the server's own origin (CSRF); the cookie never opens scoring or metrics.
        judgement = with_ids(BODIES[("POST", "/contests/{contest_id}/judgements")], ids)
        assert call(browser, "POST", f"{contest}/judgements", judgement).status_code == 403
        assert call(browser, "POST", f"{contest}/judgements", judgement,
                    {"Origin": "http://evil.example"}).status_code == 403
        assert call(browser, "POST", f"{contest}/judgements", judgement,
                    {"Origin": "http://testserver"}).status_code == 201
        assert call(browser, "POST", "/score", {"text": TEXT}, {"Origin": "http://testserver"}).status_code == 401
        assert call(browser, "GET", "/metrics").status_code == 401


def test_member_page_takes_the_key_once_and_then_the_cookie(app, keys, ids):
    page = f"/ui/members/{ids['member_id']}"
    with TestClient(app) as browser:
        assert call(browser, "GET", page).status_code == 401
        assert call(browser, "GET", f"{page}?key={keys['score']}").status_code == 403
        as_of = "as_of=2026-11-30T00%3A00%3A00%2B08%3A00"  # kept through the login
        login = call(browser, "GET", f"{page}?key={keys['judge']}&{as_of}")
        assert login.status_code == 303 and login.headers["location"] == f"{page}?{as_of}"
        assert browser.cookies.get(COOKIE) == keys["judge"] and "HttpOnly" in login.headers["set-cookie"]
        served = call(browser, "GET", login.headers["location"])
        assert served.status_code == 200 and "Content-Security-Policy" in served.headers
        assert call(browser, "GET", f"/members/{ids['member_id']}").status_code == 200  # what the page reads
        assert call(browser, "POST", f"/members/{ids['member_id']}/activities", {"activities": [VOTE]},
                    {"Origin": "http://testserver"}).status_code == 401  # the cookie never stores activities


def test_key_entries_parse_or_stop_start_up(service):
    key, entry = new_key("judge+score", name="ops")
    (parsed,) = parse_api_keys(f"  {entry} ,\n")
    assert parsed.scopes == {"score", "judge"} and parsed.name == "ops" and parsed.digest.hex() == hash_key(key)
    assert parse_api_keys("") == [] and parse_api_keys(None) == []
    for bad in (key, f"sha256:{hash_key(key)}", f"sha256:{hash_key(key)}:root", f"md5:{hash_key(key)}:score",
                f"sha256:{hash_key(key)[:-1]}:score", f"sha256:{hash_key(key)}:score:bad name"):
        with pytest.raises(InvalidApiKeys) as error:
            parse_api_keys(f"{entry},{bad}")
        assert "entry 2" in str(error.value) and key not in str(error.value)
    with pytest.raises(InvalidApiKeys):
        create_app(service.settings.model_copy(update={"api_keys": "sha256:00:score"}), service=service)


def test_quality_keys_new_round_trips(capsys):
    assert cli.main(["keys", "new", "--scope", "score+admin", "--name", "ci-bot"]) == 0
    key, entry = capsys.readouterr().out.splitlines()
    (parsed,) = parse_api_keys(entry)
    assert key.startswith("qk_") and len(key) > 40 and key not in entry
    assert parsed.scopes == {"score", "admin"} and parsed.name == "ci-bot"
    assert parsed.digest.hex() == hash_key(key)
    assert cli.main(["keys", "new", "--scope", "root"]) == 2


@pytest.fixture
def served(monkeypatch):
    """`quality serve` with uvicorn.run replaced: nothing binds."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.delenv("QUALITY_API_KEYS", raising=False)
    return calls


def test_serve_refuses_a_public_address_without_keys(served, monkeypatch, capsys):
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert "QUALITY_API_KEYS" in capsys.readouterr().err and not served
    assert cli.cmd_serve(argparse.Namespace(host="192.168.1.5", port=None)) == 2 and not served
    assert cli.main(["serve", "--host", "127.0.0.1", "--port", "8765"]) == 0
    assert served[-1] == {"host": "127.0.0.1", "port": 8765, "log_level": "info"}

    _, entry = new_key("score")
    monkeypatch.setenv("QUALITY_API_KEYS", entry)
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 0 and served[-1]["host"] == "0.0.0.0"

    monkeypatch.setenv("QUALITY_API_KEYS", entry + ",sha256:nothex:score")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert "entry 2" in capsys.readouterr().err and len(served) == 2


def test_uvicorn_access_log_never_records_a_key_from_the_address(keys, caplog):
    """A real uvicorn server (a tiny app behind the same middleware, on 127.0.0.1): `?key=` is redacted."""
    import threading
    import time

    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse

    from api.auth import ApiKeyAuth

    tiny = Starlette(routes=[Route("/docs", lambda request: PlainTextResponse("docs"))],
                     middleware=[Middleware(ApiKeyAuth, keys=parse_api_keys(new_key_entry(keys["judge"], "judge")))])
    server = uvicorn.Server(uvicorn.Config(tiny, host="127.0.0.1", port=0, log_config=None,
                                          access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            port = server.servers[0].sockets[0].getsockname()[1]
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as browser:
                response = browser.get(f"/docs?key={keys['judge']}")
                assert response.status_code == 200 and response.text == "docs"  # 303, cookie, then the page
                assert len(response.history) == 1 and response.history[0].status_code == 303
        finally:
            server.should_exit = True
            thread.join(10)
    assert "key=%5Bredacted%5D" in caplog.text or "key=[redacted]" in caplog.text
    assert keys["judge"] not in caplog.text
