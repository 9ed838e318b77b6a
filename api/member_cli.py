"""`quality members IN [-o OUT] [--as-of DATE] [--engine ray]`: a community export (one activity
per line with its `member_id`) to one `MemberProfile` per line, by member id."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

def parse_as_of(text: str) -> datetime:
    """--as-of: quality.members.dates.parse_as_of, as an argparse type."""
    from quality.members.dates import parse_as_of as parse

    try:
        return parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date (2026-11-30) or a datetime with offset: {error}") from None


def add_members_command(commands, add_engine_arguments) -> None:
    members = commands.add_parser(
        "members", help="a community export (one activity per line with its member_id) to one profile per member")
    members.add_argument("input", type=Path, help="JSONL: one Activity per line, with member_id")
    members.add_argument("-o", "--output", type=Path, default=None, help="JSONL of profiles (default stdout)")
    members.add_argument("--as-of", type=parse_as_of, default=None,
                         help="the profiles' date: 2026-11-30 (end of day, UTC+08:00) or a datetime with offset "
                              "(default: now)")
    members.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine_arguments(members)
    members.set_defaults(handler=cmd_members)


def cmd_members(args: argparse.Namespace) -> int:
    from datetime import UTC

    as_of = args.as_of or datetime.now(UTC)
    if getattr(args, "engine", "local") == "ray":
        from ray_apps.member_jobs import profiles_on_ray  # imports ray only when it runs

        lines = profiles_on_ray(args.input, as_of, address=args.ray_address, workers=args.workers)
        return _write(args.output, lines)
    from tqdm import tqdm

    from quality.errors import QualityError
    from quality.manifest import load_manifest, models_version
    from quality.members.export import Histories, profiles, score_unscored
    from quality.rubric.config import load_rubric
    from quality.settings import Settings

    settings = Settings()
    histories = Histories(load_rubric(settings.rubric_path))
    try:
        with open(args.input, "rb") as handle, tqdm(total=os.path.getsize(args.input), unit="B", unit_scale=True,
                                                    desc="reading", file=sys.stderr, disable=args.quiet) as bar:
            histories.add_lines(_counted(handle, bar))
        if histories.unscored:
            from quality.service import QualityService

            service = QualityService(settings)
            with tqdm(total=histories.unscored_count(), unit="post", desc="scoring", file=sys.stderr,
                      disable=args.quiet) as bar:
                score_unscored(histories, service, bar.update)
            version = service.models_version
        else:
            version = models_version(load_manifest(settings.manifest_path))
    except QualityError as error:
        print(f"quality members: {args.input}: {error.message}", file=sys.stderr)
        return 2
    members = histories.members
    with tqdm(total=len(members), unit="member", desc="profiles", file=sys.stderr, disable=args.quiet) as bar:
        lines = (_counted_line(profile.model_dump_json(), bar) for profile in profiles(histories, as_of, version))
        status = _write(args.output, lines)
    print(f"{len(members)} members, {histories.read} activities"
          + (f", {histories.repeated} repeated activity ids skipped" if histories.repeated else ""), file=sys.stderr)
    return status


def _counted(handle, bar):
    for line in handle:
        bar.update(len(line))
        yield line


def _counted_line(line: str, bar) -> str:
    bar.update(1)
    return line


def _write(output: Path | None, lines) -> int:
    """Every line to OUT (written whole, then renamed into place) or stdout."""
    if output is None:
        for line in lines:
            sys.stdout.write(line + "\n")
        return 0
    partial = output.with_name(output.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
    partial.replace(output)
    return 0
