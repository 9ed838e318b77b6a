"""One table of dimensions drives the rest, and every cut-off comes from the rubric file:
results carry exactly the table's rows (or start-up fails), evaluation and the CLI offer a task
per labelled row, the judges' page names each row, and flags move when the rubric's cut-offs do.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from api.cli import build_parser
from api.ui_routes import render_page
from eval.tasks import TASKS
from quality.registry import DIMENSIONS, DimensionSpec
from quality.rubric.flags import score_flags
from quality.rubric.config import ScoreFlag
from quality.schemas import Dimensions, check_dimension_fields
from quality.service import QualityService
from quality.settings import DEFAULT_RUBRIC, Settings
from tests.conftest import DISMISSIVE_REPLY, NEWCOMER_QUESTION, PATIENT_REPLY


def test_results_carry_exactly_the_rows_of_the_table_in_its_order():
    assert list(Dimensions.model_fields) == list(DIMENSIONS)
    check_dimension_fields()  # the shipped table and schema agree


def test_a_row_results_cannot_carry_stops_start_up(monkeypatch):
    extended = dict(DIMENSIONS, beauty=DimensionSpec("beauty", "quality.text.clarity:ClarityScorer", "text",
                                                     "a dimension results have no field for", "美"))
    with pytest.raises(TypeError, match="'beauty'.*no field"):
        check_dimension_fields(extended)
    monkeypatch.setattr("quality.schemas.DIMENSIONS", extended)
    with pytest.raises(TypeError, match="'beauty'"):
        QualityService(Settings())  # before any model loads
    wrong_result = dict(DIMENSIONS, clarity=dataclasses.replace(DIMENSIONS["clarity"], result="CivilityScore"))
    with pytest.raises(TypeError, match="'clarity'"):
        check_dimension_fields(wrong_result)
    with pytest.raises(TypeError, match="theme_relevance"):
        check_dimension_fields({name: spec for name, spec in DIMENSIONS.items() if name != "theme_relevance"})


def test_eval_tasks_and_cli_choices_follow_the_table():
    labelled = [name for name, spec in DIMENSIONS.items() if spec.label_type is not None]
    assert labelled and all(TASKS[name].label_type == DIMENSIONS[name].label_type for name in labelled)
    assert TASKS["composition"].reads == "image"  # a photo dimension's task reads image files
    evaluate = next(action for action in build_parser()._subparsers._group_actions[0].choices["eval"]._actions
                    if action.dest == "task")
    assert list(evaluate.choices) == [*TASKS, "civility_signal", "tier"]  # eval/signal.py, eval/tiers.py


def test_the_judges_page_names_every_dimension_of_the_table():
    page = render_page("c1", "nonce")
    for spec in DIMENSIONS.values():
        assert f"[&quot;{spec.name}&quot;, &quot;{spec.label_zh}&quot;]" in page
        for field, label in spec.parts:  # a score's parts, shown apart under it
            assert f"[&quot;{spec.name}.{field}&quot;, &quot;{label}&quot;, &quot;part&quot;]" in page
    assert "__DIMENSIONS__" not in page


def test_every_part_of_a_dimension_is_a_field_of_its_result():
    from quality import schemas

    assert DIMENSIONS["composition"].parts  # the photo score shows perceived quality and composition apart
    for spec in DIMENSIONS.values():
        fields = getattr(schemas, spec.result).model_fields
        assert all(field in fields for field, _ in spec.parts), spec.name


def test_score_flags_read_only_their_rules():
    rules = {"low_clarity": ScoreFlag(dimension="clarity", below=0.4)}
    assert score_flags(rules, {"clarity": 0.39}) == ["low_clarity"]
    assert score_flags(rules, {"clarity": 0.4}) == []
    assert score_flags(rules, {"clarity": None}) == [] and score_flags(rules, {}) == []


def _service_with_cut_off(tmp_path, below: float) -> QualityService:
    data = yaml.safe_load(DEFAULT_RUBRIC.read_text(encoding="utf-8"))
    data["flags"]["result"]["uncivil_language"]["below"] = below
    path = tmp_path / f"rubric-{below}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return QualityService(Settings(rubric_path=path))


def test_the_uncivil_language_flag_moves_with_the_rubric_cut_off(service, tmp_path):
    from quality.schemas import Parent, Post

    patient = Post(kind="reply", text=PATIENT_REPLY, parent=Parent(text=NEWCOMER_QUESTION, author_is_newcomer=True))
    rude = Post(kind="reply", text=DISMISSIVE_REPLY, parent=Parent(text=NEWCOMER_QUESTION, author_is_newcomer=True))
    default = [service.score(post) for post in (patient, rude)]
    civility = [result.dimensions.civility.score for result in default]
    cut_off = round((civility[0] + civility[1]) / 2, 6)  # between the two replies
    assert civility[1] < cut_off < civility[0]
    moved = _service_with_cut_off(tmp_path, cut_off)
    moved._scorers = service.scorers  # the same models: only the rubric differs
    flagged = ["uncivil_language" in moved.score(post).flags for post in (patient, rude)]
    assert flagged == [False, True]
    strict = _service_with_cut_off(tmp_path, 0.999999)
    strict._scorers = service.scorers
    assert "uncivil_language" in strict.score(patient).flags
