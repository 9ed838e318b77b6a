"""The member layer's two budgets (issue 19), on synthetic pre-scored histories:

- one member with 1,000 pre-scored activities: `POST /members/profile`'s work in process
  (the JSON body validated, facts, profile, the answer serialised), beside the profile alone
  from facts already read;
- `quality members` over a community export of 1,000,000 pre-scored activities of 10,000
  members, as a subprocess (reading, profiles, writing), beside the time to only parse the
  file's JSON lines in the same run.

Content activities carry real `ScoreResult`s from the service (one post, one reply, scored once),
their audition, civility and post kind varied per activity, so the lines are as long as a real
export's. Activity kinds are mixed as a community's would be: mostly votes and likes.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

CST = timezone(timedelta(hours=8))
AS_OF = datetime(2026, 12, 1, 23, 0, tzinfo=CST)
KINDS = (("vote", 0.35), ("like_given", 0.2), ("like_received", 0.12), ("reply", 0.15), ("comment", 0.05),
         ("post", 0.1), ("event_attended", 0.03))
POST_KINDS = ("guide", "event", "rebuttal", "showcase", "question", "other")


def score_templates() -> tuple[dict, dict]:
    """A real ScoreResult of a post and of a reply (the service, once)."""
    from quality.schemas import Parent, Post
    from quality.service import QualityService

    service = QualityService()
    post, reply = service.score_batch([
        Post(title="提车三个月的真实油耗", text="首先说结论：高速油耗6.2L，市区8.1L。其次，空间够一家三口用，后排能放儿童座椅。"),
        Post(kind="reply", text="新手问题也别嫌烦：首保一般5000公里或6个月，先到为准。",
             parent=Parent(text="新手提问：第一次保养什么时候做？", author_is_newcomer=True))])
    return post.model_dump(mode="json"), reply.model_dump(mode="json")


def _varied(template: dict, rng: random.Random, kind: str) -> dict:
    score = json.loads(json.dumps(template))
    audition = round(rng.uniform(30, 90), 2)
    score["audition"]["score"] = audition
    score["audition"]["band"] = ("featured" if audition >= 75 else "promising" if audition >= 60
                                 else "ordinary" if audition >= 40 else "low")
    label = rng.choices(("constructive", "neutral", "uncivil"), (0.5, 0.4, 0.1))[0]
    score["civility_signal"]["label"] = label
    score["civility_signal"]["score"] = {"constructive": 0.85, "neutral": 0.5, "uncivil": 0.1}[label]
    if kind == "post":
        chosen = rng.choice(POST_KINDS)
        p = round(rng.uniform(0.3, 0.99), 3)
        score["post_kind"] = {"label": chosen, "scores": {k: (p if k == chosen else round((1 - p) / 5, 3))
                                                          for k in POST_KINDS}}
    return score


def activities(member: str, n: int, templates: tuple[dict, dict], rng: random.Random) -> list[dict]:
    names, weights = zip(*KINDS)
    out = []
    for i in range(n):
        kind = rng.choices(names, weights)[0]
        at = AS_OF - timedelta(days=rng.uniform(0, 400))
        activity = {"id": f"{member}-{i}", "at": at.isoformat(timespec="seconds"), "kind": kind}
        if kind == "post":
            activity["score"] = _varied(templates[0], rng, kind)
            if rng.random() < 0.3:
                activity["task"] = {"id": "t-2026-11-long-trip", "tier": "advanced"}
        elif kind in ("reply", "comment"):
            activity["score"] = _varied(templates[1], rng, kind)
            activity["other_member"] = f"m{rng.randrange(10_000)}"
        elif kind == "like_received":
            activity["other_member"] = f"m{rng.randrange(10_000)}"
        out.append(activity)
    return out


def write_export(path: Path, members: int, per_member: int, templates, seed: int = 19) -> int:
    """A community export: one activity per line with its member_id, members interleaved."""
    rng = random.Random(seed)
    lines = 0
    with open(path, "w", encoding="utf-8") as handle:
        for start in range(0, members, 100):  # 100 members at a time, their lines shuffled together
            block = []
            for m in range(start, min(start + 100, members)):
                block += [dict(a, member_id=f"m{m}") for a in activities(f"m{m}", per_member, templates, rng)]
            rng.shuffle(block)
            handle.writelines(json.dumps(a, ensure_ascii=False) + "\n" for a in block)
            lines += len(block)
    return lines


def one_member(templates, runs: int = 30, n: int = 1000) -> dict:
    """p50 of one profile of a member with n pre-scored activities: from the JSON body, and from facts."""
    from quality.members.profile import build_profile
    from quality.members.schemas import ProfileRequest
    from quality.members.scoring import facts_of
    from quality.rubric.config import load_rubric
    from quality.settings import Settings

    rubric = load_rubric(Settings().rubric_path)
    body = json.dumps({"member_id": "m1", "as_of": AS_OF.isoformat(),
                       "activities": activities("m1", n, templates, random.Random(7))}, ensure_ascii=False)
    whole, profile_only = [], []
    for _ in range(runs):
        started = time.perf_counter()
        request = ProfileRequest.model_validate_json(body)
        facts = facts_of(request.activities, {}, rubric)
        middle = time.perf_counter()
        profile = build_profile(request.member_id, facts, rubric, request.as_of, None, "bench")
        profile.model_dump_json()
        ended = time.perf_counter()
        whole.append((ended - started) * 1000)
        profile_only.append((ended - middle) * 1000)
    return {"activities": n, "runs": runs, "body_kb": round(len(body.encode()) / 1024, 1),
            "p50_ms": round(statistics.median(whole), 2), "profile_from_facts_p50_ms":
            round(statistics.median(profile_only), 2), "tier": profile.tier.suggested}


def export_run(templates, members: int = 10_000, per_member: int = 100, folder: Path | None = None) -> dict:
    """`quality members` on a fresh export; the reference: parsing its lines with json.loads."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        export, out = Path(tmp) / "export.jsonl", Path(tmp) / "profiles.jsonl"
        started = time.perf_counter()
        lines = write_export(export, members, per_member, templates)
        written_s = time.perf_counter() - started
        started = time.perf_counter()
        with open(export, "rb") as handle:
            for line in handle:
                json.loads(line)
        parse_s = time.perf_counter() - started
        quality = Path(sys.executable).parent / "quality"
        started = time.perf_counter()
        subprocess.run([str(quality), "members", str(export), "-o", str(out), "--as-of", "2026-12-01", "--quiet"],
                       check=True, stderr=subprocess.DEVNULL, env={**os.environ})
        seconds = time.perf_counter() - started
        with open(out, "rb") as handle:
            profiles = sum(1 for _ in handle)
        return {"activities": lines, "members": members, "profiles": profiles,
                "export_mb": round(export.stat().st_size / 2**20, 1), "seconds": round(seconds, 1),
                "json_loads_only_s": round(parse_s, 1), "write_export_s": round(written_s, 1)}


def member_suite(scale: float, progress) -> dict:
    templates = score_templates()
    progress("members: one member, 1,000 pre-scored activities")
    results = {"one_member_1000": one_member(templates, runs=max(5, round(30 * scale)))}
    members = max(100, round(10_000 * scale))
    progress(f"members: quality members over {members * 100:,} activities of {members:,} members")
    results["export"] = export_run(templates, members=members)
    return results
