"""`quality members --engine ray`: profiles for exports that do not fit one machine.

Ray Data reads the export as lines, tags each with its `member_id`, groups the lines by member
(a shuffle: one member's history ends up in one group wherever its lines were) and builds each
group's profiles with `quality.members.export` -- the same code as the local engine, so both
give the same profiles. Content without a score is scored in the worker that holds its member,
with models loaded once per worker, on first need. The driver streams the profiles back in
member order. The input must be on storage every node sees at the same path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from ray_apps import require_ray
from ray_apps.cluster import connect


def _with_member(batch: dict) -> dict:
    lines = [line for line in batch["text"] if line.strip()]
    members = []
    for line in lines:
        try:
            members.append(str(json.loads(line).get("member_id", "")))
        except (ValueError, AttributeError):
            members.append("")  # the group's parse names the bad line
    return {"member_id": members, "text": lines}


class _Profiles:
    """One Ray worker: a group of lines (one member's, or several) to profile lines."""

    def __init__(self, as_of: str):
        from quality.manifest import load_manifest, models_version
        from quality.rubric.config import load_rubric
        from quality.settings import Settings

        self.settings = Settings()
        self.rubric = load_rubric(self.settings.rubric_path)
        self.as_of = datetime.fromisoformat(as_of)
        self.version = models_version(load_manifest(self.settings.manifest_path))
        self.service = None

    def __call__(self, group: dict) -> dict:
        from quality.members.export import Histories, profiles, score_unscored

        histories = Histories(self.rubric)
        histories.add_lines(list(group["text"]))
        if histories.unscored:
            if self.service is None:
                from quality.service import QualityService

                self.service = QualityService(self.settings)
            score_unscored(histories, self.service)
        out = [(profile.member_id, profile.model_dump_json())
               for profile in profiles(histories, self.as_of, self.version)]
        return {"member_id": [m for m, _ in out], "profile": [p for _, p in out]}


def profiles_on_ray(path: Path, as_of: datetime, *, address: str | None = None,
                    workers: int | None = None) -> Iterator[str]:
    """Profile lines (JSON), by member id."""
    ray = require_ray()
    started = connect(address)
    try:
        import ray.data

        lines = ray.data.read_text(str(Path(path).resolve()))
        tagged = lines.map_batches(_with_member, batch_format="numpy")
        grouped = tagged.groupby("member_id").map_groups(
            _Profiles, fn_constructor_kwargs={"as_of": as_of.isoformat()}, batch_format="numpy",
            concurrency=workers or 1)
        for row in grouped.sort("member_id").iter_rows():
            yield row["profile"]
    finally:
        if started != "existing":
            ray.shutdown()
