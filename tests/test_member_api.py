"""The member endpoints (CONTRACT.md "Members"): the stateless profile, storing activities
idempotently, stored profiles and the paged list, and their 4xx answers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import DISMISSIVE_REPLY, NEWCOMER_QUESTION, PATIENT_REPLY

POST_TEXT = "提车三个月，说下真实油耗：市区8.1L，高速6.2L。空调制冷快，后排空间一家三口够用。"


def vote(activity_id: str, day: int = 2) -> dict:
    return {"id": activity_id, "at": f"2026-11-{day:02d}T20:15:00+08:00", "kind": "vote"}


def reply(activity_id: str, text: str, day: int = 3) -> dict:
    return {"id": activity_id, "at": f"2026-11-{day:02d}T21:00:00+08:00", "kind": "reply",
            "post": {"kind": "reply", "text": text, "parent": {"text": NEWCOMER_QUESTION, "author_is_newcomer": True}},
            "other_member": "newcomer-1"}


@pytest.fixture(scope="module")
def client(service, tmp_path_factory):
    settings = service.settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("members")})
    with TestClient(create_app(settings, service=service)) as test_client:
        yield test_client


def test_a_profile_from_a_history_sent_whole(client):
    history = [vote("v1"), vote("v2", 5), reply("r1", PATIENT_REPLY), reply("r2", DISMISSIVE_REPLY, 6),
               {"id": "p1", "at": "2026-11-10T09:00:00+08:00", "kind": "post", "post": {"text": POST_TEXT}},
               {"id": "l1", "at": "2026-11-11T09:00:00+08:00", "kind": "like_received", "other_member": "m9"}]
    answer = client.post("/members/profile", json={"member_id": "m1", "as_of": "2026-11-30T00:00:00+08:00",
                                                   "activities": history})
    assert answer.status_code == 200, answer.text
    profile = answer.json()
    assert profile["member_id"] == "m1" and profile["as_of"].startswith("2026-11-30")
    assert set(profile["stages"]) == {"participation", "creation", "interaction", "initiative"}
    interaction = profile["stages"]["interaction"]
    assert interaction["figures"]["replies"] == 2
    assert {e["activity"] for e in interaction["evidence"]} <= {"r1", "r2"}
    assert profile["stages"]["creation"]["figures"]["posts"] == 1
    assert profile["stages"]["participation"]["figures"]["active_days_30"] == 5
    assert profile["tier"]["suggested"] == "basic" and profile["tier"]["label"] == "基础"
    assert profile["next_tier"]["tier"] == "advanced"
    assert all({"code", "label", "value", "required", "met"} <= set(r) for r in profile["next_tier"]["requirements"])
    assert profile["versions"]["rubric"]


def test_a_stored_score_is_used_instead_of_scoring_again(client, service, monkeypatch):
    scored = client.post("/score", json={"kind": "reply", "text": PATIENT_REPLY,
                                         "parent": {"text": NEWCOMER_QUESTION, "author_is_newcomer": True}}).json()
    calls = []
    original = service.score_prepared_each
    monkeypatch.setattr(service, "score_prepared_each", lambda prepared, **kw: calls.append(len(prepared)) or
                        original(prepared, **kw))
    with_score = dict(reply("r1", PATIENT_REPLY), score=scored)
    answer = client.post("/members/profile", json={"member_id": "m2", "activities": [with_score]})
    assert answer.status_code == 200, answer.text
    assert calls == []
    answer = client.post("/members/profile", json={"member_id": "m2", "activities": [reply("r1", PATIENT_REPLY)]})
    assert calls == [1]
    assert answer.json()["stages"]["interaction"]["figures"]["replies"] == 1


@pytest.mark.parametrize("body, status, field", [
    ({"member_id": "m", "activities": [{"id": "a", "at": "2026-11-02T20:15:00", "kind": "vote"}]}, 422,
     "activities[0].at"),
    ({"member_id": "m", "activities": [{"id": "a", "at": "2026-11-02T20:15:00+08:00", "kind": "purchase"}]}, 422,
     "activities[0].kind"),
    ({"member_id": "m", "activities": [vote("a"), vote("a", 3)]}, 422, "activities[1].id"),
    ({"member_id": "m", "activities": [vote(f"a{i}") for i in range(5001)]}, 413, "activities"),
    ({"member_id": "m", "current_tier": "platinum", "activities": []}, 422, "current_tier"),
])
def test_bad_histories_get_a_clear_4xx(client, body, status, field):
    answer = client.post("/members/profile", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_bad_post_inside_an_activity_is_named_by_its_path(client):
    bad = {"id": "p", "at": "2026-11-02T20:15:00+08:00", "kind": "post",
           "post": {"text": "看图", "images": [{"data": "bm90IGFuIGltYWdl"}]}}
    answer = client.post("/members/profile", json={"member_id": "m", "activities": [vote("v"), bad]})
    assert 400 <= answer.status_code < 500
    assert answer.json()["error"]["field"] == "activities[1].post.images[0].data"


def test_storing_activities_is_idempotent_by_id(client):
    batch = {"activities": [vote("v1"), vote("v2", 3), reply("r1", PATIENT_REPLY)]}
    first = client.post("/members/s1/activities", json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 3, "already_stored": 0}
    again = client.post("/members/s1/activities", json=batch)
    assert again.json() == {"stored": 0, "already_stored": 3}
    more = client.post("/members/s1/activities", json={"activities": [vote("v2", 3), vote("v3", 4)]})
    assert more.json() == {"stored": 1, "already_stored": 1}
    # The same id for another activity is refused, and what was stored stays as it was.
    reused = client.post("/members/s1/activities", json={"activities": [vote("v1", 9)]})
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "activity_id_reused"
    assert reused.json()["error"]["field"] == "activities[0].id"
    profile = client.get("/members/s1", params={"as_of": "2026-11-30T00:00:00+08:00"})
    assert profile.status_code == 200, profile.text
    figures = profile.json()["stages"]["participation"]["figures"]
    assert figures["interactions_100"] == 4 and figures["active_days_100"] == 3  # days 2, 3, 3, 4


def test_activities_of_one_member_do_not_collide_with_another_s(client):
    assert client.post("/members/s2/activities", json={"activities": [vote("shared-id")]}).json()["stored"] == 1
    assert client.post("/members/s3/activities", json={"activities": [vote("shared-id", 7)]}).json()["stored"] == 1


def test_an_unknown_member_is_404_and_a_naive_as_of_is_422(client):
    answer = client.get("/members/nobody")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    client.post("/members/s4/activities", json={"activities": [vote("v")]})
    assert client.get("/members/s4", params={"as_of": "2026-11-30T00:00:00"}).status_code == 422


@pytest.mark.parametrize("as_of", ["0.5", "1764460800", " 1e9 "])
def test_a_number_is_not_a_date_time(client, as_of):
    """Pydantic would read a number as seconds since 1970; the schema says RFC 3339 text (schemathesis)."""
    client.post("/members/dated/activities", json={"activities": [vote("v")]})
    answer = client.get("/members/dated", params={"as_of": as_of})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "as_of"
    body = {"member_id": "m", "as_of": 1764460800, "activities": [{**vote("w"), "at": 1764460800}]}
    assert client.post("/members/profile", json=body).status_code == 422


def test_the_member_list_pages_and_filters_by_tier(client):
    for i in range(5):
        assert client.post(f"/members/page-{i}/activities", json={"activities": [vote("v")]}).status_code == 200
    seen, cursor = [], None
    while True:
        params = {"tier": "basic", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/members", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["members"]) <= 2
        seen += [m["member_id"] for m in body["members"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [m for m in seen if m.startswith("page-")] == [f"page-{i}" for i in range(5)]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert client.get("/members", params={"tier": "core"}).json()["members"] == []
    assert client.get("/members", params={"limit": 0}).status_code == 422
    assert client.get("/members", params={"tier": "gold"}).status_code == 422


def test_a_stored_batch_over_the_limit_is_413(client):
    answer = client.post("/members/s5/activities", json={"activities": [vote(f"a{i}") for i in range(257)]})
    assert answer.status_code == 413
    assert client.get("/members/s5").status_code == 404  # nothing of it was stored


def test_an_operator_confirms_a_tier_and_the_ladder_looks_on_from_it(client):
    assert client.post("/members/c1/activities", json={"activities": [vote("v1")]}).status_code == 200
    before = client.get("/members/c1").json()["tier"]
    assert before["current"] == "basic"
    confirmed = client.post("/members/c1/tier", json={"tier": "leading"})
    assert confirmed.status_code == 200, confirmed.text
    tier = confirmed.json()["tier"]
    # Held leading now (no confirmation asked). The member's history has been far below leading's
    # requirements for longer than the grace period, so the ladder suggests one step down at once.
    assert tier["current"] == "leading" and not tier["needs_confirmation"]
    assert tier["suggested"] == "core" and tier["reason_codes"] == ["tier_demoted"]
    assert client.get("/members/c1").json()["tier"]["current"] == "leading"
    assert "c1" in [m["member_id"] for m in client.get("/members", params={"tier": "core"}).json()["members"]]
    audit = client.get("/audit").json()["entries"]
    assert audit[-1]["route"] == "/members/{member_id}/tier" and audit[-1]["detail"] == {"tier": "leading"}
    assert client.post("/members/nobody/tier", json={"tier": "core"}).status_code == 404
    assert client.post("/members/c1/tier", json={"tier": "platinum"}).status_code == 422


def test_a_post_on_any_activity_is_checked_as_score_checks_it(client):
    """Whether it will be scored or not (a counted kind, or its score given), a post an activity
    carries is what the schema says a post is (schemathesis found both accepted)."""
    empty = {**vote("e1"), "post": {"text": None}}
    answer = client.post("/members/checked/activities", json={"activities": [empty]})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "activities[0].post.text"
    parent_on_post = {**vote("e2"), "kind": "event_attended", "post": {"text": "周末聚会", "parent": {"text": "x"}}}
    answer = client.post("/members/profile", json={"member_id": "m", "activities": [parent_on_post]})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "parent_on_post"
    assert client.get("/members/checked").status_code == 404  # nothing of the refused batch was stored
