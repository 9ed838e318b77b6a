"""One request cannot hold the scorer for long (issue 10): a batch's text budget is checked before
any model runs (413), and a batch still being scored at its request timeout is abandoned (503
"timeout" with Retry-After) at the next slice instead of running to the end."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from quality.errors import Overloaded
from quality.schemas import Post

NORMAL = "提车三个月了，高速油耗6.2L，空间够一家三口用，推荐。"  # 28 characters


@pytest.fixture
def tuned(service, monkeypatch, tmp_path):
    """The session's service with some settings changed for one test (models stay loaded)."""

    def tune(limits: dict | None = None, **settings):
        changed = service.settings.model_copy(update={
            "state_dir": tmp_path,
            "limits": service.settings.limits.model_copy(update=limits or {}),
            **settings,
        })
        monkeypatch.setattr(service, "settings", changed)
        return TestClient(create_app(changed, service=service))

    return tune


def test_a_batch_over_the_text_budget_is_413_before_scoring(tuned, service, monkeypatch):
    client = tuned(limits={"max_batch_text_chars": 100})
    monkeypatch.setattr(service, "_score_prepared", lambda *_: pytest.fail("scored a batch over its budget"))
    items = [{"text": NORMAL}, {"text": NORMAL}, {"kind": "reply", "text": NORMAL, "parent": {"text": NORMAL}}]
    response = client.post("/score/batch", json={"items": items})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("batch_text_too_long", "items")
    assert "112" in error["message"] and "100" in error["message"]  # what it carries, what is allowed


def test_a_batch_within_the_budget_is_scored(tuned):
    client = tuned(limits={"max_batch_text_chars": 4 * len(NORMAL)})
    response = client.post("/score/batch", json={"items": [{"text": NORMAL}] * 4})
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 4


def test_the_budget_is_per_request_not_per_post(tuned):
    """A single post up to the text limit is never refused by the batch budget."""
    client = tuned(limits={"max_batch_text_chars": 10})
    assert client.post("/score", json={"text": NORMAL}).status_code == 200


def test_a_batch_past_its_timeout_is_abandoned_with_503(tuned, service, monkeypatch):
    client = tuned(request_timeout_s=0.05, batch_max_items=1)
    scored = []
    real = service._score_prepared

    def slow(prepared):
        scored.append(len(prepared))
        time.sleep(0.03)
        return real(prepared)

    monkeypatch.setattr(service, "_score_prepared", slow)
    response = client.post("/score/batch", json={"items": [{"text": NORMAL}] * 10})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    error = response.json()["error"]
    assert error["code"] == "timeout" and "of 10 posts done" in error["message"]
    assert 1 <= len(scored) < 10 and set(scored) == {1}  # stopped at a slice boundary, slices of batch_max_items


def test_slicing_gives_the_same_results_as_one_batch(service):
    posts = [Post(id=str(i), text=f"{NORMAL}第{i}次保养花了{300 + i}元。") for i in range(5)]
    whole = service.score_batch(posts)
    sliced = service.score_batch(posts, deadline=time.monotonic() + 600)
    assert [r.model_dump() for r in sliced] == [r.model_dump() for r in whole]


def test_a_past_deadline_scores_nothing(service):
    with pytest.raises(Overloaded) as raised:
        service.score_batch([Post(text=NORMAL)], deadline=time.monotonic() - 1)
    assert raised.value.code == "timeout" and raised.value.status_code == 503
