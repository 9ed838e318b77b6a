"""The member layer's rules on histories whose scores are given (no model runs): windows, the
shrunk audition, likes that count, initiative, and the tier ladder's stability rules.

Profiles of members built from really scored texts are in tests/test_members.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from quality.errors import InvalidInput, RubricError
from quality.members.profile import build_profile
from quality.members.schemas import Activity
from quality.members.scoring import facts_of
from quality.rubric.config import load_rubric

RUBRIC_PATH = Path(__file__).resolve().parents[1] / "quality" / "rubric" / "rubric.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 21, 0, tzinfo=CST)


def post_score(audition: float, kind: str = "showcase", probability: float = 0.8) -> dict:
    band = "featured" if audition >= 75 else "promising" if audition >= 60 else "ordinary" if audition >= 40 else "low"
    return {"audition": {"score": audition, "band": band},
            "civility_signal": {"score": 0.5, "label": "neutral"},
            "post_kind": {"label": kind, "scores": {kind: probability}}}


def reply_score(label: str, *, newcomer: bool = False, praise: bool = False, disagreement: float = 0.0,
                reasoned: float = 0.0) -> dict:
    return {"audition": {"score": 50, "band": "ordinary"},
            "civility_signal": {"score": {"constructive": 0.9, "neutral": 0.5, "uncivil": 0.05}[label],
                                "label": label, "reason_codes": ["praise"] if praise else []},
            "dimensions": {"civility": {"context": {"newcomer_parent": float(newcomer),
                                                    "disagreement": {"is_disagreement": disagreement,
                                                                     "reasoned": reasoned}}}}}


class Member:
    """A history built day by day, relative to `NOW`."""

    def __init__(self):
        self.activities: list[Activity] = []

    def add(self, days_ago: float, kind: str, **fields) -> str:
        activity_id = f"{kind}-{len(self.activities)}"
        self.activities.append(Activity(id=activity_id, at=NOW - timedelta(days=days_ago), kind=kind, **fields))
        return activity_id

    def active(self, days: range) -> None:
        for day in days:
            self.add(day + 0.1, "vote")

    def profile(self, as_of: datetime = NOW, current: str | None = None, rubric=RUBRIC):
        return build_profile("m", facts_of(self.activities, {}, rubric), rubric, as_of, current, "test")


def core_member(likers: int = 12) -> Member:
    """Meets every core requirement: active, 10 steady posts, civil helpful replies, likes."""
    member = Member()
    member.active(range(0, 120, 2))
    for i in range(10):
        member.add(3 + 9 * i, "post", score=post_score(68))
    for i in range(14):
        member.add(1 + 6 * i, "reply", score=reply_score("constructive", newcomer=i % 2 == 0))
    for i in range(likers):
        member.add(2 + 3 * i, "like_received", other_member=f"friend-{i}")
    return member


# --- participation --------------------------------------------------------------------------

def test_active_days_streaks_and_windows_are_counted_in_the_member_s_days():
    member = Member()
    member.active(range(0, 5))  # 5 days in a row up to today
    member.active(range(40, 50))  # 10 days in a row, 40-49 days ago
    member.add(150, "vote")  # outside every window
    member.add(0.2, "like_received", other_member="x")  # done to them: not an active day of theirs
    figures = member.profile().stages.participation.figures
    assert figures["active_days_30"] == 5
    assert figures["active_days_100"] == 15
    assert figures["interactions_100"] == 15
    assert figures["longest_streak_100"] == 10
    assert figures["current_streak"] == 5


def test_a_member_with_no_history_has_zero_stages_and_the_basic_tier():
    profile = Member().profile()
    assert {name: stage.score for name, stage in profile.stages} == {
        "participation": 0.0, "creation": 0.0, "interaction": 0.0, "initiative": 0.0}
    assert profile.tier.suggested == "basic" and profile.next_tier.tier == "advanced"
    assert not any(r.met for r in profile.next_tier.requirements if r.code != "civility")


# --- creation -------------------------------------------------------------------------------

def test_steady_quality_beats_a_few_lucky_posts():
    steady, lucky = Member(), Member()
    for i in range(30):
        steady.add(5 + 10 * i, "post", score=post_score(66))
    for i in range(3):
        lucky.add(5 + 10 * i, "post", score=post_score(88))
    steady_creation, lucky_creation = steady.profile().stages.creation, lucky.profile().stages.creation
    assert lucky_creation.figures["audition_mean"] > steady_creation.figures["audition_mean"]
    assert steady_creation.score > lucky_creation.score
    # The shrunk average alone already holds three posts back towards the community's mean.
    assert lucky_creation.figures["audition_shrunk"] < 88 - 0.5 * (88 - RUBRIC.members.creation.community_mean)
    assert steady_creation.figures["posts"] == 30 and lucky_creation.figures["posts"] == 3


def test_best_posts_are_named_as_evidence_best_first():
    member = Member()
    ids = [member.add(10 + i, "post", score=post_score(score)) for i, score in enumerate((55, 81, 62, 70))]
    evidence = member.profile().stages.creation.evidence
    assert [e.activity for e in evidence] == [ids[1], ids[3], ids[2]]
    assert "81.0" in evidence[0].why


def test_trend_compares_the_latest_posts_with_the_ones_before():
    member = Member()
    for i, score in enumerate([50] * 5 + [70] * 5):  # older first
        member.add(100 - 5 * i, "post", score=post_score(score))
    assert member.profile().stages.creation.figures["trend"] == 20.0


# --- likes ----------------------------------------------------------------------------------

def test_repeated_likes_from_one_friend_do_not_move_a_tier():
    member = core_member(likers=0)
    assert member.profile(current="advanced").tier.suggested == "advanced"  # core needs 10 likes
    for day in range(60):
        member.add(day + 0.5, "like_received", other_member="best-friend")
    profile = member.profile(current="advanced")
    assert profile.stages.creation.figures["likes_received"] == 1
    assert profile.stages.creation.figures["likes_received_raw"] == 60
    assert profile.tier.suggested == "advanced"
    assert "likes_from_few_members" in profile.flags
    likes = next(r for r in profile.next_tier.requirements if r.code == "likes")
    assert (likes.value, likes.met) == (1, False)


def test_many_friends_on_one_day_count_once_and_distinct_members_on_distinct_days_count():
    member = core_member(likers=0)
    for i in range(30):
        member.add(3.5, "like_received", other_member=f"friend-{i}")
    assert member.profile(current="advanced").stages.creation.figures["likes_received"] == 1
    for i in range(12):
        member.add(10 + i, "like_received", other_member=f"reader-{i}")
    profile = member.profile(current="advanced")
    assert profile.stages.creation.figures["likes_received"] == 13
    assert profile.tier.suggested == "core"


def test_likes_that_do_not_name_their_member_do_not_count():
    member = Member()
    for day in range(20):
        member.add(day + 0.5, "like_received")
    assert member.profile().stages.creation.figures["likes_received"] == 0


# --- interaction ----------------------------------------------------------------------------

def test_help_and_praise_raise_interaction_and_belittling_lowers_it():
    kind, unkind = Member(), Member()
    for i in range(12):
        kind.add(1 + 5 * i, "reply", score=reply_score("constructive", newcomer=i % 3 == 0, praise=i % 3 == 1))
        unkind.add(1 + 5 * i, "reply", score=reply_score("uncivil" if i % 3 == 0 else "neutral"))
    kind_stage, unkind_stage = kind.profile().stages.interaction, unkind.profile().stages.interaction
    assert kind_stage.score > 0.8 > 0.3 > unkind_stage.score
    assert kind_stage.figures["newcomer_help"] == 4 and kind_stage.figures["praise_given"] == 4
    assert unkind_stage.figures["uncivil_share"] == pytest.approx(4 / 12, abs=1e-4)
    assert [e.why for e in unkind_stage.evidence[:4]] == ["不文明回复"] * 4
    assert "often_uncivil" in unkind.profile().flags


def test_disagreements_are_counted_with_the_share_handled_with_reasons():
    member = Member()
    member.add(1, "reply", score=reply_score("constructive", disagreement=0.9, reasoned=0.8))
    member.add(2, "reply", score=reply_score("neutral", disagreement=0.9, reasoned=0.9))
    member.add(3, "reply", score=reply_score("uncivil", disagreement=0.8, reasoned=0.1))
    member.add(4, "reply", score=reply_score("constructive", disagreement=0.1, reasoned=0.9))
    figures = member.profile().stages.interaction.figures
    assert figures["disagreements"] == 3
    assert figures["reasoned_disagreement_share"] == pytest.approx(2 / 3, abs=1e-4)


# --- initiative -----------------------------------------------------------------------------

def test_unprompted_guides_events_and_rebuttals_are_named_but_task_answers_are_not():
    member = Member()
    guide = member.add(20, "post", score=post_score(70, "guide", 0.9))
    event = member.add(30, "post", score=post_score(62, "event", 0.7))
    rebuttal = member.add(40, "post", score=post_score(66, "rebuttal", 0.8))
    member.add(25, "post", score=post_score(75, "guide", 0.95), task={"id": "t-guide", "tier": "advanced"})
    member.add(26, "post", score=post_score(35, "guide", 0.95))  # too weak a write-up to count
    short_event = member.add(31, "post", score=post_score(38, "event", 0.9))  # a meetup counts as organised
    member.add(27, "post", score=post_score(70, "guide", 0.3))  # not confidently a guide
    member.add(28, "post", score=post_score(80, "showcase", 0.9))
    initiative = member.profile().stages.initiative
    assert {(e.activity, e.kind) for e in initiative.evidence} == {(guide, "guide"), (event, "event"),
                                                                   (short_event, "event"), (rebuttal, "rebuttal")}
    assert initiative.figures == {"unprompted": 4, "guides": 1, "events": 2, "rebuttals": 1, "mentoring": 0}
    assert initiative.evidence[0].activity == guide and initiative.evidence[0].confidence == 0.9


def test_mentoring_needs_help_to_newcomers_kept_up_over_weeks():
    rules = RUBRIC.members.initiative
    bursty, steady = Member(), Member()
    for i in range(rules.mentoring_replies + 2):
        bursty.add(1 + 0.1 * i, "reply", score=reply_score("constructive", newcomer=True))
        steady.add(1 + 7 * i, "reply", score=reply_score("constructive", newcomer=True))
    assert bursty.profile().stages.initiative.figures["mentoring"] == 0
    mentoring = steady.profile().stages.initiative
    assert mentoring.figures["mentoring"] == 1
    assert mentoring.evidence[0].kind == "mentoring" and mentoring.evidence[0].activity == steady.activities[0].id


# --- the ladder -----------------------------------------------------------------------------

def test_promotion_is_one_step_at_a_time():
    member = core_member()
    assert member.profile(current="basic").tier.suggested == "advanced"
    profile = member.profile(current="advanced")
    assert profile.tier.suggested == "core" and profile.tier.reason_codes == ["tier_promoted"]
    assert profile.next_tier.tier == "leading"


def test_without_a_current_tier_the_ladder_is_climbed_from_history():
    profile = core_member().profile()
    assert profile.tier.suggested == "core"
    assert "tier_replayed" in profile.tier.reason_codes


def test_leading_is_only_suggested_and_needs_confirmation():
    member = core_member(likers=25)
    for i in range(3):
        member.add(10 + 20 * i, "post", score=post_score(72, "guide", 0.9))
    for i in range(6):
        member.add(2 + 7 * i, "reply", score=reply_score("constructive", newcomer=True))
    profile = member.profile(current="core")
    assert profile.tier.suggested == "leading"
    assert profile.tier.needs_confirmation and "tier_needs_confirmation" in profile.tier.reason_codes
    confirmed = member.profile(current="leading")
    assert confirmed.tier.suggested == "leading" and not confirmed.tier.needs_confirmation
    assert confirmed.next_tier.tier is None and confirmed.next_tier.requirements == []


def test_a_leader_climbed_from_history_is_still_only_a_suggestion():
    """Leading requirements held for most of a year: the climb reaches leading long before today,
    but the tier held is never leading without a person's confirmation."""
    member = Member()
    member.active(range(0, 300, 2))
    for i in range(30):
        member.add(2 + 10 * i, "post", score=post_score(70, "guide" if i % 5 == 0 else "showcase", 0.9))
    for i in range(60):
        member.add(1 + 5 * i, "reply", score=reply_score("constructive", newcomer=i % 2 == 0))
    for i in range(90):
        member.add(1 + 3 * i, "like_received", other_member=f"reader-{i}")
    assert member.profile(NOW - timedelta(days=120), current="core").tier.suggested == "leading"  # long before
    replayed = member.profile()
    assert replayed.tier.suggested == "leading" and replayed.tier.current == "core"
    assert replayed.tier.needs_confirmation


