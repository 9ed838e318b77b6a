"""Files the models are made of, shared by the text and image packages: where built artefacts are
cached, file hashes, checksummed build directories built once and renamed into place, and the
`.npz` format of small trained heads.

Nothing here knows a model: `quality.text` and `quality.image` both build on it and never import
each other.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from quality.errors import ModelIntegrityError

CHECKSUMS_FILE = "checksums.json"
SHA_PREFIX_LEN = 12  # enough to tell source files apart in a directory name
_HASH_CHUNK = 1 << 20


class ArtifactChecksumError(ModelIntegrityError):
    """A file of a built (cached) artefact directory is missing or differs from its checksums.json."""


# ----------------------------------------------------------------------------- where
def cache_dir(explicit: Path | str | None = None) -> Path:
    """Where built artefacts live outside git: `explicit`, else the settings' `cache_dir`
    (QUALITY_CACHE_DIR), else `~/.cache/quality`."""
    if explicit is None:
        from quality.settings import Settings  # read now: tests and tools set QUALITY_CACHE_DIR late

        explicit = Settings().cache_dir
    return Path(explicit or Path.home() / ".cache" / "quality").expanduser()


# ----------------------------------------------------------------------------- hashing
@lru_cache(maxsize=64)
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path | str) -> str:
    """The file's sha256 (hex); remembered per (path, size, mtime), so start-up checks of large
    model files read each once."""
    path = Path(path)
    stat = path.stat()
    return _sha256_of(path, stat.st_size, stat.st_mtime_ns)


# ----------------------------------------------------------------------------- build directories
def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def verify_checksums(directory: Path, files: list[str] | None, error: type[ModelIntegrityError], what: str,
                     rebuild_hint: str) -> dict:
    """Check `files` (default: all) against the directory's checksums.json; raise `error` naming the first bad one."""
    directory = Path(directory)
    manifest_path = directory / CHECKSUMS_FILE
    if not manifest_path.is_file():
        raise error(f"{manifest_path} is missing: {directory} is not a complete {what} build")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for relative in files if files is not None else manifest["files"]:
        path = directory / relative
        expected = manifest["files"].get(relative)
        if expected is None or not path.is_file():
            raise error(f"{path} is missing (or not listed in {manifest_path})")
        actual = sha256_file(path)
        if actual != expected:
            raise error(
                f"{path}: sha256 {actual} differs from {expected} in {manifest_path}; the cached {what} model is "
                f"damaged or was edited. Rebuild it ({rebuild_hint})."
            )
    return manifest


def ensure_built(target: Path, build: Callable[[Path], dict], files: list[str], rebuild: bool,
                 verify: Callable[[Path, list[str]], object]) -> Path:
    """Verified `target`, built by `build(staging_dir) -> dict` in a sibling temp dir and renamed into place.

    `verify(directory, files)` checks an existing build (and raises naming a damaged file). The
    build's info, time and peak RSS go into its checksums.json beside each file's sha256. Two
    processes building at once: the second to finish finds the first's build and verifies it.
    """
    if target.exists() and not rebuild:
        verify(target, files)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        started = time.perf_counter()
        info = build(staging)
        info["build_seconds"] = round(time.perf_counter() - started, 1)
        info["build_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        names = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        for path in [staging, *staging.rglob("*")]:  # mkdtemp creates owner-only entries
            path.chmod(0o755 if path.is_dir() else 0o644)
        write_json(staging / CHECKSUMS_FILE, {"build": info, "files": {n: sha256_file(staging / n) for n in names}})
        if rebuild and target.exists():
            replace_dir(staging, target)
        else:
            try:
                staging.rename(target)
            except OSError:  # another process finished the same build first
                verify(target, files)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def replace_dir(new: Path, target: Path) -> None:
    """Move the existing `target` aside, rename `new` onto it, then delete the old one."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
    target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- heads
def read_head_file(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """A small trained head stored as one .npz: named arrays plus a JSON `meta` entry."""
    with np.load(path, allow_pickle=False) as arrays:
        data = {name: arrays[name] for name in arrays.files if name != "meta"}
        return data, json.loads(str(arrays["meta"]))


def write_head_file(path: Path, meta: dict, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # np.savez_compressed on a name would append ".npz"
        np.savez_compressed(handle, meta=np.array(json.dumps(meta)), **arrays)
