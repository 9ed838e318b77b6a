"""The judges' page `GET /ui/contests/{id}`: served by a real uvicorn server on 127.0.0.1 and opened in
headless Chromium (Debian's `chromium`, driven by the `playwright` package; never a browser download).

The page is checked as a judge uses it: thumbnails load, the ranking is the API's, a preference and a
direct score are recorded and the ranking on the page follows, nothing leaves the machine, and text from
the public stays text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.app import create_app
from api.ui_routes import render_page
from tests.browser import WatchedPage, launched_chromium, served
from tests.conftest import b64, encode_image, synthetic_photo

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
THEME = "我的第一次长途旅行"
JUDGE = "王评委"
HOSTILE_TITLE = "<script>alert(1)</script>"


def _photo(seed: int, **kwargs) -> str:
    return b64(encode_image(synthetic_photo(seed=seed, **kwargs), quality=88))


def contest_posts(photo_b64: str, other_photo_b64: str) -> list[dict]:
    """Road-trip entries of clearly different quality, one with a hostile title."""
    return [
        {"id": "trip-sichuan", "title": "成都到拉萨：我的第一次川藏线自驾",
         "text": "首先说路线：成都出发走318国道，经雅安、康定、理塘、林芝到拉萨，全程约2100公里，用了9天。"
                 "其次是车况：出发前做了保养，换了全地形胎，带了补胎工具和两桶备用水。"
                 "最后分享几点经验：高原上油耗会升到9L左右，加油站间隔远，油量低于一半就加；"
                 "怒江七十二拐一定要低挡慢行；晚上别赶路。第一次跑这么远，看到雪山那一刻觉得一切都值了。",
         "images": [{"data": photo_b64}, {"data": other_photo_b64}]},
        {"id": "trip-highway", "title": "第一次跑长途：高速上的六百公里",
         "text": "上个月第一次开长途回老家，从杭州到合肥六百公里。每两小时进服务区休息一次，"
                 "全程高速油耗6.5L。自适应巡航帮了大忙，腰也不算累。下次想试试带家人一起去黄山。",
         "images": [{"data": _photo(3, width=800, height=600)}]},
        {"id": "trip-sea", "title": "周末去海边",
         "text": "开车去了海边，挺好玩的，风景不错。",
         "images": [{"data": _photo(4, tilt_degrees=-8)}]},
        {"id": "trip-hostile", "title": HOSTILE_TITLE,
         "text": "<img src=x onerror=alert(2)>第一次长途，开了三百公里回老家，路上堵了两个小时。",
         "images": [{"data": _photo(5, width=480, height=640)}]},
        {"id": "trip-short", "title": "水一贴",
         "text": "沙发。顶。",
         "images": [{"data": _photo(6)}]},
    ]


# -- the server ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(service, tmp_path_factory):
    """A real uvicorn server on a free port of 127.0.0.1, over the session's models; its contest database
    lives in a temporary state folder."""
    settings = service.settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("state")})
    yield from served(create_app(settings, service=service), "judges-page")


@pytest.fixture(scope="module")
def contest(server, photo_b64, other_photo_b64) -> dict:
    """A contest with five scored entries, created over HTTP: {"id", "entries": {client id: entry id}}."""
    made = server.post("/contests", json={"name": "春季自驾征文", "theme": THEME,
                                          "description": "分享你的第一次长途自驾，图文并茂更佳。"})
    assert made.status_code == 201, made.text
    contest_id = made.json()["id"]
    entries = {}
    for post in contest_posts(photo_b64, other_photo_b64):
        answer = server.post(f"/contests/{contest_id}/entries", json=post)
        assert answer.status_code == 201, answer.text
        entries[post["id"]] = answer.json()["id"]
    return {"id": contest_id, "entries": entries}


def ranking_rows(server, contest_id: str) -> list[tuple[str, int, float]]:
    ranking = server.get(f"/contests/{contest_id}/ranking")
    assert ranking.status_code == 200, ranking.text
    return [(row["entry"], row["rank"], row["score"]) for row in ranking.json()["entries"]]


# -- without a browser ---------------------------------------------------------------------------------
def test_unknown_contest_page_is_404_with_the_error_body(server):
    answer = server.get("/ui/contests/unknown")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert (error["code"], error["field"], set(answer.json())) == ("not_found", "contest_id", {"error"})
    assert "unknown" in error["message"]


def test_page_is_html_with_a_strict_policy_and_a_fresh_nonce(server, contest):
    first, second = (server.get(f"/ui/contests/{contest['id']}") for _ in range(2))
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "no-referrer"
    policy = first.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{20,})'", directives["script-src"]).group(1)
    assert directives["default-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["connect-src"] == "'self'"
    assert directives["style-src"] == f"'nonce-{nonce}'"
    fixed = policy.replace(nonce, "")  # the random nonce could spell anything
    assert "unsafe" not in fixed and "http" not in fixed and "*" not in fixed
    page = first.text
    assert page.count(f'nonce="{nonce}"') == 2  # the one <style> and the one <script>
    assert len(re.findall(r"<script\b", page)) == 1 and len(re.findall(r"<style\b", page)) == 1
    assert f'data-contest="{contest["id"]}"' in page and 'lang="zh-CN"' in page
    assert not re.search(r"\son[a-z]+=|style=|<link[^>]+http|src=\"http", page)  # no handlers, no outside assets
    assert second.headers["content-security-policy"] != policy  # a new nonce each time


def test_the_contest_id_is_escaped_into_the_page():
    page = render_page('x"><script>alert(1)</script>', "n0nce")
    assert 'data-contest="x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert "__NONCE__" not in page and "__CONTEST_ID__" not in page


# -- in Chromium ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    yield from launched_chromium("the judges' page")


class Watched(WatchedPage):
    """The judges' page, opened."""

    def open(self, contest_id: str) -> None:
        self.page.goto(f"{self.base}/ui/contests/{contest_id}")
        self.page.wait_for_selector("body[data-state=ready]", timeout=15_000)

    def version(self) -> int:
        return int(self.page.evaluate("document.body.dataset.version"))

    def after(self, version: int) -> None:
        """Wait for the page to render a newer ranking and finish the judgement."""
        self.page.wait_for_function(
            "v => Number(document.body.dataset.version) > v && document.body.getAttribute('aria-busy') !== 'true'",
            arg=version, timeout=15_000)

    def shown(self) -> list[tuple[str, int, float]]:
        return [tuple(row) for row in self.page.eval_on_selector_all(
            "#ranking > li[data-entry]",
            "items => items.map(li => [li.dataset.entry, Number(li.dataset.rank), Number(li.dataset.score)])")]

    def item(self, entry_id: str):
        return self.page.locator(f'#ranking > li[data-entry="{entry_id}"]')