def test_demotion_needs_the_grace_period_and_goes_one_step():
    member = core_member()
    # The member stops: a month later active days (100-day window) have fallen under 0.9 x 30.
    grace = RUBRIC.tiers.demotion.grace_days
    lapsed_on = next(day for day in range(0, 200)
                     if member.profile(NOW + timedelta(days=day), current="core")
                     .stages.participation.figures["active_days_100"] < 0.9 * 30)
    within = member.profile(NOW + timedelta(days=lapsed_on + grace - 8), current="core")
    assert within.tier.suggested == "core" and within.tier.reason_codes == ["tier_in_grace"]
    assert any("近100天活跃天数" in reason for reason in within.tier.reasons)
    after = member.profile(NOW + timedelta(days=lapsed_on + grace + 1), current="core")
    assert after.tier.suggested == "advanced" and after.tier.reason_codes == ["tier_demoted"]
    # Long gone: still one step per look.
    assert member.profile(NOW + timedelta(days=400), current="core").tier.suggested == "advanced"


def test_a_requirement_just_under_its_threshold_does_not_demote():
    member = core_member()
    member.add(0.5, "reply", score=reply_score("uncivil"))  # uncivil share 1/15: over 0.05, under 0.05/0.9?
    profile = member.profile(current="core")
    share = profile.stages.interaction.figures["uncivil_share"]
    assert share > 0.05
    assert profile.tier.suggested == "core"
    assert profile.tier.reason_codes == (["tier_in_grace"] if share > 0.05 / 0.9 else ["tier_kept"])


