"""The audit trail (issue 21): every acknowledged write -- contest, entry, judgement, member
activities -- is recorded with its time, the key's name, the route, the target and the
Idempotency-Key; refused writes are not; `GET /audit` is admin-only; `quality audit` reads it.
Its survival of a SIGKILL is in tests/test_contest_durability.py."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import new_key
from api.cli import main as quality


@pytest.fixture
def served(service, tmp_path):
    keys = {scope: new_key(scope, f"{scope}-team") for scope in ("judge", "score", "admin")}
    settings = service.settings.model_copy(update={
        "state_dir": tmp_path, "api_keys": ",".join(entry for _, entry in keys.values())})
    with TestClient(create_app(settings, service=service)) as client:
        yield client, {scope: {"Authorization": f"Bearer {key}"} for scope, (key, _) in keys.items()}, keys, tmp_path


def test_every_acknowledged_write_is_recorded_with_its_key_name_and_nothing_else(served):
    client, headers, keys, _ = served
    judge = headers["judge"]
    contest = client.post("/contests", json={"name": "冬季自驾", "theme": "长途"},
                          headers={**judge, "Idempotency-Key": "c-1"}).json()["id"]
    again = client.post("/contests", json={"name": "冬季自驾", "theme": "长途"}, headers={**judge, "Idempotency-Key": "c-1"})
    assert again.headers["idempotent-replayed"] == "true"
    a = client.post(f"/contests/{contest}/entries", json={"text": "从北京开到青岛，高速油耗6.2L。"}, headers=judge).json()["id"]
    b = client.post(f"/contests/{contest}/entries", json={"text": "夜里拍的车，光轨很稳。"}, headers=judge).json()["id"]
    vote = client.post(f"/contests/{contest}/judgements", json={"judge": "王", "winner": a, "loser": b},
                       headers={**judge, "Idempotency-Key": "v-1"}).json()["judgement"]["id"]
    assert client.post(f"/contests/{contest}/judgements", json={"judge": "王", "winner": a, "loser": a},
                       headers=judge).status_code == 422  # refused: not recorded
    stored = client.post("/members/m-7/activities", headers=headers["score"],
                         json={"activities": [{"id": "v1", "at": "2026-11-02T20:15:00+08:00", "kind": "vote"}]})
    assert stored.status_code == 200

    assert client.get("/audit", headers=judge).status_code == 403  # admin only
    page = client.get("/audit", headers=headers["admin"]).json()
    rows = [(e["key_name"], e["method"], e["route"], e["target"], e["idempotency_key"], e["detail"])
            for e in page["entries"]]
    assert rows == [
        ("judge-team", "POST", "/contests", contest, "c-1", None),
        ("judge-team", "POST", "/contests", contest, "c-1", {"replayed": True}),
        ("judge-team", "POST", "/contests/{contest_id}/entries", a, None, {"contest": contest}),
        ("judge-team", "POST", "/contests/{contest_id}/entries", b, None, {"contest": contest}),
        ("judge-team", "POST", "/contests/{contest_id}/judgements", vote, "v-1", {"contest": contest}),
        ("score-team", "POST", "/members/{member_id}/activities", "m-7", None, {"stored": 1, "already_stored": 0}),
    ]
    assert page["next_after"] is None
    ids = [e["id"] for e in page["entries"]]
    assert ids == sorted(ids)
    assert all(key not in json.dumps(page) for key, _ in keys.values())
    # Paged by id.
    first = client.get("/audit", params={"limit": 2}, headers=headers["admin"]).json()
    assert len(first["entries"]) == 2 and first["next_after"] == ids[1]
    rest = client.get("/audit", params={"after": first["next_after"], "limit": 100}, headers=headers["admin"]).json()
    assert [e["id"] for e in rest["entries"]] == ids[2:]
    assert client.get("/audit", params={"limit": 0}, headers=headers["admin"]).status_code == 422


def test_quality_audit_prints_the_trail(served, monkeypatch, capsys):
    client, headers, _, state = served
    client.post("/contests", json={"name": "春季", "theme": "花"}, headers=headers["judge"])
    client.post("/contests", json={"name": "夏季", "theme": "海"}, headers=headers["judge"])
    monkeypatch.setenv("QUALITY_STATE_DIR", str(state))
    monkeypatch.delenv("QUALITY_DATABASE_URL", raising=False)
    assert quality(["audit"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["route"] for line in lines] == ["/contests", "/contests"]
    assert quality(["audit", "--after", str(lines[0]["id"])]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [lines[1]["id"]]
