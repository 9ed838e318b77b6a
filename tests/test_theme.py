"""Theme relevance: on-theme entries above off-theme ones, null without a theme, photo content as evidence."""

from __future__ import annotations

import pytest

from quality.registry import PostBatch
from quality.schemas import CompositionScore, ImageComposition, Post
from quality.text.theme import theme_words, word_overlap

NIGHT = "爱车与我的城市夜景"
WINTER = "冬季用车小技巧"
NIGHT_POST = "晚上在外滩拍了几张爱车的照片，城市的灯光和车漆的反光很配。"
WINTER_POST = "冬天胎压会降低，记得每周检查一次，早上热车一分钟再走，雨刮也要立起来防冻。"
HOTPOT_POST = "今天中午吃了火锅，味道不错，下次还来。"


def relevance(service, text: str, theme: str | None) -> float | None:
    result = service.score(Post(text=text, theme=theme)).dimensions.theme_relevance
    return None if result is None else result.score


def test_no_theme_no_relevance(service):
    assert relevance(service, NIGHT_POST, None) is None


@pytest.mark.parametrize("theme, on, off", [(NIGHT, NIGHT_POST, HOTPOT_POST), (WINTER, WINTER_POST, HOTPOT_POST),
                                            (NIGHT, NIGHT_POST, WINTER_POST), (WINTER, WINTER_POST, NIGHT_POST)])
def test_on_theme_entries_rank_above_off_theme_ones(service, theme, on, off):
    assert relevance(service, on, theme) > relevance(service, off, theme) + 0.2


def test_theme_raises_the_audition_of_an_on_theme_post_more_than_an_off_theme_one(service):
    def audition(text, theme):
        return service.score(Post(text=text, theme=theme)).audition.score

    assert audition(WINTER_POST, WINTER) - audition(WINTER_POST, None) > audition(WINTER_POST, NIGHT) - audition(
        WINTER_POST, None)


def test_theme_words_and_overlap():
    assert "夜景" in theme_words(NIGHT) and "我的" not in theme_words(NIGHT)
    assert word_overlap(NIGHT, "城市夜景真好看") > word_overlap(NIGHT, "火锅")


def test_photo_content_counts_as_evidence(service):
    scorer = service.scorers["theme_relevance"]
    from quality.text.batch import TextBatch, TextItem, load_encoder

    def photo(content):
        return CompositionScore(score=0.8, confidence=0.5, images=[ImageComposition(
            index=0, score=0.8, width=10, height=10, phash="0" * 16, content=content)])

    text = TextBatch([TextItem(raw_text="", theme=NIGHT)] * 2, load_encoder(service.store))
    city, nature = scorer.score_batch(PostBatch(text, [[], []], {"composition": [
        photo({"car": 0.0, "nature": 0.0, "city": 0.9}), photo({"car": 0.0, "nature": 0.9, "city": 0.0})]}))
    assert city.score > nature.score
    assert any("城市" in line for line in city.evidence)
