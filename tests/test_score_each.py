"""One way to score many posts: `QualityService.score_each` gives, per post and in order, its
result or its own error, and the edges (CLI rows, evaluation) score through it."""

from __future__ import annotations

import json

from eval.tasks import score_each as eval_score_each
from quality.errors import QualityError
from quality.records import score_rows
from quality.schemas import ImageInput, Post, ScoreResult

GOOD = ["保养周期看手册，一般首保5000公里或者6个月，先到为准。", "高速百公里6.2升，市区8升左右，空调开着。"]


def test_bad_posts_get_their_own_errors_and_the_rest_score_as_alone(service):
    posts = [Post(id="a", text=GOOD[0]), Post(id="bad-photo", text="图", images=[ImageInput(data="bm90IGFuIGltYWdl")]),
             Post(id="b", text=GOOD[1]), Post(id="empty", text="\u200b")]
    outcomes = service.score_each(posts)
    assert [type(o).__name__ for o in outcomes][0] == "ScoreResult"
    assert isinstance(outcomes[1], QualityError) and outcomes[1].field == "images[0].data"
    assert isinstance(outcomes[3], QualityError) and outcomes[3].code == "empty_post"
    for post, outcome in zip((posts[0], posts[2]), (outcomes[0], outcomes[2])):
        assert isinstance(outcome, ScoreResult) and outcome.id == post.id
        alone = service.score(post)
        assert abs(alone.audition.score - outcome.audition.score) <= 1e-4
        assert alone.flags == outcome.flags and alone.civility_signal.label == outcome.civility_signal.label
    assert service.score_each([]) == []


def test_a_failing_batch_is_scored_again_post_by_post(service, monkeypatch):
    """Should scoring a batch fail unexpectedly, only the post that breaks it gets the error."""
    real = service._score_prepared
    calls = []

    def breaks_on_boom(prepared):
        calls.append([item.post.id for item in prepared])
        if any(item.post.id == "boom" for item in prepared):
            raise RuntimeError("boom")
        return real(prepared)

    monkeypatch.setattr(service, "_score_prepared", breaks_on_boom)
    outcomes = service.score_prepared_each([service.prepare(Post(id=i, text=GOOD[0])) for i in ("a", "boom", "b")])
    assert calls == [["a", "boom", "b"], ["a"], ["boom"], ["b"]]
    assert [o.id if isinstance(o, ScoreResult) else str(o) for o in outcomes] == ["a", "boom", "b"]


def test_the_edges_score_through_it(service):
    rows = [{"id": "a", "text": GOOD[0]}, {"id": "x", "kind": "poem", "text": "床前明月光"}, ValueError("line 3: not JSON"),
            {"id": "e", "text": ""}]
    records = score_rows(service, rows)
    assert records[0]["id"] == "a" and "audition" in records[0]
    assert records[1] == {"id": "x", "error": records[1]["error"]} and records[1]["error"]["field"] == "kind"
    assert records[2]["error"]["message"] == "line 3: not JSON"
    assert records[3]["error"]["field"] == "text"
    json.dumps(records)  # every record is JSON as written
    results = eval_score_each(service, [Post(text=GOOD[1]), Post(text="")])
    assert isinstance(results[0], ScoreResult) and results[1] is None
