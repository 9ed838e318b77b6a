"""The member page `GET /ui/members/{id}`: served by a real uvicorn server on 127.0.0.1 with API keys set,
and opened in headless Chromium (Debian's `chromium`, driven by the `playwright` package; never a browser
download) the way an operator opens it: `?key=` once, then the cookie.

The page is checked against the JSON API it reads (`GET /members/{id}`): the four stages with their scores,
figures and evidence, the suggested tier with its reasons, the next tier's requirements met or not (an
upper bound read as one), anchors an operator can link to, and text from the public staying text.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from api.app import create_app
from api.auth import COOKIE, hash_key, new_key
from api.ui_routes import render_member_page
from tests.browser import WatchedPage, launched_chromium, served
from tests.conftest import DISMISSIVE_REPLY, NEWCOMER_QUESTION, PATIENT_REPLY

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MEMBER = "m-page"
HOSTILE_ID = "<img src=x onerror=alert(1)>"
HOSTILE_MEMBER = 'x"><img src=x onerror=alert(2)>'
AS_OF = "2026-11-30T00:00:00+08:00"
STAGES = {"participation": "参与", "creation": "创作", "interaction": "互动", "initiative": "主动"}
TIERS = {"basic": "基础", "advanced": "进阶", "core": "核心", "leading": "引领"}
FLAGS = {"needs_review": "有回复待人工复核", "often_uncivil": "不文明回复偏多", "likes_from_few_members": "获赞集中于少数会员"}
GUIDE = ("十分钟自己换空调滤芯：第一步，打开副驾手套箱，把里面东西清空；第二步，捏住手套箱两侧的限位卡子往里压，"
         "整个盒子就能放下来；第三步，抽出盖板，旧滤芯就在里面；第四步，新滤芯注意箭头方向朝下，推进去，装回盖板和手套箱。"
         "滤芯网上三四十块，带活性炭的贵一点，建议一年或两万公里换一次。")
FUEL = "提车三个月，说下真实油耗：市区8.1L，高速6.2L。空调制冷快，后排空间一家三口够用。"
PRAISE = "楼主这篇写得太用心了，图和数据都很清楚，收藏了，感谢分享！"


def at(day: int, hour: int = 20) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:15:00+08:00"


def reply(activity_id: str, text: str, day: int, parent: str = NEWCOMER_QUESTION, newcomer: bool = True) -> dict:
    return {"id": activity_id, "at": at(day, 21), "kind": "reply", "other_member": "m-new",
            "post": {"kind": "reply", "text": text, "parent": {"text": parent, "author_is_newcomer": newcomer}}}


def history() -> list[dict]:
    """A small month with something in every stage: votes and a meetup, a guide and a post, a patient,
    a dismissive (its id hostile) and a praising reply, likes from two members."""
    return [
        {"id": "v1", "at": at(2), "kind": "vote"}, {"id": "v2", "at": at(5), "kind": "vote"},
        {"id": "v3", "at": at(8), "kind": "vote"},
        {"id": "e1", "at": at(9), "kind": "event_attended"},
        {"id": "p-guide", "at": at(10), "kind": "post",
         "post": {"kind": "post", "title": "十分钟自己换空调滤芯", "text": GUIDE}},
        {"id": "p-fuel", "at": at(12), "kind": "post", "post": {"kind": "post", "title": "三个月真实油耗", "text": FUEL}},
        reply("r-help", PATIENT_REPLY, 13),
        reply(HOSTILE_ID, DISMISSIVE_REPLY, 14),
        reply("r-praise", PRAISE, 15, parent=FUEL, newcomer=False),
        {"id": "l1", "at": at(16), "kind": "like_received", "other_member": "m7"},
        {"id": "l2", "at": at(17), "kind": "like_received", "other_member": "m8"},
        {"id": "g1", "at": at(18), "kind": "like_given", "other_member": "m8"},
    ]


def js_number(value) -> str:
    """A figure as the page writes it: two decimals at most, no trailing zeros, '—' for none."""
    if value is None:
        return "—"
    rounded = math.floor(value * 100 + 0.5) / 100
    return str(int(rounded)) if rounded == int(rounded) else repr(rounded)


def percent(value: float) -> str:
    """A confidence as the page writes it: a percentage with one decimal at most."""
    shown = math.floor(value * 1000 + 0.5) / 10
    return (str(int(shown)) if shown == int(shown) else repr(shown)) + "%"


# -- the server ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {scope: new_key(scope, name=f"page-{scope}")[0] for scope in ("score", "judge")}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def server(service, keys, tmp_path_factory):
    """A real uvicorn server on a free port of 127.0.0.1, with API keys set, over the session's models; its
    database lives in a temporary state folder. The client sends the judge key."""
    entries = ",".join(f"sha256:{hash_key(key)}:{scope}:page-{scope}" for scope, key in keys.items())
    settings = service.settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("member-page"),
                                                   "api_keys": entries})
    yield from served(create_app(settings, service=service), "member-page", bearer(keys["judge"]))


def member_path(member_id: str) -> str:
    return quote(member_id, safe="")


@pytest.fixture(scope="module")
def members(server, keys) -> dict[str, dict]:
    """Two stored members (activities sent with the score key, as a pipeline does), and their profiles as
    the API gives them as of AS_OF."""
    stored = {MEMBER: history(),
              HOSTILE_MEMBER: [{"id": "v1", "at": at(3), "kind": "vote"},
                               {"id": HOSTILE_ID, "at": at(4), "kind": "event_attended"}]}
    profiles = {}
    for member_id, activities in stored.items():
        answer = server.post(f"/members/{member_path(member_id)}/activities", headers=bearer(keys["score"]),
                             json={"activities": activities})
        assert answer.status_code == 200, answer.text
        profile = server.get(f"/members/{member_path(member_id)}", params={"as_of": AS_OF})
        assert profile.status_code == 200, profile.text
        profiles[member_id] = profile.json()
    return profiles


def page_url(member_id: str, **query: str) -> str:
    pairs = "&".join(f"{name}={quote(value, safe='')}" for name, value in query.items())
    return f"/ui/members/{member_path(member_id)}" + (f"?{pairs}" if pairs else "")


# -- without a browser ---------------------------------------------------------------------------------
def test_a_member_with_nothing_stored_is_404_with_the_error_body(server):
    answer = server.get(page_url("nobody"))
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert (error["code"], error["field"], set(answer.json())) == ("not_found", "member_id", {"error"})
    assert "nobody" in error["message"]
    assert server.get("/members/nobody").json() == answer.json()  # the same answer as the JSON API's


def test_a_bad_as_of_is_422_with_the_error_body(server, members):
    answer = server.get(page_url(MEMBER, as_of="2026-11-30T00:00:00"))  # no UTC offset
    assert answer.status_code == 422
    assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == ("invalid_input", "as_of")


def test_the_page_needs_a_judge_key(server, keys, members):
    with httpx.Client(base_url=server.base_url) as stranger:
        assert stranger.get(page_url(MEMBER)).status_code == 401
        assert stranger.get(page_url(MEMBER), headers=bearer(keys["score"])).status_code == 403
        assert stranger.get(page_url(MEMBER, key=keys["score"])).status_code == 403


def test_page_is_html_with_a_strict_policy_and_a_fresh_nonce(server, members):
    first, second = (server.get(page_url(MEMBER, as_of=AS_OF)) for _ in range(2))
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "no-referrer"
    assert first.headers["cache-control"] == "no-store"
    policy = first.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{20,})'", directives["script-src"]).group(1)
    assert directives["default-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["style-src"] == f"'nonce-{nonce}'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    fixed = policy.replace(nonce, "")  # the random nonce could spell anything
    assert "unsafe" not in fixed and "http" not in fixed and "*" not in fixed
    page = first.text
    assert page.count(f'nonce="{nonce}"') == 2  # the one <style> and the one <script>
    assert len(re.findall(r"<script\b", page)) == 1 and len(re.findall(r"<style\b", page)) == 1
    assert f'data-member="{MEMBER}"' in page and 'lang="zh-CN"' in page
    assert f'data-as-of="{AS_OF}"' in page  # passed on to GET /members/{id}
    assert 'data-at-most="[&quot;civility&quot;]"' in page  # the ladder's upper bounds, from the rubric
    assert not re.search(r"\son[a-z]+=|style=|<link[^>]+http|src=\"http", page)  # no handlers, no outside assets
    assert "__" not in page.replace(nonce, "")  # every placeholder filled (the random nonce may hold "__")
    assert second.headers["content-security-policy"] != policy  # a new nonce each time


def test_the_member_id_and_as_of_are_escaped_into_the_page():
    page = render_member_page('x"><script>alert(1)</script>', "n0nce", ["civility"], '"><b>')
    assert 'data-member="x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert 'data-as-of="&quot;&gt;&lt;b&gt;"' in page
    assert "__NONCE__" not in page and "__MEMBER_ID__" not in page and "__AT_MOST__" not in page
    assert "<script>alert(1)" not in page


# -- in Chromium ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium("the member page")


class Watched(WatchedPage):
    """The member page, opened with a key as an operator does."""

    def __init__(self, browser, base: str, key: str):
        super().__init__(browser, base)
        self.key = key

    def open(self, member_id: str, **query: str):
        """Opened as an operator does: the key once in the address, then the cookie."""
        response = self.page.goto(self.base + page_url(member_id, key=self.key, **query))
        self.page.wait_for_selector("body[data-state=ready]", timeout=15_000)
        return response


@pytest.fixture
def watched(browser, server, keys):
    window = Watched(browser, str(server.base_url).rstrip("/"), keys["judge"])
    yield window
    window.close()


def stage_rows(page) -> list[dict]:
    return page.eval_on_selector_all("#stages .stage", """cards => cards.map(card => ({
        stage: card.dataset.stage, score: Number(card.dataset.score), label: card.querySelector('h3').textContent,
        shown: card.querySelector('[data-role=score]').firstChild.textContent,
        width: card.querySelector(':scope > .track .fill').style.width,
        figures: Object.fromEntries([...card.querySelectorAll('dd[data-figure]')]
                                    .map(dd => [dd.dataset.figure, dd.textContent])),
        evidence: [...card.querySelectorAll('ol.evidence > li')].map(li => li.dataset.activity),
    }))""")


def test_the_member_page_in_chromium(watched, server, members):
    page = watched.page
    profile = members[MEMBER]
    response = watched.open(MEMBER, as_of=AS_OF)

    # The key went once: a 303 set the cookie and dropped it from the address; the page and its API call
    # then went by cookie, with as_of passed on.
    assert response.status == 200 and response.request.redirected_from is not None
    assert response.request.redirected_from.response().status == 303
    assert "key=" not in page.url and urlsplit(page.url).query == f"as_of={quote(AS_OF, safe='')}"
    assert any(cookie["name"] == COOKIE and cookie["httpOnly"] for cookie in watched.context.cookies())
    api_calls = [url for url in watched.requests if urlsplit(url).path == f"/members/{MEMBER}"]
    assert api_calls and all(urlsplit(url).query == f"as_of={quote(AS_OF, safe='')}" for url in api_calls)
    assert page.locator("#member-id").text_content() == MEMBER
    assert page.locator("#as-of").text_content() == "截至 " + profile["as_of"]

    # The four stages, in order, with the API's scores (as a bar and out of 100), figures and evidence.
    rows = stage_rows(page)
    assert [(row["stage"], row["label"]) for row in rows] == list(STAGES.items())
    for row in rows:
        stage = profile["stages"][row["stage"]]
        assert row["score"] == pytest.approx(stage["score"])
        assert row["shown"] == str(math.floor(stage["score"] * 100 + 0.5))
        assert float(row["width"].rstrip("%")) == pytest.approx(stage["score"] * 100, abs=0.06)
        assert row["figures"] == {name: js_number(value) for name, value in stage["figures"].items()}
        assert row["evidence"] == [item["activity"] for item in stage["evidence"]]
        assert row["evidence"], f"the test history names no evidence for {row['stage']}"
    creation = page.locator('.stage[data-stage="creation"]')
    assert creation.locator("dt").first.text_content() == "原创帖子数"
    assert creation.locator('dd[data-figure="posts"]').text_content() == "2"

    # Evidence: `活动 <id>`, its reason, kind and confidence; one anchor per activity, every link resolving.
    initiative = page.locator('.stage[data-stage="initiative"] ol.evidence > li').first
    guide = profile["stages"]["initiative"]["evidence"][0]
    assert guide["activity"] == "p-guide" and guide["kind"] == "guide"
    assert initiative.text_content() == f"活动 p-guide：{guide['why']}（指南攻略，置信度 {percent(guide['confidence'])}）"
    ids = {item["activity"] for stage in profile["stages"].values() for item in stage["evidence"]}
    anchors = page.eval_on_selector_all("ol.evidence > li[id]", "items => items.map(li => li.id)")
    assert sorted(anchors) == sorted(f"activity-{i}" for i in ids)  # once each, though p-guide is named twice
    unresolved = page.evaluate("""() => [...document.querySelectorAll('ol.evidence a')].filter(a =>
        !document.getElementById(decodeURIComponent(a.hash.slice(1)))).map(a => a.href)""")
    assert unresolved == []
    initiative.locator("a").click()  # the initiative stage's mention goes to the creation stage's anchor
    assert page.evaluate("document.querySelector(':target').dataset.activity") == "p-guide"
    assert page.evaluate("document.querySelector(':target').closest('.stage').dataset.stage") == "creation"

    # The suggested tier with its Chinese label and reasons; no confirmation needed below leading.
    tier = profile["tier"]
    assert tier["label"] == TIERS[tier["suggested"]] and tier["suggested"] != "leading"
    assert page.locator("#tier-label").text_content() == tier["label"]
    assert page.locator("#tier-current").text_content() == "当前持有：" + TIERS[tier["current"]]
    assert page.locator("#tier-reasons li").all_text_contents() == tier["reasons"] != []
    assert not page.locator("#tier-confirm").is_visible()
    assert "often_uncivil" in profile["flags"]  # one dismissive reply of three
    assert page.locator("#flags [data-flag]").all_text_contents() == [FLAGS[flag] for flag in profile["flags"]]

    # The next tier's requirements, met or not as the API says; the civility share is an upper bound.
    next_tier = profile["next_tier"]
    assert next_tier["tier"] is not None
    assert page.locator("#next-tier-title").text_content() == f"下一等级“{TIERS[next_tier['tier']]}”的要求"
    shown = page.eval_on_selector_all("#requirements > li", """items => items.map(li => ({
        code: li.dataset.code, met: li.dataset.met, bound: li.dataset.bound, text: li.textContent,
        width: li.querySelector('.fill') ? li.querySelector('.fill').style.width : null }))""")
    assert [row["code"] for row in shown] == [r["code"] for r in next_tier["requirements"]]
    for row, requirement in zip(shown, next_tier["requirements"]):
        assert row["met"] == str(requirement["met"]).lower(), row
        assert row["text"].endswith("已达到" if requirement["met"] else "未达到"), row
        if requirement["code"] == "civility":
            assert row["bound"] == "at-most" and row["width"] is None  # no progress bar for a limit
            assert f"{js_number(requirement['value'])}（要求 ≤ {js_number(requirement['required'])}）" in row["text"]
        else:
            assert row["bound"] == "at-least"
            assert f"{js_number(requirement['value'])}（要求 ≥ {js_number(requirement['required'])}）" in row["text"]
            progress = min(requirement["value"] / requirement["required"], 1.0)
            assert float(row["width"].rstrip("%")) == pytest.approx(progress * 100, abs=0.06), row
    met = {r["code"]: r["met"] for r in next_tier["requirements"]}
    assert "civility" in met and {True, False} <= set(met.values())  # a limit, and both outcomes, were shown

    # Chinese throughout: with ids, versions and the member's own words taken out, no English word is left.
    visible = page.evaluate("""() => { const copy = document.body.cloneNode(true);
        copy.querySelectorAll('script, style, .mono, #versions').forEach(node => node.remove());
        return copy.textContent; }""")
    assert re.findall(r"[A-Za-z]{3,}", visible) == []

    # Nothing left the machine; no script error, nothing blocked by the page's own policy; no alert.
    assert watched.requests and all(url.startswith((watched.base + "/", "data:")) for url in watched.requests), \
        watched.requests
    assert watched.errors == [] and watched.dialogs == []
    page.evaluate("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "member_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def test_text_from_the_public_stays_text(watched, members):
    page = watched.page
    # A hostile activity id in a member's evidence: text, with an anchor that works.
    watched.open(MEMBER, as_of=AS_OF)
    hostile = page.locator('.stage[data-stage="interaction"] ol.evidence > li').first
    assert hostile.get_attribute("data-activity") == HOSTILE_ID
    assert hostile.get_attribute("id") == f"activity-{HOSTILE_ID}"
    assert hostile.locator("a").text_content() == f"活动 {HOSTILE_ID}"
    hostile.locator("a").click()
    assert page.evaluate("document.querySelector(':target').dataset.activity") == HOSTILE_ID
    # A hostile member id, in the address, the heading and the title.
    watched.open(HOSTILE_MEMBER, as_of=AS_OF)
    assert page.locator("#member-id").text_content() == HOSTILE_MEMBER
    assert page.title() == "会员画像 · " + HOSTILE_MEMBER
    item = page.locator('.stage[data-stage="participation"] ol.evidence > li')
    assert item.get_attribute("data-activity") == HOSTILE_ID and item.text_content() == f"活动 {HOSTILE_ID}：参加社区活动"
    page.wait_for_timeout(200)  # an injected handler would have fired by now
    assert page.evaluate("document.scripts.length") == 1  # the page's own script only
    assert page.evaluate("document.querySelectorAll('img, main script').length") == 0
    assert watched.dialogs == [] and watched.errors == [], (watched.dialogs, watched.errors)


def test_a_leading_suggestion_says_a_person_must_confirm(watched, members):
    """The history above never reaches leading: the API's answer is changed on the way to the page."""
    page = watched.page
    profile = members[MEMBER]
    leading = {**profile, "tier": {**profile["tier"], "suggested": "leading", "label": "引领", "current": "core",
                                   "needs_confirmation": True,
                                   "reasons": ["晋升一级：引领", "引领须人工确认：引领"],
                                   "reason_codes": ["tier_promoted", "tier_needs_confirmation"]},
               "next_tier": {"tier": None, "requirements": []}}
    page.route(lambda url: urlsplit(url).path == f"/members/{MEMBER}", lambda route: route.fulfill(json=leading))
    watched.open(MEMBER, as_of=AS_OF)
    assert page.locator("#tier-label").text_content() == "引领"
    assert page.locator("#tier-current").text_content() == "当前持有：核心"
    confirm = page.locator("#tier-confirm")
    assert confirm.is_visible() and "人工确认" in confirm.text_content()
    assert page.locator("#requirements > li").all_text_contents() == ["已是最高等级，没有下一等级。"]
    assert watched.errors == []


def test_an_unknown_member_in_chromium_gets_the_404_body(watched):
    response = watched.page.goto(watched.base + page_url("nobody", key=watched.key))
    assert response.status == 404
    body = response.json()
    assert (body["error"]["code"], body["error"]["field"]) == ("not_found", "member_id")