@pytest.fixture
def watched(browser, server):
    window = Watched(browser, str(server.base_url).rstrip("/"))
    yield window
    window.close()


def test_judges_rank_entries_in_chromium(watched, server, contest):
    page, contest_id = watched.page, contest["id"]
    watched.open(contest_id)
    assert page.locator("#contest-name").text_content() == "春季自驾征文"
    assert page.locator("#contest-theme").text_content() == THEME

    # Every thumbnail is a loaded image; the list is the API's ranking, in its order.
    page.wait_for_function("""() => { const images = [...document.querySelectorAll('#ranking img, #next-pair img')];
        return images.length > 0 && images.every(img => img.complete && img.naturalWidth > 0); }""", timeout=10_000)
    assert page.locator("#ranking img").count() == 6  # 2 + 1 + 1 + 1 + 1 photos
    assert watched.shown() == ranking_rows(server, contest_id)
    assert len(watched.shown()) == 5
    first = watched.item(watched.shown()[0][0])
    assert "进入前3名的概率" in first.text_content()
    assert first.locator(".dims > span").first.text_content() == "条理"
    # The photo score's perceived quality and composition, each under it (entries with photos).
    assert {"画质", "构图"} <= set(page.locator("#ranking .dims > span.part").all_text_contents())

    # Chinese throughout: with entry ids and the entries' own text taken out, no English word is left.
    visible = page.evaluate("""() => { const copy = document.body.cloneNode(true);
        copy.querySelectorAll('script, .entry-id, h3, .excerpt, #pick-a, #pick-b').forEach(node => node.remove());
        return copy.textContent; }""")
    assert re.findall(r"[A-Za-z]{3,}", visible.replace("Bradley–Terry", "")) == []
    assert re.search(r"^第\d+名与第\d+名分数接近", page.locator("#next-pair .why").text_content())

    # No judge name yet: asked for inline, nothing is sent.
    page.locator('#next-pair button[data-choice="b"]').click()
    assert "评委姓名" in page.locator("#judge-msg").text_content()
    assert watched.posts == [] and watched.dialogs == []

    # The name is remembered across visits.
    page.locator("#judge").fill(JUDGE)
    watched.open(contest_id)
    assert page.locator("#judge").input_value() == JUDGE

    # The suggested pair: prefer B, the entry ranked lower. Its score rises and the page shows the API's
    # new ranking.
    pair = page.locator("#next-pair")
    a, b = pair.get_attribute("data-a"), pair.get_attribute("data-b")
    before = {entry: (rank, score) for entry, rank, score in watched.shown()}
    assert before[b][0] > before[a][0]
    version = watched.version()
    page.locator('#next-pair button[data-choice="b"]').click()
    watched.after(version)
    after = {entry: (rank, score) for entry, rank, score in watched.shown()}
    assert after[b][1] > before[b][1] and after[a][1] < before[a][1]
    assert watched.shown() == ranking_rows(server, contest_id)
    assert "已记录" in page.locator("#notice").text_content()
    votes = server.get(f"/contests/{contest_id}/judgements").json()
    assert [(v["kind"], v["judge"], v["winner"], v["loser"]) for v in votes] == [("pair", JUDGE, b, a)]

    # Picked from the list: the last entry over the first, until it climbs.
    last, start_rank, start_score = watched.shown()[-1]
    top = watched.shown()[0][0]
    scores = [start_score]
    for _ in range(8):
        watched.item(last).locator('button[data-action="pick-a"]').click()
        watched.item(top).locator('button[data-action="pick-b"]').click()
        assert page.locator("#pick-a").get_attribute("data-entry") == last
        version = watched.version()
        page.locator('#picker button[data-choice="a"]').click()
        watched.after(version)
        rank, score = next((r, s) for entry, r, s in watched.shown() if entry == last)
        scores.append(score)
        if rank < start_rank:
            break
    assert rank < start_rank, (start_rank, scores)
    assert scores == sorted(scores) and len(set(scores)) == len(scores)  # every vote moved it up
    assert watched.item(last).locator(".change.up").count() == 1  # the climb is marked
    assert watched.shown() == ranking_rows(server, contest_id)
    assert page.locator("#picker button[data-choice]").first.is_disabled()  # the picks are cleared

    # A direct score; an out-of-range one is refused on the page.
    scored = watched.shown()[2][0]
    watched.item(scored).locator('input[data-role="score-input"]').fill("150")
    posts = len(watched.posts)
    watched.item(scored).locator('button[data-action="score"]').click()
    assert "0 到 100" in watched.item(scored).locator('[data-role="entry-msg"]').text_content()
    assert len(watched.posts) == posts
    watched.item(scored).locator('input[data-role="score-input"]').fill("88")
    version = watched.version()
    watched.item(scored).locator('button[data-action="score"]').click()
    watched.after(version)
    votes = server.get(f"/contests/{contest_id}/judgements").json()
    assert (votes[-1]["kind"], votes[-1]["judge"], votes[-1]["entry"], votes[-1]["score"]) == ("score", JUDGE, scored, 88.0)
    assert "评委打分 1 次" in watched.item(scored).locator('[data-role="counts"]').text_content()
    assert watched.shown() == ranking_rows(server, contest_id)

    assert watched.errors == []  # no script error, nothing blocked by the page's own policy

    # An error from the API is shown on the page, as the API worded it.
    page.route("**/judgements", lambda route: route.fulfill(
        status=422, json={"error": {"code": "invalid_input", "message": "测试：评分未被接受", "field": "score"}}))
    watched.item(scored).locator('input[data-role="score-input"]').fill("70")
    watched.item(scored).locator('button[data-action="score"]').click()
    page.wait_for_function("() => document.getElementById('error').textContent.includes('测试：评分未被接受')",
                           timeout=5_000)
    page.unroute("**/judgements")
    page.locator("#error").click()  # dismissed

    assert watched.errors == ["Failed to load resource: the server responded with a status of 422 "
                              "(Unprocessable Entity)"]  # the one refused on purpose

    # Nothing left the machine; no alert.
    assert watched.requests and all(url.startswith((watched.base + "/", "data:")) for url in watched.requests), \
        watched.requests
    assert watched.dialogs == []
    page.evaluate("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "judges_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def test_text_from_the_public_stays_text(watched, contest):
    page = watched.page
    watched.open(contest["id"])
    hostile = watched.item(contest["entries"]["trip-hostile"])
    assert hostile.locator("h3").text_content() == HOSTILE_TITLE
    assert hostile.locator("h3").is_visible()
    assert "<img src=x onerror=alert(2)>" in hostile.locator(".excerpt").text_content()
    page.wait_for_timeout(200)  # an injected handler would have fired by now
    assert page.evaluate("document.scripts.length") == 1  # the page's own script only
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], #ranking script').length") == 0
    assert watched.dialogs == [] and watched.errors == [], (watched.dialogs, watched.errors)


