"""The one entry point: posts in, scored results out. The API, the CLI and evaluation all call this.

Lifecycle (as LitServe's): set up once (verify the manifest, load the rubric and the
models), then per call: check limits -> decode -> text and image scorers over the
whole batch -> per item, in input order: photos checked against the photo store (if one is
configured), rubric -> results.

With the store read-only (the default) an input gives the same result alone or inside any
batch. With `photo_store_record` on, results depend on what was scored before, by design: a
photo is recorded for the first post that shows it, and later posts showing it are flagged.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from quality.errors import Overloaded, QualityError
from quality.image import DecodedImage, decode_base64_image
from quality.image.decode_budget import DecodeBudget
from quality.image.duplicates import near_duplicate_pairs
from quality.image.photo_store import Match, PhotoHashStore
from quality.manifest import models_version
from quality.memory import limit_malloc_arenas
from quality.model_store import ModelStore
from quality.registry import DIMENSIONS, DimensionScorer, PostBatch
from quality.rubric import AuditionInputs, audition, civility_signal, load_rubric, score_flags
from quality.schemas import (CompositionScore, Dimensions, ModelInfo, Post, ScoreResult, ServiceInfo, Versions,
                             check_dimension_fields)
from quality.settings import Settings, get_settings
from quality.text.batch import TextBatch, TextItem, load_encoder
from quality.text.post_kind import PostKindClassifier
from quality.validation import check_batch_size, check_batch_text, check_post

log = logging.getLogger("quality.service")


@dataclass
class PreparedPost:
    post: Post
    text_item: TextItem
    images: list[DecodedImage]


@dataclass
class ScoredPost:
    """A result with what was computed on the way, for callers that store posts (contests)."""

    result: ScoreResult
    images: list[DecodedImage]  # upright, downscaled RGB
    text_embedding: np.ndarray | None  # the service's sentence embedding of title + text; None without text


class QualityService:
    def __init__(self, settings: Settings | None = None):
        check_dimension_fields()  # a dimension results cannot carry stops start-up here
        self.settings = settings or get_settings()
        # Before the request, batching and model-loading threads make arenas of their own.
        self.malloc_arenas_limited = limit_malloc_arenas(self.settings.malloc_arenas)
        self.store = ModelStore(self.settings)
        if self.settings.verify_checksums:
            self.store.verify()
        self.rubric = load_rubric(self.settings.rubric_path)
        self.models_version = models_version(self.store.manifest)
        if self.settings.civility_model == "head":  # results from another civility model: say so
            self.models_version += "+civility-head"
        self._scorers: dict[str, DimensionScorer] | None = None
        self._post_kinds: PostKindClassifier | None = None  # built on first use (`post_kinds`)
        self._build_lock = threading.Lock()
        self._photo_store: PhotoHashStore | None = None
        # Guards opening the photo store, and makes "check a post's photos, then record them"
        # one step, so of two concurrent posts with the same photo exactly one is flagged.
        self._photo_lock = threading.Lock()
        # Photos are decoded in the requests' threads; this bounds their memory all together.
        self.decode_budget = DecodeBudget(self.settings.limits.max_decode_memory_mb << 20,
                                          wait_s=self.settings.request_timeout_s)
        self.started_at = time.time()

    # -- set-up -------------------------------------------------------------------------
    @property
    def scorers(self) -> dict[str, DimensionScorer]:
        if self._scorers is None:
            with self._build_lock:
                if self._scorers is None:
                    # Built side by side: ONNX sessions load while Python-heavy parts (tokenisers,
                    # jieba's dictionary) run; shared models still load once (ModelStore.get).
                    with ThreadPoolExecutor(max_workers=len(DIMENSIONS), thread_name_prefix="load") as pool:
                        built = {name: pool.submit(spec.build, self.store) for name, spec in DIMENSIONS.items()}
                        self._scorers = {name: future.result() for name, future in built.items()}
        return self._scorers

    @property
    def post_kinds(self) -> PostKindClassifier:
        """The post-kind signal (ScoreResult.post_kind), built on first use (a 13 KB head over the
        encoder the scorers share)."""
        if self._post_kinds is None:
            with self._build_lock:
                if self._post_kinds is None:
                    self._post_kinds = PostKindClassifier(self.store)
        return self._post_kinds

    @property
    def photo_store(self) -> PhotoHashStore | None:
        """The configured store of photos seen before, opened on first use; None when off."""
        if self.settings.photo_store is None:
            return None
        with self._photo_lock:
            if self._photo_store is None:
                self._photo_store = PhotoHashStore(self.settings.photo_store)
            return self._photo_store

    def warm_up(self) -> None:
        """Load every model (and the photo store's hashes) and run one tiny post through,
        so the first request is not slow."""
        _ = self.scorers
        _ = self.post_kinds
        _ = self.photo_store
        self.score_batch([Post(text="预热：保养周期看手册，一般5000公里一次。")])

    @property
    def ready(self) -> bool:
        return self._scorers is not None

    # -- scoring ------------------------------------------------------------------------
    # Whether the server should micro-batch `POST /score` in this process (quality.batching). A
    # service that sends posts elsewhere to be scored (the Ray Serve ingress) says False.
    micro_batched = True

    def score(self, post: Post) -> ScoreResult:
        return self.score_batch([post], batch_field=None)[0]

    def score_batch(self, posts: list[Post], batch_field: str | None = "items",
                    deadline: float | None = None) -> list[ScoreResult]:
        """Results in order, or the first bad post's error: a request's batch is all or nothing.

        With `batch_field` (a request's batch) its size and text budget are checked first. Every
        post is checked and decoded before any model runs, so a bad item fails the request at
        once with its own 4xx, its field named `<batch_field>[i].<field>`. `deadline`: as in
        `score_prepared_each`.
        """
        limits = self.settings.limits
        if batch_field is not None:
            check_batch_size(len(posts), limits)
            check_batch_text(posts, limits)
        prepared = [
            self._prepare(post, f"{batch_field}[{i}]." if batch_field is not None else "")
            for i, post in enumerate(posts)
        ]
        outcomes = self.score_prepared_each(prepared, deadline=deadline)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return outcomes

    def score_each(self, posts: list[Post], deadline: float | None = None) -> list[ScoreResult | QualityError]:
        """The one way to score many posts: per post, in order, its result or its own error.

        A post that fails its checks (over a limit, a photo that does not decode) gets its
        `QualityError` and the rest are scored together. The CLI, evaluation, the Ray jobs and
        the Ray Serve scorer all score through this (the micro-batcher through
        `score_prepared_each`, after preparing each post in its request's thread). An
        unexpected error (a defect, not bad input) is raised, not returned.
        """
        outcomes: list[ScoreResult | QualityError | None] = [None] * len(posts)
        prepared, positions = [], []
        for position, post in enumerate(posts):
            try:
                prepared.append(self._prepare(post, ""))
                positions.append(position)
            except QualityError as error:
                outcomes[position] = error
        for position, outcome in zip(positions, self.score_prepared_each(prepared, deadline=deadline)):
            if not isinstance(outcome, (ScoreResult, QualityError)):
                raise outcome
            outcomes[position] = outcome
        return outcomes

    def prepare(self, post: Post, field_prefix: str = "") -> PreparedPost:
        """Check one post's limits and decode its photos, before any model runs.

        Raises the post's own 4xx `QualityError`. With `score_prepared_each`, this splits
        scoring in two, so a caller (quality.batching) can prepare posts apart and score them
        together.
        """
        return self._prepare(post, field_prefix)

    def score_prepared_each(self, prepared: list[PreparedPost],
                            deadline: float | None = None) -> list[ScoreResult | Exception]:
        """Prepared posts scored as one batch: per post, in order, its result or its error.

        Results do not depend on the rest of the batch, so should scoring a batch fail, its
        posts are scored again one by one and only the post that fails gets the error --
        except with `photo_store_record` on, where the first attempt may already have recorded
        photos: then every post of the batch gets the error.

        `deadline` (a `time.monotonic()` value): the posts are scored in slices of
        `batch_max_items`, and past the deadline the rest is abandoned with `Overloaded`
        (code "timeout", 503), raised: a call holds the scorer for at most its timeout plus
        one slice. Slicing does not change results.
        """
        step = len(prepared) if deadline is None else self.settings.batch_max_items
        outcomes: list[ScoreResult | Exception] = []
        for start in range(0, len(prepared), max(step, 1)):
            if deadline is not None and time.monotonic() > deadline:
                raise Overloaded(f"the batch was not scored in time ({start} of {len(prepared)} posts done); "
                                 "retry later or send smaller batches", code="timeout")
            outcomes += self._score_or_fall_back(prepared[start:start + step])
        return outcomes

    def _score_or_fall_back(self, prepared: list[PreparedPost]) -> list[ScoreResult | Exception]:
        try:
            return list(self._score_prepared(prepared)[0])
        except Exception as error:
            if len(prepared) == 1 or self._records_photos:
                return [error] * len(prepared)
            log.warning("a batch of %d posts failed (%r); scoring them one by one", len(prepared), error)
        outcomes: list[ScoreResult | Exception] = []
        for item in prepared:
            try:
                outcomes += self._score_prepared([item])[0]
            except Exception as error:
                outcomes.append(error)
        return outcomes

    @property
    def _records_photos(self) -> bool:
        return self.settings.photo_store is not None and self.settings.photo_store_record

    def score_with_inputs(self, post: Post) -> ScoredPost:
        """One post's result, its decoded photos and its text embedding."""
        prepared = self._prepare(post, "")
        [result], text_batch = self._score_prepared([prepared])
        embedding = text_batch.embeddings[0].copy() if prepared.text_item.has_text else None
        return ScoredPost(result=result, images=prepared.images, text_embedding=embedding)

    def _score_prepared(self, prepared: list[PreparedPost]) -> tuple[list[ScoreResult], TextBatch]:
        dimension_results, text_batch = self._run_dimensions(prepared)
        kinds = self.post_kinds.classify(text_batch, [len(item.images) for item in prepared])
        return [self._result(item, {name: dimension_results[name][i] for name in dimension_results}, kinds[i])
                for i, item in enumerate(prepared)], text_batch

    def _prepare(self, post: Post, field_prefix: str) -> PreparedPost:
        limits = self.settings.limits
        check_post(post, limits, field_prefix)
        images = []
        for index, image in enumerate(post.images):
            try:
                images.append(decode_base64_image(
                    image.data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels,
                    budget=self.decode_budget))
            except QualityError as error:
                error.field = f"{field_prefix}images[{index}].data"
                raise
        text_item = TextItem(
            raw_text=post.text or "",
            title=post.title or "",
            kind=post.kind,
            parent_text=post.parent.text if post.parent else None,
            parent_is_newcomer=bool(post.parent and post.parent.author_is_newcomer),
            theme=post.theme,
        )
        return PreparedPost(post=post, text_item=text_item, images=images)

    def _run_dimensions(self, prepared: list[PreparedPost]) -> tuple[dict[str, list], TextBatch]:
        text_batch = TextBatch([item.text_item for item in prepared], load_encoder(self.store))
        image_batch = [item.images for item in prepared]
        inputs = {"text": text_batch, "images": image_batch}
        results: dict[str, list] = {}
        for name, scorer in self.scorers.items():  # table order: "post" readers see the earlier results
            reads = DIMENSIONS[name].reads
            results[name] = scorer.score_batch(
                PostBatch(text_batch, image_batch, results) if reads == "post" else inputs[reads])
        return results, text_batch

    def _result(self, item: PreparedPost, scores: dict, post_kind: dict | None) -> ScoreResult:
        language = self.settings.reason_language
        dimensions = Dimensions(**scores)
        dimension_scores = {name: getattr(dimensions, name).score if getattr(dimensions, name) else None
                            for name in DIMENSIONS}
        flags: list[str] = []
        if dimensions.composition is not None:
            hashes = [image.phash for image in dimensions.composition.images]
            duplicate = bool(near_duplicate_pairs(hashes))
            if self.settings.photo_store is not None:
                stored = self._stored_photo_matches(item.post, dimensions.composition)
                for image, match in zip(dimensions.composition.images, stored):
                    if match is not None:
                        dimensions.composition.evidence.append(_stored_photo_evidence(image.index, match))
                duplicate = duplicate or any(stored)
            if duplicate:
                flags.append("duplicate_image")
        flags += score_flags(self.rubric.flags.result, dimension_scores)  # cut-offs from the rubric file
        signal = civility_signal(dimensions.civility, self.rubric, language)
        if signal.needs_review:
            flags.append("needs_review")
        stage_two = audition(
            AuditionInputs(
                dimension_scores=dimension_scores,
                n_chars=len(item.text_item.text),
                n_photos=len(item.images),
                flags=tuple(flags),
            ),
            self.rubric,
            language,
        )
        return ScoreResult(
            id=item.post.id,
            versions=Versions(models=self.models_version, rubric=self.rubric.version,
                              rubric_sha256=self.rubric.sha256),
            dimensions=dimensions,
            audition=stage_two,
            civility_signal=signal,
            post_kind=post_kind,
            flags=flags,
        )

    def _stored_photo_matches(self, post: Post, composition: CompositionScore) -> list[Match | None]:
        """For each photo, the nearest stored photo of another post (any, if `post` has no id).

        With `photo_store_record`, the photos that matched nothing are then stored for this
        post. Photos that matched are not: the first poster stays the owner, so re-scoring
        the original never finds its reposts. `score_batch` calls this per post in input
        order, so of two posts in one batch with the same photo the later one is flagged.
        """
        store = self.photo_store
        hashes = [image.phash for image in composition.images]
        with self._photo_lock:
            nearest = [next(iter(store.find(phash, exclude_post_id=post.id)), None) for phash in hashes]
            if self.settings.photo_store_record:
                store.add([phash for phash, match in zip(hashes, nearest) if match is None], post_id=post.id)
        return nearest

    # -- description --------------------------------------------------------------------
    def model_infos(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                name=entry.name,
                version=entry.version,
                kind=entry.kind,
                source=entry.source,
                file=", ".join(f.path for f in entry.files),
                sha256=", ".join(f.sha256 for f in entry.files),
                licence=entry.licence,
                preprocessing=entry.preprocessing,
                metrics=entry.metrics,
            )
            for entry in self.store.manifest.models
        ]

    def info(self) -> ServiceInfo:
        return ServiceInfo(
            service_version=importlib.metadata.version("quality"),
            models_version=self.models_version,
            models=self.model_infos(),
            rubric_version=self.rubric.version,
            rubric_sha256=self.rubric.sha256,
            dimensions=[
                {"name": spec.name, "reads": spec.reads, "description": spec.description, "label_zh": spec.label_zh,
                 "range": list(spec.score_range), "higher_is_better": spec.higher_is_better}
                for spec in DIMENSIONS.values()
            ],
            limits=self.settings.limits.model_dump(),
            checksums_verified=self.store.checksums_verified,
        )


def _stored_photo_evidence(index: int, match: Match) -> str:
    """Which stored photo a post's photo repeats: the other post's id, or how it was stored
    (the kind only: an imported file's path is the operator's business)."""
    owner = f"post {match.post_id}" if match.post_id is not None else match.source.split(":", 1)[0]
    return f"图{index + 1} / photo {index + 1}: 与已有照片重复 ({owner}, {match.distance} bits) / matches a stored photo"
