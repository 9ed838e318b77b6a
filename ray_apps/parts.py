"""Parts of a file of posts: runs of consecutive rows that one Ray worker reads, scores and writes.

A part is a few numbers (a byte range of a JSONL file, or a row range of a Parquet file, with
the line and row it starts at), so planning reads the file once on the driver without keeping
it, and each worker reads only its own rows from the shared file. A part's results go to its
own file, `part-000042.jsonl`, written under a temporary name and renamed when complete: a
part file that exists is finished, which is what makes a job resumable.

Rows are read exactly as `api.cli.read_posts` reads them (the same lines, the same blank-line
skipping, the same "line N: not JSON" errors), so a job's output equals `quality score`'s.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
JOB_FILE = "job.json"


@dataclass(frozen=True)
class Part:
    index: int
    format: str  # "jsonl" | "parquet"
    path: str
    start: int  # jsonl: byte offset; parquet: row
    stop: int  # exclusive
    first_row: int  # index of the part's first post in the whole file
    n_rows: int
    first_line: int = 1  # jsonl: line number of the byte at `start` (as read_posts counts lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Part":
        return cls(**json.loads(text))


def input_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise ValueError(f"the Ray engine reads .jsonl or .parquet files, not {path.name} (convert CSV to JSONL first)")


def output_format(path: Path) -> str:
    return "parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "jsonl"


# -- planning ------------------------------------------------------------------------------
def plan_parts(path: Path, part_rows: int) -> list[Part]:
    """Consecutive parts of about `part_rows` posts each (exactly, unless a JSONL line holds lone
    carriage returns). Parts start at multiples of `part_rows` posts, so with `part_rows` a
    multiple of the CLI's chunk of 64 the posts are batched exactly as `quality score` batches them."""
    if input_format(path) == "parquet":
        return _plan_parquet(path, part_rows)
    return _plan_jsonl(path, part_rows)


def _text_lines(raw: bytes, line_number: int) -> list[str]:
    """The text lines of one b"\\n"-terminated piece of the file, split as a text-mode file splits
    them (universal newlines: \\n, \\r\\n and a lone \\r)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"line {line_number}: not UTF-8 ({error.reason})") from error
    if "\r" not in text:
        return [text]
    return list(io.StringIO(text, newline=None))


def _plan_jsonl(path: Path, part_rows: int) -> list[Part]:
    parts: list[Part] = []
    offset = lines = rows = 0
    start, first_line, first_row, in_part = 0, 1, 0, 0
    with open(path, "rb") as handle:
        for raw in handle:
            pieces = _text_lines(raw, lines + 1)
            offset += len(raw)
            lines += len(pieces)
            posts = sum(1 for piece in pieces if piece.strip())
            rows += posts
            in_part += posts
            if in_part >= part_rows:
                parts.append(Part(len(parts), "jsonl", str(path), start, offset, first_row, in_part, first_line))
                start, first_line, first_row, in_part = offset, lines + 1, rows, 0
    if in_part:
        parts.append(Part(len(parts), "jsonl", str(path), start, offset, first_row, in_part, first_line))
    return parts


def _plan_parquet(path: Path, part_rows: int) -> list[Part]:
    import pyarrow.parquet as pq

    total = pq.ParquetFile(path).metadata.num_rows
    return [Part(i, "parquet", str(path), start, min(start + part_rows, total), start, min(part_rows, total - start))
            for i, start in enumerate(range(0, total, part_rows))]


# -- reading one part ----------------------------------------------------------------------
def read_part(part: Part, chunk: int = 64) -> Iterator[dict | Exception]:
    """The part's rows as dicts, a row that does not parse as its error (as `read_posts`)."""
    if part.format == "parquet":
        yield from _read_parquet_part(part, chunk)
        return
    number = part.first_line
    with open(part.path, "rb") as handle:
        handle.seek(part.start)
        position = part.start
        while position < part.stop:
            raw = handle.readline()
            if not raw:
                break
            position += len(raw)
            for line in _text_lines(raw, number):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        yield ValueError(f"line {number}: not JSON ({error.msg})")
                number += 1