def test_a_vote_whose_answer_was_lost_is_retried_and_counted_once(watched, server, contest):
    """The server records the vote but the answer never reaches the browser (connection reset):
    the page sends it again with the same Idempotency-Key, and the server answers with the vote it
    already has instead of counting a second one. A 503 (database restarting) is retried too."""
    page, contest_id = watched.page, contest["id"]
    watched.open(contest_id)
    page.locator("#judge").fill(JUDGE)
    before = server.get(f"/contests/{contest_id}/judgements").json()
    seen: list[tuple[str | None, int | str]] = []

    def lose_the_first_answer(route):
        key = route.request.headers.get("idempotency-key")
        if not seen:
            answer = route.fetch()  # reaches the server, which records the vote ...
            seen.append((key, answer.status))
            route.abort("connectionreset")  # ... but the browser never hears back
        elif len(seen) == 1:
            seen.append((key, 503))
            route.fulfill(status=503, headers={"Retry-After": "0"},
                          json={"error": {"code": "unavailable", "message": "数据库重启中", "field": None}})
        else:
            answer = route.fetch()
            seen.append((key, answer.status))
            route.fulfill(response=answer)

    page.route("**/judgements", lose_the_first_answer)
    version = watched.version()
    page.locator('#next-pair button[data-choice="a"]').click()
    watched.after(version)
    page.unroute("**/judgements")
    keys = {key for key, _ in seen}
    assert len(seen) == 3 and len(keys) == 1 and None not in keys and len(next(iter(keys))) == 32, seen
    assert [status for _, status in seen] == [201, 503, 201]
    after = server.get(f"/contests/{contest_id}/judgements").json()
    assert len(after) == len(before) + 1  # three sends, one vote
    assert "已记录" in page.locator("#notice").text_content()
