"""The `quality` command line: serve, score files, list models."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from quality.errors import ModelIntegrityError, QualityError, RubricError

CHUNK = 64  # posts scored together: big enough to batch the encoder, small enough to stream


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from quality.settings import Settings

    settings = Settings()
    host = args.host or settings.host
    port = args.port or settings.port
    if not is_loopback(host):
        # API keys arrive with the auth work (issue 10); until then only loopback is safe.
        print(f"refusing to bind {host}: only loopback addresses are served until API keys are supported",
              file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
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


def _error_record(row: dict | Exception, error: Exception) -> dict:
    row_id = row.get("id") if isinstance(row, dict) else None
    if isinstance(error, QualityError):
        body = error.to_dict()
    elif isinstance(error, ValidationError):
        first = error.errors()[0]
        body = {"code": "invalid_input", "message": first["msg"],
                "field": ".".join(str(p) for p in first["loc"]) or None}
    else:
        body = {"code": "invalid_input", "message": str(error), "field": None}
    return {"id": row_id, "error": body}


def score_rows(service, rows: list[dict | Exception]) -> list[dict]:
    """Score a chunk together; if any row is bad, score the rest one by one so only it fails."""
    from quality.schemas import Post

    try:
        posts = [Post.model_validate(row) if isinstance(row, dict) else None for row in rows]
        if all(post is not None for post in posts):
            return [r.model_dump(mode="json") for r in service.score_batch(posts, batch_field=None)]
    except (QualityError, ValidationError):
        pass
    out = []
    for row in rows:
        try:
            if isinstance(row, Exception):
                raise row
            out.append(service.score(Post.model_validate(row)).model_dump(mode="json"))
        except (QualityError, ValidationError, ValueError) as error:
            out.append(_error_record(row, error))
    return out


def cmd_score(args: argparse.Namespace) -> int:
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
    for record in score_rows(service, chunk):
        output.write(json.dumps(record, ensure_ascii=False) + "\n")
        if "error" in record:
            n_failed += 1
        else:
            n_ok += 1
    progress.update(len(chunk))
    return n_ok, n_failed


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
    from eval.data import LabelFileError
    from eval.run import main_eval
    from quality.service import QualityService
    from quality.settings import Settings

    try:
        return main_eval(QualityService(Settings()), args)
    except LabelFileError as error:
        print(f"quality eval: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quality", description="Content-quality scoring for brand communities.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="default QUALITY_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default QUALITY_PORT or 8000")
    serve.set_defaults(handler=cmd_serve)

    score = commands.add_parser("score", help="score a JSONL/CSV/Parquet file of posts")
    score.add_argument("input", type=Path)
    score.add_argument("-o", "--output", type=Path, default=None, help="JSONL of results (default stdout)")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.add_argument("--fail-on-error", action="store_true", help="exit 1 if any post could not be scored")
    score.set_defaults(handler=cmd_score)

    evaluate = commands.add_parser("eval", help="evaluate against human labels; last stdout line is JSON")
    evaluate.add_argument("--task", required=True,
                          choices=["civility", "politeness", "clarity", "sincerity", "helpfulness", "audition"])
    evaluate.add_argument("--data", type=Path, required=True, help="CSV, JSONL or Parquet")
    evaluate.add_argument("--text-col", default=None, help="default: text (Request for politeness)")
    evaluate.add_argument("--label-col", default=None, help="default: label (Normalized Score for politeness)")
    evaluate.add_argument("--group-col", default=None, help="per-group metrics, worst first")
    evaluate.add_argument("--parent-col", default=None, help="parent message of replies")
    evaluate.add_argument("--threshold", type=float, default=0.5, help="decision threshold for binary labels")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(handler=cmd_eval)

    models = commands.add_parser("models", help="every model in use, with version, source, sha256, licence")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=cmd_models)
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