# --- input ----------------------------------------------------------------------------------

def test_an_activity_id_given_twice_is_refused():
    member = Member()
    member.add(1, "vote")
    member.activities.append(member.activities[0])
    with pytest.raises(InvalidInput) as raised:
        facts_of(member.activities, {}, RUBRIC)
    assert raised.value.field == "activities[1].id"


def test_purchases_and_referrals_are_not_activities():
    with pytest.raises(ValueError):
        Activity(id="x", at=NOW, kind="purchase")
    with pytest.raises(ValueError):
        Activity(id="x", at=datetime(2026, 11, 2, 20, 15), kind="vote")  # no UTC offset: ambiguous


@pytest.mark.parametrize("change, message", [
    (lambda d: d["tiers"]["leading"].update(needs_confirmation=False), "needs_confirmation must be true"),
    (lambda d: d["tiers"]["core"]["requirements"][0].update(figure="creation.purchases"), "unknown figure"),
    (lambda d: d["tiers"]["core"]["requirements"][0].update(at_most=3), "exactly one of"),
    (lambda d: d["members"]["windows"].update(short_days=400), "short_days <= long_days"),
])
def test_the_rubric_refuses_bad_tier_rules(tmp_path, change, message):
    data = yaml.safe_load(RUBRIC_PATH.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RubricError, match=message):
        load_rubric(path)
