"""The rubric: validation of the file, audition bounds and monotonicity, the civility signal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.errors import RubricError
from quality.rubric import AuditionInputs, audition, civility_signal, load_rubric
from quality.rubric.audition import band_for
from quality.rubric.config import AUDITION_DIMENSIONS
from quality.schemas import CivilityScore
from quality.settings import DEFAULT_RUBRIC

RUBRIC = load_rubric(DEFAULT_RUBRIC)
DIMS = AUDITION_DIMENSIONS  # every dimension the rubric can weigh, theme_relevance included
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
maybe_unit = st.one_of(st.none(), unit)


def write_rubric(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(DEFAULT_RUBRIC.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_default_rubric_has_version_and_hash():
    assert RUBRIC.version == "2.7.0"
    assert len(RUBRIC.sha256) == 64


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["audition"]["weights"].update(clarity=-0.1), "weights must be >= 0"),
        (lambda d: d["audition"]["weights"].update(beauty=0.3), "unknown audition dimensions"),
        (lambda d: d["audition"]["bands"].update(featured=10), "featured > promising > ordinary"),
        (lambda d: d["reasons"].pop("clarity_low"), "reason texts missing"),
        (lambda d: d.pop("version"), "version"),
        (lambda d: d["civility_signal"].update(civil_below=0.9), "civil_below must not be above"),
        (lambda d: d["flags"]["result"].update(ugly={"dimension": "beauty", "below": 0.3}), "unknown dimension"),
        (lambda d: d["audition"]["penalties"].update(off_theme=5), "unknown penalty flags"),
        (lambda d: d["flags"]["contest_entry"].update(uncivil_language={"dimension": "civility", "below": 0.4}),
         "flag names given twice"),
        (lambda d: d.pop("flags"), "flags"),
    ],
)
def test_invalid_rubric_is_refused_with_the_reason(tmp_path, mutate, message):
    with pytest.raises(RubricError, match=message):
        load_rubric(write_rubric(tmp_path, mutate))


def test_unreadable_rubric_is_refused(tmp_path):
    with pytest.raises(RubricError, match="cannot read"):
        load_rubric(tmp_path / "missing.yaml")


def inputs(scores: dict, n_chars=200, n_photos=2, flags=()) -> AuditionInputs:
    return AuditionInputs(dimension_scores=scores, n_chars=n_chars, n_photos=n_photos, flags=tuple(flags))


@settings(max_examples=300, deadline=None)
@given(
    scores=st.fixed_dictionaries({d: maybe_unit for d in DIMS}),
    which=st.sampled_from(DIMS),
    better=unit,
    n_chars=st.integers(0, 20_000),
    n_photos=st.integers(0, 9),
    flags=st.lists(st.sampled_from(["duplicate_image", "uncivil_language", "needs_review"]), unique=True),
)
def test_audition_is_monotone_bounded_and_deterministic(scores, which, better, n_chars, n_photos, flags):
    before = audition(inputs(scores, n_chars, n_photos, flags), RUBRIC)
    current = scores[which]
    improved = dict(scores, **{which: max(better, current) if current is not None else None})
    after = audition(inputs(improved, n_chars, n_photos, flags), RUBRIC)
    assert 0.0 <= before.score <= 100.0
    assert after.score >= before.score
    assert audition(inputs(scores, n_chars, n_photos, flags), RUBRIC) == before


def test_audition_bands_and_reasons():
    strong = audition(inputs({"clarity": 0.95, "sincerity": 0.9, "helpfulness": 0.95, "composition": 0.9}, 600, 4), RUBRIC)
    weak = audition(inputs({"clarity": 0.1, "sincerity": 0.2, "helpfulness": 0.1, "composition": None}, 8, 0), RUBRIC)
    assert strong.band == "featured" and strong.score >= 75
    assert weak.band == "low"
    assert "helpfulness_high" in strong.reason_codes
    assert "helpfulness_low" in weak.reason_codes and "clarity_low" in weak.reason_codes
    assert len(strong.reasons) == len(strong.reason_codes) <= RUBRIC.audition.max_reasons


def test_flags_take_points_off_and_lead_the_reasons():
    scores = {"clarity": 0.7, "sincerity": 0.7, "helpfulness": 0.7, "composition": 0.7}
    clean = audition(inputs(scores), RUBRIC)
    flagged = audition(inputs(scores, flags=["duplicate_image"]), RUBRIC)
    assert clean.score - flagged.score == pytest.approx(RUBRIC.audition.penalties["duplicate_image"])
    assert flagged.reason_codes[0] == "duplicate_image"


def test_band_cut_offs_are_lower_bounds():
    bands = RUBRIC.audition.bands
    assert band_for(bands.featured, RUBRIC) == "featured"
    assert band_for(bands.featured - 0.01, RUBRIC) == "promising"
    assert band_for(bands.ordinary - 0.01, RUBRIC) == "low"


def civility(p_uncivil: float, p_constructive: float = 0.5, **context) -> CivilityScore:
    """A civility result as the scorer makes it, with the reply model's probabilities in its context."""
    return CivilityScore(score=1.0 - p_uncivil, confidence=0.9,
                         context={"uncivil_probability": p_uncivil, "constructive_probability": p_constructive,
                                  **context})


