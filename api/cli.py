"""The `quality` command line: serve, score files, list models, evaluate and train, fill the photo store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from api.member_cli import add_members_command
from eval.data import add_graded_post_arguments
from eval.tasks import TASKS
from quality.errors import ModelIntegrityError, QualityError, RubricError
from train.targets import TRAIN_TARGETS

CHUNK = 64  # posts scored together: big enough to batch the encoder, small enough to stream
# Files looked at when `quality photos import` walks a directory (a named file is always tried).
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from quality.settings import Settings

    from api.auth import InvalidApiKeys, is_loopback, parse_api_keys
    from api.quotas import InvalidLimits, KeyLimits

    settings = Settings()
    host = args.host or settings.host
    port = args.port or settings.port
    try:
        api_keys = parse_api_keys(settings.api_keys)
    except InvalidApiKeys as error:
        print(f"quality serve: {error}", file=sys.stderr)
        return 2
    if not is_loopback(host) and not api_keys and not settings.open_access:
        print(f"quality serve: refusing to bind {host} without API keys: set QUALITY_API_KEYS "
              "(make keys with `quality keys new --scope ...`), serve a loopback address, or set "
              "QUALITY_OPEN_ACCESS=true to serve anyone (each client address then gets QUALITY_ADDRESS_LIMITS)",
              file=sys.stderr)
        return 2
    try:
        KeyLimits.parse(settings.address_limits)
    except InvalidLimits as error:
        print(f"quality serve: QUALITY_ADDRESS_LIMITS: {error}", file=sys.stderr)
        return 2
    # The app is told the address it is served on: without keys, a non-loopback one gets budgets.
    uvicorn.run(create_app(settings.model_copy(update={"host": host})), host=host, port=port, log_level="info")
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    """A new random API key, printed once (stdout line 1), and its QUALITY_API_KEYS entry (line 2)."""
    from api.auth import InvalidApiKeys, new_key
    from api.quotas import InvalidLimits, KeyLimits

    try:
        limits = KeyLimits.parse(";".join(f"{name}={value:g}" for name, value in (
            ("rate", args.rate), ("burst", args.burst), ("posts_per_day", args.posts_per_day)) if value is not None))
        key, entry = new_key(args.scope, args.name, limits)
    except (InvalidLimits, InvalidApiKeys) as error:
        print(f"quality keys: {error}", file=sys.stderr)
        return 2
    print(key)
    print(entry)
    print("line 1: the key, shown only now: give it to its user (Authorization: Bearer <key>).\n"
          "line 2: add it to QUALITY_API_KEYS (comma- or newline-separated); only its hash is stored.",
          file=sys.stderr)
    return 0


def read_posts(path: Path) -> Iterator[dict | Exception]:
    """Rows of a JSONL, CSV or Parquet file as dicts; a row that does not parse yields its error."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        with open(path, encoding="utf-8", errors="strict") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    yield ValueError(f"line {number}: not JSON ({error.msg})")
    elif suffix == ".csv":
        import csv

        with open(path, encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                yield {key: value for key, value in row.items() if value not in (None, "")}
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
            yield from batch.to_pylist()
    else:
        raise SystemExit(f"unsupported input {path}: use .jsonl, .csv or .parquet")


def count_rows(path: Path) -> int | None:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    return None


def cmd_score(args: argparse.Namespace) -> int:
    if getattr(args, "engine", "local") == "ray":
        from ray_apps.data_jobs import cmd_score_ray  # imports ray only when it runs

        return cmd_score_ray(args)
    from tqdm import tqdm

    from quality.service import QualityService
    from quality.settings import Settings

    service = QualityService(Settings())
    total = count_rows(args.input)
    output = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    n_ok = n_failed = 0
    try:
        with tqdm(total=total, unit="post", desc="scoring", file=sys.stderr, disable=args.quiet) as progress:
            chunk: list = []
            for row in read_posts(args.input):
                chunk.append(row)
                if len(chunk) == CHUNK:
                    n_ok, n_failed = _flush(service, chunk, output, progress, n_ok, n_failed)
                    chunk = []
            if chunk:
                n_ok, n_failed = _flush(service, chunk, output, progress, n_ok, n_failed)
    finally:
        if args.output:
            output.close()
    print(f"scored {n_ok} posts, {n_failed} failed", file=sys.stderr)
    return 1 if (n_failed and args.fail_on_error) else 0


def _flush(service, chunk, output, progress, n_ok, n_failed):
    from quality.records import score_rows

    for record in score_rows(service, chunk):
        output.write(json.dumps(record, ensure_ascii=False) + "\n")
        if "error" in record:
            n_failed += 1
        else:
            n_ok += 1
    progress.update(len(chunk))
    return n_ok, n_failed


def _read_judgements(path: Path):
    """Preferences and direct scores from a JSONL/CSV file of PairJudgement / ScoreJudgement rows."""
    from pydantic import TypeAdapter

    from quality.contests.ranking import DirectScore, Preference
    from quality.contests.schemas import Judgement, PairJudgement

    adapter = TypeAdapter(Judgement)
    preferences, scores = [], []
    for number, row in enumerate(read_posts(path), 1):
        if isinstance(row, Exception):
            raise SystemExit(f"quality rank: {path}: {row}")
        try:
            judgement = adapter.validate_python(row)
        except ValidationError as error:
            raise SystemExit(f"quality rank: {path} row {number}: {error.errors()[0]['msg']}") from error
        if isinstance(judgement, PairJudgement):
            preferences.append(Preference(winner=judgement.winner, loser=judgement.loser, judge=judgement.judge))
        else:
            scores.append(DirectScore(entry=judgement.entry, score=judgement.score, judge=judgement.judge))
    return preferences, scores


def cmd_rank(args: argparse.Namespace) -> int:
    from quality.contests.service import rank_posts
    from quality.records import error_record
    from quality.schemas import Post
    from quality.service import QualityService
    from quality.settings import Settings

    settings = Settings()
    service = QualityService(settings)
    posts, failed = [], 0
    for number, row in enumerate(read_posts(args.input), 1):
        try:
            if isinstance(row, Exception):
                raise row
            post = Post.model_validate(row)
            posts.append(post if post.id else post.model_copy(update={"id": str(number)}))
        except (ValidationError, ValueError) as error:
            failed += 1
            print(f"row {number} not ranked: {json.dumps(error_record(row, error)['error'], ensure_ascii=False)}",
                  file=sys.stderr)
    preferences, scores = _read_judgements(args.judgements) if args.judgements else ([], [])
    try:
        ranking, not_scored = rank_posts(service, posts, args.theme, k=args.top_k or settings.ranking_top_k,
                                bootstrap=args.bootstrap or settings.ranking_bootstrap, preferences=preferences,
                                scores=scores)
    except (QualityError, ValueError) as error:
        print(f"quality rank: {error}", file=sys.stderr)
        return 2
    for entry_id, error in not_scored:
        failed += 1
        print(f"entry {entry_id} not ranked: {json.dumps(error.to_dict(), ensure_ascii=False)}", file=sys.stderr)
    if not ranking.entries:
        print("quality rank: no post could be scored", file=sys.stderr)
        return 1
    output = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.json:
            output.write(ranking.model_dump_json() + "\n")
        else:
            for entry in ranking.entries:
                output.write(entry.model_dump_json() + "\n")
    finally:
        if args.output:
            output.close()
    pair = ranking.next_pair
    print(f"ranked {len(ranking.entries)} entries for {args.theme!r} ({ranking.method}), {failed} not ranked"
          + (f"; compare next: {pair.a} vs {pair.b} ({pair.why})" if pair else ""), file=sys.stderr)
    return 1 if (failed and args.fail_on_error) else 0


def cmd_models(args: argparse.Namespace) -> int:
    from quality.service import QualityService
    from quality.settings import Settings

    service = QualityService(Settings())
    if args.json:
        print(json.dumps([m.model_dump() for m in service.model_infos()], ensure_ascii=False, indent=2))
        return 0
    print(f"models {service.models_version}   rubric {service.rubric.version} (sha256 {service.rubric.sha256[:12]})")
    print(f"checksums verified: {service.store.checksums_verified}")
    for model in service.model_infos():
        print(f"\n{model.name}  v{model.version}  [{model.kind}]\n  source:  {model.source}\n"
              f"  files:   {model.file}\n  sha256:  {model.sha256}\n  licence: {model.licence}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.task == "tier":
        return cmd_eval_tiers(args)
    from eval.data import LabelFileError
    from eval.run import main_eval
    from quality.service import QualityService
    from quality.settings import Settings

    def service_for(models_dir: Path | None) -> QualityService:
        return QualityService(Settings(**({"models_dir": models_dir} if models_dir else {})))

    try:
        compare = service_for(args.compare_models_dir) if args.compare_models_dir else None
        service = service_for(args.models_dir)
        if getattr(args, "engine", "local") == "ray":
            from ray_apps import RayUnavailable
            from ray_apps.data_jobs import ray_scored_eval

            try:
                with ray_scored_eval(service, args, compare_service=compare):  # scores on Ray, then metrics here
                    return main_eval(service, args, compare_service=compare)
            except RayUnavailable as error:
                print(f"quality eval: {error}", file=sys.stderr)
                return 2
        return main_eval(service, args, compare_service=compare)
    except LabelFileError as error:
        print(f"quality eval: {error}", file=sys.stderr)
        return 2


def cmd_eval_tiers(args: argparse.Namespace) -> int:
    from eval.data import LabelFileError
    from eval.tiers import evaluate_tiers, print_tier_table
    from quality.errors import QualityError
    from quality.rubric.config import load_rubric
    from quality.settings import Settings

    if args.activities is None or not args.activities.is_file():
        print("quality eval: --task tier needs --activities EXPORT (one activity per line with member_id)",
              file=sys.stderr)
        return 2
    settings = Settings()

    def service():
        from quality.service import QualityService

        return QualityService(settings)

    try:
        report = evaluate_tiers(args.data, args.activities, load_rubric(settings.rubric_path), service)
    except (LabelFileError, QualityError) as error:
        print(f"quality eval: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    print_tier_table(report)
    print(json.dumps(report, ensure_ascii=False))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """The audit trail (quality.contests.audit), oldest first, one JSON object per line."""
    from quality.contests.audit import AuditLog
    from quality.errors import QualityError
    from quality.settings import Settings

    with AuditLog.from_url(Settings().contest_database_url) as log:
        after, left = args.after, args.limit
        try:
            while left is None or left > 0:
                page = log.page(after, min(1000, left) if left is not None else 1000)
                for entry in page.entries:
                    print(entry.model_dump_json())
                if left is not None:
                    left -= len(page.entries)
                if page.next_after is None:
                    break
                after = page.next_after
        except QualityError as error:
            print(f"quality audit: {error.message}", file=sys.stderr)
            return 2
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    return TRAIN_TARGETS[args.target].load().main(args)


def photo_files(paths: list[Path]) -> Iterator[Path]:
    """The named files, and the photos under the named directories (recursively, sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        else:
            yield path


def _photo_store_path(args: argparse.Namespace, settings) -> Path | None:
    path = args.store or settings.photo_store
    if path is None:
        print("quality photos: no photo store: set QUALITY_PHOTO_STORE or pass --store", file=sys.stderr)
    return path


def cmd_photos_import(args: argparse.Namespace) -> int:
    """Hash each photo as the scorer does and store it; a file that cannot be read is skipped."""
    from tqdm import tqdm

    from quality.image import decode_image
    from quality.image.duplicates import photo_phash
    from quality.image.photo_store import PhotoHashStore
    from quality.settings import Settings

    missing = [path for path in args.paths if not path.exists()]
    if missing:
        print(f"quality photos: no such file or directory: {missing[0]}", file=sys.stderr)
        return 2
    settings = Settings()
    store_path = _photo_store_path(args, settings)
    if store_path is None:
        return 2
    limits = settings.limits
    files = list(photo_files(args.paths))
    n_new = n_known = n_skipped = 0
    progress = tqdm(files, unit="photo", desc="importing", file=sys.stderr, disable=args.quiet)
    with PhotoHashStore(store_path) as store, progress:
        for path in progress:
            try:
                image = decode_image(path.read_bytes(), max_bytes=limits.max_image_bytes,
                                     max_pixels=limits.max_image_pixels)
            except (OSError, QualityError) as error:
                progress.write(f"skipped {path}: {getattr(error, 'message', error)}", file=sys.stderr)
                n_skipped += 1
                continue
            if store.add([photo_phash(image)], post_id=None, source=f"imported:{path.resolve()}"):
                n_new += 1
            else:
                n_known += 1
    print(f"imported {n_new} photos ({n_known} already stored), {n_skipped} skipped; "
          f"{len(store)} in {store.path}", file=sys.stderr)
    return 0


def cmd_photos_stats(args: argparse.Namespace) -> int:
    from quality.image.photo_store import PhotoHashStore
    from quality.settings import Settings

    store_path = _photo_store_path(args, Settings())
    if store_path is None:
        return 2
    if not store_path.is_file():  # opening would create an empty store
        print(f"quality photos: no such file: {store_path}", file=sys.stderr)
        return 2
    with PhotoHashStore(store_path) as store:
        print(f"{len(store)} photos in {store.path}")
    return 0


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine local|ray and where Ray runs (the ray extra: pip install '.[ray]'; see ray_apps)."""
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local: this process; ray: Ray Data workers (JSONL/Parquet in and out, resumable)")
    parser.add_argument("--ray-address", default=None,
                        help="Ray cluster to use, e.g. auto or ray://head:10001 (default RAY_ADDRESS, else a "
                             "local instance on loopback)")
    parser.add_argument("--workers", type=int, default=None,
                        help="Ray workers, each QUALITY_RAY_WORKER_CPUS CPUs (default: as many as fit)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quality", description="Content-quality scoring for brand communities.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="default QUALITY_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default QUALITY_PORT or 8000")
    serve.set_defaults(handler=cmd_serve)

    keys = commands.add_parser("keys", help="API keys (QUALITY_API_KEYS; see SECURITY.md)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_new = key_commands.add_parser("new", help="make a key: prints it once, and its QUALITY_API_KEYS entry")
    keys_new.add_argument("--scope", required=True, help="score, judge, admin, or several joined by '+'")
    keys_new.add_argument("--name", default=None, help="who holds it (logged on refusals; A-Z a-z 0-9 _ . @ -)")
    keys_new.add_argument("--rate", type=float, default=None, help="requests per second this key may make (429 past it)")
    keys_new.add_argument("--burst", type=float, default=None, help="requests it may make at once (default 2 x rate)")
    keys_new.add_argument("--posts-per-day", type=int, default=None,
                          help="posts it may have scored per UTC day (429 quota_exceeded past it)")
    keys_new.set_defaults(handler=cmd_keys_new)

    score = commands.add_parser("score", help="score a JSONL/CSV/Parquet file of posts")
    score.add_argument("input", type=Path)
    score.add_argument("-o", "--output", type=Path, default=None, help="JSONL of results (default stdout)")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.add_argument("--fail-on-error", action="store_true", help="exit 1 if any post could not be scored")
    add_engine_arguments(score)
    score.add_argument("--keep-parts", action="store_true",
                       help="with --engine ray: keep OUT.parts/ (one JSONL file per part) after joining them")
    score.set_defaults(handler=cmd_score)

    rank = commands.add_parser("rank", help="suggested ranking of contest entries (a file of posts) for a theme")
    rank.add_argument("input", type=Path, help="JSONL, CSV or Parquet of posts (entry ids: `id`, else line number)")
    rank.add_argument("--theme", required=True, help="the contest theme, e.g. 我的第一次长途旅行")
    rank.add_argument("-o", "--output", type=Path, default=None,
                      help="JSONL of ranked entries, best first (default stdout)")
    rank.add_argument("--judgements", type=Path, default=None,
                      help="JSONL/CSV of judges' {judge, winner, loser} and {judge, entry, score} rows")
    rank.add_argument("--top-k", type=int, default=None, help="k of p_top_k (default QUALITY_RANKING_TOP_K, 3)")
    rank.add_argument("--bootstrap", type=int, default=None, help="bootstrap resamples (default 100)")
    rank.add_argument("--json", action="store_true", help="write the whole ranking as one JSON object")
    rank.add_argument("--fail-on-error", action="store_true", help="exit 1 if any post could not be scored")
    rank.set_defaults(handler=cmd_rank)

    evaluate = commands.add_parser("eval", help="evaluate against human labels; last stdout line is JSON")
    evaluate.add_argument("--task", required=True, choices=[*TASKS, "civility_signal", "tier"],
                          help="civility_signal: the three-way label of replies (eval/signal.py); tier: suggested "
                               "tiers against operators' decisions (DATA: member_id, as_of, tier[, current_tier]; "
                               "with --activities, eval/tiers.py)")
    evaluate.add_argument("--activities", type=Path, default=None,
                          help="with --task tier: the community export (one activity per line with member_id)")
    evaluate.add_argument("--data", type=Path, required=True, help="CSV, JSONL or Parquet")
    evaluate.add_argument("--text-col", default=None, help="default: text (Request for politeness)")
    evaluate.add_argument("--label-col", default=None, help="default: label (Normalized Score for politeness)")
    evaluate.add_argument("--group-col", default=None, help="per-group metrics, worst first")
    evaluate.add_argument("--parent-col", default=None, help="parent message of replies")
    evaluate.add_argument("--threshold", type=float, default=0.5, help="decision threshold for binary labels")
    add_graded_post_arguments(evaluate)
    evaluate.add_argument("--report", type=Path, default=None,
                          help="write an HTML report (plots as SVG, opens offline) into this directory")
    evaluate.add_argument("--pairs", action="store_true",
                          help="DATA holds pairs (better, worse): report pairwise accuracy; for composition the "
                               "columns are image paths relative to DATA's folder")
    evaluate.add_argument("--better-col", default="better", help="with --pairs (default: better)")
    evaluate.add_argument("--worse-col", default="worse", help="with --pairs (default: worse)")
    evaluate.add_argument("--content-col", default=None,
                          help="with --pairs: the median score of the better side per value of this column "
                               "(e.g. content: do good originals of every class score alike?)")
    evaluate.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                          help="only the rows `quality train` held out at this fraction (e.g. 0.2)")
    evaluate.add_argument("--compare-models-dir", type=Path, default=None, metavar="DIR",
                          help="also score the rows with the models in DIR (e.g. before a refit) and report both")
    evaluate.add_argument("--models-dir", type=Path, default=None, help="the models to evaluate (default: "
                          "QUALITY_MODELS_DIR)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine_arguments(evaluate)
    evaluate.set_defaults(handler=cmd_eval)

    train = commands.add_parser("train", help="(re)build a part of the scoring from labelled data")
    targets = train.add_subparsers(dest="target", required=True, metavar="TARGET")
    for target in TRAIN_TARGETS.values():
        target_parser = targets.add_parser(target.name, help=target.help, description=target.help)
        target.load().add_arguments(target_parser)
        target_parser.set_defaults(handler=cmd_train)

    add_members_command(commands, add_engine_arguments)

    audit = commands.add_parser("audit", help="the audit trail of acknowledged writes, oldest first (JSON lines)")
    audit.add_argument("--after", type=int, default=0, help="only entries after this id")
    audit.add_argument("--limit", type=int, default=None, help="at most this many entries")
    audit.set_defaults(handler=cmd_audit)

    models = commands.add_parser("models", help="every model in use, with version, source, sha256, licence")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=cmd_models)

    photos = commands.add_parser("photos", help="the store of photos seen before (duplicate_image)")
    photo_commands = photos.add_subparsers(dest="photos_command", required=True)
    store_option = argparse.ArgumentParser(add_help=False)
    store_option.add_argument("--store", type=Path, default=None, help="SQLite file (default QUALITY_PHOTO_STORE)")
    photos_import = photo_commands.add_parser(
        "import", parents=[store_option], help="add photo files, or every jpg/jpeg/png/webp/gif under directories")
    photos_import.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    photos_import.add_argument("--quiet", action="store_true", help="no progress bar")
    photos_import.set_defaults(handler=cmd_photos_import)
    photos_stats = photo_commands.add_parser("stats", parents=[store_option], help="how many photos, and where")
    photos_stats.set_defaults(handler=cmd_photos_stats)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for path in (getattr(args, "input", None), getattr(args, "data", None)):
        if path is not None and not path.is_file():
            print(f"quality: no such file: {path}", file=sys.stderr)
            return 2
    try:
        return args.handler(args)
    except (ModelIntegrityError, RubricError) as error:
        print(f"quality: cannot start: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
