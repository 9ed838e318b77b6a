"""`quality members`: a community export to one profile per member, on this machine and on Ray
Data (the same profiles), with the export's errors named by line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from api.cli import main as quality
from quality.members.schemas import MemberProfile, ProfileRequest
from quality.members.service import MemberService
from tests.conftest import NEWCOMER_QUESTION, PATIENT_REPLY

CST = timezone(timedelta(hours=8))
AS_OF = "2026-11-30"  # the end of that day in UTC+08:00


def export_lines() -> list[dict]:
    lines = []
    for m in range(4):
        for d in range(6 + 3 * m):
            lines.append({"member_id": f"m{m}", "id": f"v{d}", "at": f"2026-11-{1 + d:02d}T20:00:00+08:00",
                          "kind": "vote"})
        lines.append({"member_id": f"m{m}", "id": "l1", "at": "2026-11-20T08:00:00+08:00", "kind": "like_received",
                      "other_member": f"m{(m + 1) % 4}"})
    # content without a score: scored once, by the service
    lines.append({"member_id": "m1", "id": "r1", "at": "2026-11-21T21:00:00+08:00", "kind": "reply",
                  "post": {"kind": "reply", "text": PATIENT_REPLY,
                           "parent": {"text": NEWCOMER_QUESTION, "author_is_newcomer": True}}})
    lines.append({"member_id": "m2", "id": "p1", "at": "2026-11-22T21:00:00+08:00", "kind": "post",
                  "post": {"title": "本周六怀柔自驾，报名接龙", "text": "本周六上午9点奥森北门集合，费用AA，名额20个，报名接龙。"}})
    lines.reverse()  # members interleaved, not in order
    return lines


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    path = tmp_path_factory.mktemp("members") / "export.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in export_lines()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def local_profiles(export, tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("members-out") / "profiles.jsonl"
    assert quality(["members", str(export), "-o", str(out), "--as-of", AS_OF, "--quiet"]) == 0
    return out.read_text(encoding="utf-8").splitlines()


def test_one_profile_per_member_in_member_order_as_the_api_gives(local_profiles, service):
    profiles = [MemberProfile.model_validate_json(line) for line in local_profiles]
    assert [p.member_id for p in profiles] == ["m0", "m1", "m2", "m3"]
    assert all(p.as_of == datetime(2026, 11, 30, 23, 59, 59, tzinfo=CST) for p in profiles)
    # The same member through the stateless API path gives the same profile.
    m1 = [line for line in export_lines() if line["member_id"] == "m1"]
    request = ProfileRequest(member_id="m1", as_of=profiles[1].as_of,
                             activities=[{k: v for k, v in line.items() if k != "member_id"} for line in m1])
    assert MemberService(service).profile(request) == profiles[1]
    assert profiles[1].stages.interaction.figures["replies"] == 1
    assert profiles[2].stages.initiative.evidence[0].activity == "p1"


def test_a_bad_line_is_named_and_nothing_is_written(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"member_id": "m", "id": "a", "at": "2026-11-02T20:15:00+08:00", "kind": "vote"})
                    + "\n" + json.dumps({"member_id": "m", "id": "b", "at": "2026-11-02T20:15:00+08:00",
                                         "kind": "purchase"}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert quality(["members", str(path), "-o", str(out), "--quiet"]) == 2
    assert "line 2" in capsys.readouterr().err
    assert not out.exists()


def test_a_repeated_activity_is_read_once(tmp_path, capsys):
    line = json.dumps({"member_id": "m", "id": "a", "at": "2026-11-02T20:15:00+08:00", "kind": "vote"})
    path = tmp_path / "twice.jsonl"
    path.write_text(line + "\n" + line + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert quality(["members", str(path), "-o", str(out), "--as-of", AS_OF, "--quiet"]) == 0
    assert "1 repeated activity ids skipped" in capsys.readouterr().err
    profile = MemberProfile.model_validate_json(out.read_text(encoding="utf-8"))
    assert profile.stages.participation.figures["interactions_100"] == 1


def test_a_date_without_an_offset_is_refused():
    with pytest.raises(SystemExit):
        quality(["members", "x.jsonl", "--as-of", "2026-11-30T10:00:00"])


@pytest.mark.slow
def test_ray_data_gives_the_same_profiles(export, local_profiles, tmp_path):
    pytest.importorskip("ray")
    import ray

    from ray_apps import RayUnavailable
    from ray_apps.cluster import start_local

    if not ray.is_initialized():
        try:
            start_local(num_cpus=2)
        except RayUnavailable as error:
            pytest.skip(f"Ray cannot start here: {error}")
    try:
        out = tmp_path / "profiles.jsonl"
        assert quality(["members", str(export), "-o", str(out), "--as-of", AS_OF, "--quiet", "--engine", "ray"]) == 0
        assert out.read_text(encoding="utf-8").splitlines() == local_profiles
    finally:
        ray.shutdown()
