"""Contests over HTTP: entries scored against the theme and stored, repeats and content flagged,
judgements recorded and moving the suggested ranking; `quality rank` does the same without storage."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.cli import main as cli_main
from tests.conftest import encode_image, synthetic_photo

THEME = "我的第一次长途旅行"
TRIP = ("第一次开车去西藏，走川藏线，十天三千公里，路上高原反应很难受，但风景真的值得。"
        "建议大家带好氧气和备用轮胎，每天开车不超过六小时。")
COAST = "从上海自驾到厦门，第一次跑长途，服务区充电排队一小时，下次会提前规划好路线和充电站，沿海高速风景很好。"
SHORT = "今天洗车了，心情不错。"


@pytest.fixture(scope="module")
def client(service, tmp_path_factory):
    settings = service.settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("contests")})
    with TestClient(create_app(settings, service=service)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def contest(client, photo_b64, other_photo_b64):
    """A contest with five entries: two good trips with photos, a repost of the first trip's photo,
    a light rewrite of its text, and a one-liner."""
    contest = client.post("/contests", json={"name": "冬季自驾", "theme": THEME}).json()
    bodies = [{"id": "trip", "title": "川藏线十天", "text": TRIP, "images": [{"data": photo_b64}]},
              {"id": "coast", "title": "上海到厦门", "text": COAST, "images": [{"data": other_photo_b64}]},
              {"id": "repost", "text": "看看我的车", "images": [{"data": photo_b64}]},
              {"id": "rewrite", "text": TRIP.replace("真的值得", "真的很值得").replace("。建议", "！建议")},
              {"id": "short", "text": SHORT}]
    entries = {}
    for body in bodies:
        response = client.post(f"/contests/{contest['id']}/entries", json=body)
        assert response.status_code == 201, response.text
        entries[body["id"]] = response.json()
    return contest, entries


def ranking(client, contest_id):
    response = client.get(f"/contests/{contest_id}/ranking")
    assert response.status_code == 200
    return response.json()


def test_contest_is_created_read_and_validated(client):
    created = client.post("/contests", json={"name": "夜景", "theme": "爱车与我的城市夜景", "description": "十二月"})
    assert created.status_code == 201
    contest = created.json()
    assert client.get(f"/contests/{contest['id']}").json() == contest
    assert contest["id"] in {c["id"] for c in client.get("/contests").json()}
    assert client.post("/contests", json={"name": "x", "theme": ""}).json()["error"]["field"] == "theme"
    assert client.post("/contests", json={"name": "x", "theme": "t", "extra": 1}).status_code == 422
    missing = client.get("/contests/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.post("/contests/nope/entries", json={"text": TRIP}).status_code == 404


def test_entries_are_scored_against_the_theme_and_stored_with_thumbnails(client, contest):
    contest, entries = contest
    trip = entries["trip"]
    assert trip["client_id"] == "trip" and trip["contest_id"] == contest["id"]
    assert trip["result"]["dimensions"]["theme_relevance"] is not None  # the contest's theme was applied
    assert trip["model_version"] == trip["result"]["versions"]["models"]
    [image] = trip["images"]
    thumbnail = client.get(image["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(thumbnail.content))
    assert max(picture.size) <= 320 and picture.size[0] / picture.size[1] == pytest.approx(
        image["width"] / image["height"], rel=0.02)
    assert client.get(image["thumbnail_url"].replace("/images/0/", "/images/5/")).status_code == 404
    assert client.get(f"/contests/{contest['id']}/entries/{trip['id']}").json() == trip
    listed = client.get(f"/contests/{contest['id']}/entries").json()
    assert [e["client_id"] for e in listed] == ["trip", "coast", "repost", "rewrite", "short"]
    assert client.get(f"/contests/{contest['id']}").json()["entries"] == 5
    # the post is checked as sent: a theme past the text limit is 413 though the contest's replaces it
    too_long = client.post(f"/contests/{contest['id']}/entries", json={"text": "自驾", "theme": "题" * 20_001})
    assert too_long.status_code == 413 and too_long.json()["error"]["field"] == "theme"
    assert client.get(f"/contests/{contest['id']}").json()["entries"] == 5


def test_repeated_photos_and_texts_are_flagged_against_earlier_entries(contest):
    _, entries = contest
    first = entries["trip"]["id"]
    assert "duplicate_image" in entries["repost"]["flags"] and entries["repost"]["duplicate_of"] == [first]
    assert "near_duplicate_text" in entries["rewrite"]["flags"] and entries["rewrite"]["duplicate_of"] == [first]
    for name in ("trip", "coast", "short"):
        assert not {"duplicate_image", "near_duplicate_text", "duplicate_text"} & set(entries[name]["flags"]), name
        assert entries[name]["duplicate_of"] == []


def test_exact_text_repeat_off_theme_and_uncivil_entries_are_flagged(client, contest):
    contest_id = client.post("/contests", json={"name": "flags", "theme": THEME}).json()["id"]
    client.post(f"/contests/{contest_id}/entries", json={"text": COAST})
    again = client.post(f"/contests/{contest_id}/entries", json={"text": COAST + " "}).json()
    assert "duplicate_text" in again["flags"]
    off = client.post(f"/contests/{contest_id}/entries", json={"text": "机油用0W20还是5W30好？大家平时都怎么选的，求推荐。"})
    assert "off_theme" in off.json()["flags"]
    rude = client.post(f"/contests/{contest_id}/entries", json={"text": "你是不是傻逼，这种路线也敢发出来"}).json()
    assert "needs_review" in rude["flags"]


def test_ranking_follows_model_scores_before_any_judgement(client, contest):
    contest, entries = contest
    shown = ranking(client, contest["id"])
    assert [e["rank"] for e in shown["entries"]] == list(range(1, 6))
    model_order = sorted(entries.values(), key=lambda e: -e["result"]["audition"]["score"])
    assert [e["entry"] for e in shown["entries"]] == [e["id"] for e in model_order]
    for item in shown["entries"]:
        low, high = item["interval"]
        assert low <= item["score"] <= high and high > low
        assert 0 <= item["p_top_k"] <= 1 and item["dimensions"]["clarity"] is not None
    assert sum(e["p_top_k"] for e in shown["entries"]) == pytest.approx(shown["k"], abs=0.05)
    pair = shown["next_pair"]
    assert pair["a"] != pair["b"] and {pair["a"], pair["b"]} <= set(e["id"] for e in entries.values())
    by_id = {e["entry"]: e for e in shown["entries"]}
    assert "duplicate_image" in by_id[entries["repost"]["id"]]["flags"]
    assert by_id[entries["trip"]["id"]]["thumbnails"] == [entries["trip"]["images"][0]["thumbnail_url"]]


def test_judges_preferences_move_the_ranking_and_are_recorded(client, contest):
    contest, entries = contest
    before = {e["entry"]: e for e in ranking(client, contest["id"])["entries"]}
    low, high = sorted([entries["trip"]["id"], entries["coast"]["id"]], key=lambda i: before[i]["rank"])[::-1]
    for judge in ("王", "李", "张", "赵", "刘"):
        answer = client.post(f"/contests/{contest['id']}/judgements",
                             json={"judge": judge, "winner": low, "loser": high})
        assert answer.status_code == 201
    recorded = answer.json()
    assert recorded["judgement"]["winner"] == low and recorded["pairs"] >= 5 and recorded["judges"] >= 5
    after = {e["entry"]: e for e in ranking(client, contest["id"])["entries"]}
    assert after[low]["rank"] < after[high]["rank"]
    assert after[low]["score"] > before[low]["score"] and after[low]["comparisons"] >= 5
    scored = client.post(f"/contests/{contest['id']}/judgements",
                         json={"judge": "王", "entry": entries["short"]["id"], "score": 12})
    assert scored.status_code == 201 and scored.json()["judgement"]["kind"] == "score"
    kinds = [j["kind"] for j in client.get(f"/contests/{contest['id']}/judgements").json()]
    assert kinds.count("pair") >= 5 and kinds.count("score") == 1


def test_bad_judgements_are_4xx_naming_the_field(client, contest):
    contest, entries = contest
    url = f"/contests/{contest['id']}/judgements"
    trip = entries["trip"]["id"]
    same = client.post(url, json={"judge": "王", "winner": trip, "loser": trip})
    assert same.status_code == 422 and same.json()["error"]["field"] == "loser"
    unknown = client.post(url, json={"judge": "王", "winner": trip, "loser": "nope"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "loser"
    out_of_range = client.post(url, json={"judge": "王", "entry": trip, "score": 101})
    assert out_of_range.status_code == 422 and out_of_range.json()["error"]["field"] == "score"
    assert client.post(url, json={"judge": "", "winner": trip, "loser": entries["coast"]["id"]}).status_code == 422
    other = client.post("/contests", json={"name": "other", "theme": THEME}).json()["id"]
    elsewhere = client.post(f"/contests/{other}/judgements",
                            json={"judge": "王", "winner": trip, "loser": entries["coast"]["id"]})
    assert elsewhere.status_code == 422
    assert client.post("/contests/nope/judgements", json={"judge": "王", "entry": trip, "score": 5}).status_code == 404


def test_a_retried_vote_with_an_idempotency_key_counts_once(client, contest):
    contest, entries = contest
    url = f"/contests/{contest['id']}/judgements"
    vote = {"judge": "重试评委", "winner": entries["coast"]["id"], "loser": entries["short"]["id"]}
    before = len(client.get(url).json())
    first = client.post(url, json=vote, headers={"Idempotency-Key": "0b6e2c1e-vote-1"})
    again = client.post(url, json=vote, headers={"Idempotency-Key": "0b6e2c1e-vote-1"})
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["judgement"] == first.json()["judgement"]
    assert len(client.get(url).json()) == before + 1
    reused = client.post(url, json={**vote, "judge": "另一位"}, headers={"Idempotency-Key": "0b6e2c1e-vote-1"})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    for bad in (b"has space", b"x" * 129, "钥匙".encode("utf-8")):  # raw bytes: UTF-8 is not a header's ASCII
        response = client.post(url, json=vote, headers={"Idempotency-Key": bad})
        assert response.status_code == 422 and response.json()["error"]["field"] == "Idempotency-Key", response.text
    assert len(client.get(url).json()) == before + 1


def test_a_retried_contest_or_entry_with_an_idempotency_key_is_stored_once(client, service, monkeypatch):
    body = {"name": "重试之旅", "theme": "我的第一次长途旅行"}
    first = client.post("/contests", json=body, headers={"Idempotency-Key": "contest-retry-1"})
    again = client.post("/contests", json=body, headers={"Idempotency-Key": "contest-retry-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [c["id"] for c in client.get("/contests").json()].count(first.json()["id"]) == 1
    reused = client.post("/contests", json={**body, "name": "另一个"}, headers={"Idempotency-Key": "contest-retry-1"})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"

    contest_id = first.json()["id"]
    post = {"id": "trip-9", "title": "第一次自驾去青岛", "text": "从北京开到青岛，700公里，高速油耗6.2L。"}
    url = f"/contests/{contest_id}/entries"
    stored = client.post(url, json=post, headers={"Idempotency-Key": "entry-retry-1"})
    assert stored.status_code == 201, stored.text
    scored = []
    original = service.score_with_inputs
    monkeypatch.setattr(service, "score_with_inputs", lambda p: scored.append(p) or original(p))
    replay = client.post(url, json=post, headers={"Idempotency-Key": "entry-retry-1"})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == stored.json()  # the entry stored first, flags and all
    assert scored == []  # nothing scored again
    entries = client.get(url).json()
    assert [e["id"] for e in entries] == [stored.json()["id"]]
    assert "duplicate_text" not in entries[0]["flags"]
    other = client.post(url, json={**post, "text": "另一篇"}, headers={"Idempotency-Key": "entry-retry-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # The same key in another contest is another request.
    elsewhere = client.post("/contests", json={"name": "别处", "theme": "夜景"}).json()["id"]
    assert client.post(f"/contests/{elsewhere}/entries", json=post,
                       headers={"Idempotency-Key": "entry-retry-1"}).headers.get("idempotent-replayed") is None


def test_quality_rank_ranks_a_file_without_storage(tmp_path, capsys, photo_b64, monkeypatch):
    posts = tmp_path / "entries.jsonl"
    rows = [{"id": "trip", "title": "川藏线十天", "text": TRIP, "images": [{"data": photo_b64}]},
            {"id": "short", "text": SHORT},
            {"id": "coast", "text": COAST},
            {"id": "broken", "images": [{"data": "not base64!"}]},
            {"id": "copy", "text": COAST}]
    posts.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    judgements = tmp_path / "judgements.jsonl"
    judgements.write_text("\n".join(json.dumps({"judge": j, "winner": "short", "loser": "trip"})
                                    for j in "ABCDEFGHIJKLMNOP") + "\n", encoding="utf-8")
    out = tmp_path / "ranking.jsonl"
    assert cli_main(["rank", str(posts), "--theme", THEME, "-o", str(out)]) == 0
    ranked = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]
    assert ranked[-1]["entry"] == "short" and ranked[0]["entry"] in {"trip", "coast"}
    assert "duplicate_text" in next(r for r in ranked if r["entry"] == "copy")["flags"]
    assert "entry broken not ranked" in capsys.readouterr().err
    assert cli_main(["rank", str(posts), "--theme", THEME, "-o", str(out), "--judgements", str(judgements)]) == 0
    moved = [json.loads(line)["entry"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert moved.index("short") < moved.index("trip")
    assert cli_main(["rank", str(posts), "--theme", THEME, "--fail-on-error", "-o", str(out)]) == 1
    # A judgement about the post that could not be scored is left out with it; a name no post has is an error.
    judgements.write_text(json.dumps({"judge": "A", "winner": "broken", "loser": "short"}) + "\n"
                          + json.dumps({"judge": "B", "entry": "broken", "score": 90}) + "\n", encoding="utf-8")
    assert cli_main(["rank", str(posts), "--theme", THEME, "-o", str(out), "--judgements", str(judgements)]) == 0
    assert [json.loads(line)["entry"] for line in out.read_text(encoding="utf-8").splitlines()][-1] == "short"
    judgements.write_text(json.dumps({"judge": "A", "winner": "short", "loser": "nobody"}) + "\n", encoding="utf-8")
    assert cli_main(["rank", str(posts), "--theme", THEME, "-o", str(out), "--judgements", str(judgements)]) == 2
    assert "nobody" in capsys.readouterr().err


def test_thumbnail_keeps_the_aspect_and_is_small():
    from quality.contests.thumbnails import thumbnail_jpeg
    from quality.image import decode_image

    data = encode_image(synthetic_photo(1600, 900, seed=3), "JPEG")
    decoded = decode_image(data, max_bytes=10_000_000, max_pixels=40_000_000)
    picture = Image.open(io.BytesIO(thumbnail_jpeg(decoded)))
    assert picture.size == (320, 180)


def test_the_service_keeps_only_each_contest_s_last_ranking(service, tmp_path):
    from quality.contests.schemas import ContestCreate, PairJudgement
    from quality.contests.service import ContestService
    from quality.contests.store import ContestStore
    from quality.schemas import Post

    contests = ContestService(service, ContestStore.from_url(f"sqlite:///{tmp_path / 'c.db'}"))
    try:
        first, second = (contests.create_contest(ContestCreate(name=n, theme=THEME))[0] for n in ("一", "二"))
        ids = [contests.add_entry(first.id, Post(text=text))[0].id for text in (TRIP, COAST, SHORT)]
        contests.add_entry(second.id, Post(text=COAST))
        ranked = contests.ranking(first.id)
        assert contests.ranking(first.id) is ranked  # nothing new: the kept ranking
        for judge in ("王", "李", "张"):  # each vote makes the ranking before it stale
            contests.add_judgement(first.id, PairJudgement(judge=judge, winner=ids[2], loser=ids[0]))
            latest = contests.ranking(first.id)
            assert latest is not ranked and latest.pairs == ("王", "李", "张").index(judge) + 1
        contests.ranking(second.id)
        assert list(contests._rankings) == [first.id, second.id]  # one per contest, however many votes
        assert list(contests._entries) == [first.id, second.id]
        assert len(contests._entries[first.id][1]) == 3
        contests.add_entry(first.id, Post(text=TRIP + "再来一次。"))
        assert len(contests.ranking(first.id).entries) == 4  # a new entry is read, not the kept list
    finally:
        contests.close()
