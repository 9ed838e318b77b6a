"""Keys never leave (issue 21): a key sent in the address, a header or a cookie, right or wrong,
on any route, with keys configured or not, is in nothing the server writes -- its logs (every
logger, uvicorn's access log included, at DEBUG), its answers' bodies and headers (but the page
login's own Set-Cookie), `/metrics` -- and a route's handler never sees it in the address."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import Request
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import hash_key, new_key

LEAKED = "qk_leak_" + "x" * 30  # a well-formed key nobody holds


def _serve(app):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=True,
                                          lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def _server_log(caplog) -> str:
    """Every record the server's side logged (the test's own HTTP client logs its requests too)."""
    return "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records
                     if not r.name.startswith(("httpx", "httpcore")))


def _everything_written(responses: list[httpx.Response], caplog) -> str:
    parts = [_server_log(caplog)]
    for response in responses:
        parts.append(response.text)
        parts += [f"{name}: {value}" for name, value in response.headers.items() if name.lower() != "set-cookie"]
    return "\n".join(parts)


@pytest.fixture
def uvicorn_logs_reach_caplog(monkeypatch):
    """An earlier uvicorn in this process may have configured its loggers (its default logging
    config stops them propagating, and a level can hide INFO): make every uvicorn record reach
    caplog's root handler for this test, whatever ran before."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)
        monkeypatch.setattr(logger, "level", logging.DEBUG)


@pytest.mark.parametrize("with_keys", [True, False], ids=["keys", "no-keys"])
def test_no_key_appears_in_logs_answers_or_metrics(service, tmp_path, caplog, with_keys, uvicorn_logs_reach_caplog):
    (admin, admin_entry), (judge, judge_entry) = new_key("admin", "ops"), new_key("judge", "jury")
    entries = f"{admin_entry},{judge_entry}" if with_keys else None
    settings = service.settings.model_copy(update={"state_dir": tmp_path, "api_keys": entries})
    server, thread, base = _serve(create_app(settings, service=service))
    secrets = [admin, judge, LEAKED]
    responses: list[httpx.Response] = []
    try:
        with caplog.at_level(logging.DEBUG), httpx.Client(base_url=base, timeout=60) as client:
            bearer = {"Authorization": f"Bearer {admin}"} if with_keys else {}
            for key in secrets:
                for method, path, body in (("GET", "/contests", None), ("POST", "/score", {"text": "保养周期看手册"}),
                                           ("GET", "/info", None), ("GET", "/nowhere", None),
                                           ("GET", "/members/nobody", None), ("GET", "/ui/contests/none", None),
                                           ("POST", "/contests", {"name": "x"})):
                    for headers in ({}, {"Authorization": f"Bearer {key}"}, {"Cookie": f"quality_key={key}"}):
                        responses.append(client.request(method, f"{path}?key={key}&api_key={key}&token={key}&x=1",
                                                        json=body, headers=headers))
                responses.append(client.get("/docs", params={"key": key}, follow_redirects=False))
                responses.append(client.get("/health", params={"access_token": key}))
            responses.append(client.get("/metrics", headers=bearer))
            assert responses[-1].status_code == 200
    finally:
        server.should_exit = True
        thread.join(15)
    written = _everything_written(responses, caplog)
    assert "uvicorn.access" in written  # the access log was captured
    assert "[redacted]" in written or "%5Bredacted%5D" in written
    for secret in secrets:
        assert secret not in written
        assert hash_key(secret) not in written  # nor the stored form


def test_a_handler_never_sees_a_key_in_the_address(service, tmp_path):
    """The route reads its query after the key was taken out: an echo of the address has none."""
    settings = service.settings.model_copy(update={"state_dir": tmp_path})
    app = create_app(settings, service=service)

    @app.get("/echo-address")
    def echo_address(request: Request) -> dict:
        return {"query": request.url.query, "params": dict(request.query_params)}

    with TestClient(app) as client:
        answer = client.get("/echo-address", params={"key": LEAKED, "api_key": LEAKED, "page": "2"}).json()
    assert LEAKED not in str(answer)
    assert answer["params"] == {"key": "[redacted]", "api_key": "[redacted]", "page": "2"}