def _read_parquet_part(part: Part, chunk: int) -> Iterator[dict]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(part.path)
    groups, first = [], None
    offset = 0
    for group in range(parquet.metadata.num_row_groups):
        n = parquet.metadata.row_group(group).num_rows
        if offset < part.stop and offset + n > part.start:
            groups.append(group)
            first = offset if first is None else first
        offset += n
    if not groups:
        return
    row = first
    for batch in parquet.iter_batches(batch_size=chunk, row_groups=groups):
        if row + batch.num_rows <= part.start:
            row += batch.num_rows
            continue
        skip = max(0, part.start - row)
        take = min(batch.num_rows, part.stop - row) - skip
        if take > 0:
            yield from batch.slice(skip, take).to_pylist()
        row += batch.num_rows
        if row >= part.stop:
            break


def chunks(rows: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- part files ----------------------------------------------------------------------------
def part_file(parts_dir: Path, index: int) -> Path:
    return Path(parts_dir) / f"part-{index:06d}.jsonl"


def write_part(parts_dir: Path, index: int, lines: Iterable[str]) -> int:
    """Write a part's result lines; the file appears under its final name only when complete."""
    final = part_file(parts_dir, index)
    temporary = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    n = 0
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
                n += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return n


def prepare_parts_dir(parts_dir: Path, key: str, description: dict) -> bool:
    """Make `parts_dir` hold the parts of the job `key`. Parts of another job (other input, models,
    rubric, settings or part size) are removed. True when finished parts of this job were kept."""
    parts_dir = Path(parts_dir)
    job_path = parts_dir / JOB_FILE
    if job_path.is_file():
        try:
            same = json.loads(job_path.read_text(encoding="utf-8")).get("key") == key
        except ValueError:
            same = False
        if same:
            return any(parts_dir.glob("part-*.jsonl"))
    if parts_dir.exists():
        for stale in list(parts_dir.glob("part-*.jsonl")) + list(parts_dir.glob(".part-*")):
            stale.unlink()
    parts_dir.mkdir(parents=True, exist_ok=True)
    job_path.write_text(json.dumps({"key": key, **description}, indent=1, default=str), encoding="utf-8")
    return False


def remove_parts_dir(parts_dir: Path, n_parts: int) -> None:
    for index in range(n_parts):
        part_file(parts_dir, index).unlink(missing_ok=True)
    (Path(parts_dir) / JOB_FILE).unlink(missing_ok=True)
    try:
        Path(parts_dir).rmdir()
    except OSError:  # something else is in there: leave it
        pass


def assemble(parts_dir: Path, n_parts: int, output: Path) -> tuple[int, int]:
    """Join the part files, in order, into `output` (JSONL, or Parquet with columns `id` and
    `result`, the same JSON text as a JSONL line), replacing it atomically. (scored, failed)."""
    output = Path(output)
    temporary = output.with_name(f".{output.name}.tmp-{uuid.uuid4().hex[:8]}")
    n_ok = n_failed = 0
    try:
        if output_format(output) == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([("id", pa.string()), ("result", pa.string())])
            with pq.ParquetWriter(temporary, schema) as writer:
                for index in range(n_parts):
                    ids, results = [], []
                    with open(part_file(parts_dir, index), encoding="utf-8") as handle:
                        for line in handle:
                            record = json.loads(line)
                            failed = "error" in record
                            n_ok, n_failed = n_ok + (not failed), n_failed + failed
                            ids.append(None if record.get("id") is None else str(record["id"]))
                            results.append(line.rstrip("\n"))
                    writer.write_table(pa.table({"id": ids, "result": results}, schema=schema))
        else:
            with open(temporary, "wb") as out:
                for index in range(n_parts):
                    with open(part_file(parts_dir, index), "rb") as handle:
                        for line in handle:
                            failed = "error" in json.loads(line)
                            n_ok, n_failed = n_ok + (not failed), n_failed + failed
                            out.write(line)
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    return n_ok, n_failed