def test_labels_follow_the_rubric_cut_offs_on_the_probabilities():
    config = RUBRIC.civility_signal
    assert civility_signal(civility(config.uncivil_at_or_above), RUBRIC).label == "uncivil"
    below = config.uncivil_at_or_above - 0.01
    assert civility_signal(civility(below, config.constructive_at_or_above), RUBRIC).label == "constructive"
    assert civility_signal(civility(below, config.constructive_at_or_above - 0.01), RUBRIC).label == "neutral"
    near = civility_signal(civility(config.uncivil_at_or_above + config.review_margin / 2), RUBRIC)
    assert near.needs_review and "near_threshold" in near.reason_codes
    assert not civility_signal(civility(0.01, 0.9), RUBRIC).needs_review


@settings(max_examples=200, deadline=None)
@given(p_uncivil=unit, p_constructive=unit, praise=st.floats(0, 5), insult=st.floats(0, 3),
       disagrees=unit, reasoned=unit)
def test_civility_signal_is_bounded_consistent_and_monotone(p_uncivil, p_constructive, praise, insult, disagrees,
                                                            reasoned):
    context = {"praise": praise, "insult": insult, "disagreement": {"is_disagreement": disagrees, "reasoned": reasoned}}
    signal = civility_signal(civility(p_uncivil, p_constructive, **context), RUBRIC)
    config = RUBRIC.civility_signal
    assert 0.0 <= signal.score <= 1.0
    assert abs(sum(signal.probabilities.values()) - 1.0) < 1e-5
    assert (signal.label == "uncivil") == (p_uncivil >= config.uncivil_at_or_above)
    # never "civil language" about a reply labelled uncivil or holding an insult
    if signal.label == "uncivil" or insult > 0:
        assert "civil" not in signal.reason_codes
    if signal.label == "uncivil":
        assert signal.reason_codes and set(signal.reason_codes) <= {
            "insult", "dismissive", "dismissive_to_newcomer", "attack_on_disagreement", "sarcasm", "uncivil_reply",
            "near_threshold"}
    worse = civility_signal(civility(min(1.0, p_uncivil + 0.1), p_constructive, **context), RUBRIC)
    assert worse.score <= signal.score + 1e-9


def test_disagreements_are_named_reasoned_or_attack():
    config = RUBRIC.civility_signal
    reasoned = {"is_disagreement": 0.9, "reasoned": 0.9}
    attack = {"is_disagreement": 0.9, "reasoned": 0.1}
    assert "reasoned_disagreement" in civility_signal(civility(0.05, 0.9, disagreement=reasoned), RUBRIC).reason_codes
    assert "attack_on_disagreement" in civility_signal(civility(0.95, disagreement=attack), RUBRIC).reason_codes
    assert config.disagreement_at_or_above > 0


def test_uncivil_reasons_name_what_was_seen():
    to_newcomer = civility_signal(civility(0.9, dismissive=1.0, newcomer_parent=1.0), RUBRIC)
    assert to_newcomer.reason_codes[:2] == ["dismissive", "dismissive_to_newcomer"]
    sarcastic = civility_signal(civility(0.9, sarcasm=1.0), RUBRIC)
    assert "sarcasm" in sarcastic.reason_codes and "人" in "".join(sarcastic.reasons + ["人"])
    assert civility_signal(civility(0.9), RUBRIC).reason_codes == ["uncivil_reply"]


def test_without_the_reply_model_the_civility_score_decides():
    plain = CivilityScore(score=0.1, confidence=0.9, context={})
    assert civility_signal(plain, RUBRIC).label == "uncivil"


def test_no_text_gives_a_neutral_signal():
    assert civility_signal(None, RUBRIC).label == "neutral"


def test_english_reasons():
    result = audition(inputs({"clarity": 0.95, "sincerity": 0.5, "helpfulness": 0.5, "composition": None}), RUBRIC, "en")
    assert "clearly structured" in result.reasons
