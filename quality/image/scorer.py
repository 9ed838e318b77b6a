"""The composition dimension of a post: each photo analysed, then aggregated.

Per photo, one EfficientNet-Lite0 pass at 224 px (quality.image.cnn) gives the learned composition
score (quality.image.composition_head), the evidence that a car is shown and where the
main subject is; a second pass of the same network at up to 512 px (quality.image.quality_features)
gives the perceived quality learned from people's ratings (quality.image.perceived_quality);
the hand-set checks (quality.image.composition) name the issues a member can fix (tilt,
cut-off subject, blur, exposure ...), the tilt raised to the learned level detector's reading
(quality.image.level). The photo's score combines the two learned parts and
is held down by any severe named issue: see quality.image.photo_score.

A photo that scores low gets a crop search: a few aspect-preserving windows around the
subject are scored by the same network (half on its thread, half on the caller's, while the
perceived-quality network is still working), and the best one becomes `suggested_crop` when it
beats the full frame by a margin.

The post's score weights its photos by rank, best first (weights 1, 0.6, 0.36, ...),
so a strong set is not sunk by one weak ninth photo, while a single weak photo is
not hidden either. Confidence grows with the number of photos judged.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from quality.image.cnn import NetworkOutput, PhotoNetwork
from quality.image.composition import (FULL_FRAME, MIN_JUDGEABLE_SIDE, CompositionAssessment, assess_composition,
                                       with_severity)
from quality.image.composition_head import CompositionHead
from quality.image.decode import DecodedImage
from quality.image.level import LevelHead, level_features
from quality.image.perceived_quality import PerceivedQualityHead
from quality.image.photo_score import PHOTO_SCORE_NAME, RESOLUTION_ISSUE, PhotoScoreWeights, combine
from quality.model_store import ModelStore
from quality.schemas import CompositionScore, ImageComposition

RANK_DECAY = 0.6  # each next-best photo counts this much less than the one before
# Photos per onnxruntime call: one. On 2 cores a batch of 8 is no faster a photo (bench.network_batch),
# and the session's arena keeps the largest call's scratch for good: with 8, a server's peak RSS at
# 32 concurrent photo posts was ~200 MB higher (docs/performance.md "Memory").
NETWORK_BATCH = 1
SHOWS_CAR_AT = 0.5
CROP_SEARCH_BELOW = 0.5  # learned score under which a better crop is looked for
CROP_MIN_GAIN = 0.05  # a crop must beat the full frame's learned score by this much
CROP_SCALES = (0.9, 0.8)
CROP_TARGETS = ((0.5, 0.5), (1 / 3, 0.5), (2 / 3, 0.5))  # where the subject's centre lands (x, y)
NETWORK_NAME, HEAD_NAME, QUALITY_HEAD_NAME = "efficientnet-lite0", "composition-head", "photo-quality-head"
LEVEL_NAME = "level-head"


def aggregate_photo_scores(scores: list[float]) -> float:
    ranked = sorted(scores, reverse=True)
    weights = [RANK_DECAY**rank for rank in range(len(ranked))]
    return sum(w * s for w, s in zip(weights, ranked)) / sum(weights)


def crop_windows(subject: tuple[float, float, float, float] | None):
    """Aspect-preserving windows (normalised boxes) placing the subject's centre on a target point."""
    cx, cy = (float(subject[0] + subject[2]) / 2, float(subject[1] + subject[3]) / 2) if subject else (0.5, 0.5)
    seen = set()
    for scale in CROP_SCALES:
        for tx, ty in CROP_TARGETS:
            x0 = min(max(cx - tx * scale, 0.0), 1.0 - scale)
            y0 = min(max(cy - ty * scale, 0.0), 1.0 - scale)
            box = (round(x0, 4), round(y0, 4), round(x0 + scale, 4), round(y0 + scale, 4))
            if box not in seen:
                seen.add(box)
                yield box


def _cut(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    h, w = rgb.shape[:2]
    return rgb[round(box[1] * h):round(box[3] * h), round(box[0] * w):round(box[2] * w)]


@dataclass
class _Photo:
    image: DecodedImage
    index: int
    network: NetworkOutput | None = None
    perceived_quality: float | None = None
    assessment: CompositionAssessment | None = None
    tilt_probability: float | None = None
    learned: float | None = None  # the composition head's score, read once
    subject: tuple[float, float, float, float] | None = None  # the network's subject box, read once
    suggested_crop: tuple[float, ...] | None = None  # the crop search's answer, when it ran


class CompositionScorer:
    name = "composition"

    def __init__(self, store: ModelStore):
        self.store = store
        names = {entry.name for entry in store.manifest.models}
        self.network: PhotoNetwork | None = None
        self.head: CompositionHead | None = None
        if HEAD_NAME in names and NETWORK_NAME in names:
            self.network = store.get(NETWORK_NAME, _build_network)
            self.head = store.get(HEAD_NAME, lambda s: CompositionHead.load(s.path(HEAD_NAME)))
        self.quality_features = self.quality_head = None
        if QUALITY_HEAD_NAME in names and NETWORK_NAME in names:
            self.quality_features = store.get("efficientnet-lite0-quality-taps", _build_quality_features)
            self.quality_head = store.get(QUALITY_HEAD_NAME,
                                          lambda s: PerceivedQualityHead.load(s.path(QUALITY_HEAD_NAME)))
        self.level = store.get(LEVEL_NAME, lambda s: LevelHead.load(s.path(LEVEL_NAME))) if LEVEL_NAME in names else None
        if (self.head or self.quality_head) and PHOTO_SCORE_NAME not in names:
            from quality.errors import ModelIntegrityError

            raise ModelIntegrityError(f"the manifest declares photo heads but not {PHOTO_SCORE_NAME!r}, the weights "
                                      "that combine them (models/photo-score/photo_score.json)")
        self.weights = (store.get(PHOTO_SCORE_NAME, lambda s: PhotoScoreWeights.load(s.path(PHOTO_SCORE_NAME)))
                        if PHOTO_SCORE_NAME in names else None)
        versions = [store.entry(name).version for name, part in ((HEAD_NAME, self.head),
                                                                 (QUALITY_HEAD_NAME, self.quality_head),
                                                                 (LEVEL_NAME, self.level),
                                                                 (PHOTO_SCORE_NAME, self.weights)) if part]
        self.version = "+".join(versions) or "0.1.0-heuristic"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo-network")
        self._quality_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo-quality")

    def score_batch(self, batch: list[list[DecodedImage]]) -> list[CompositionScore | None]:
        photos = [[_Photo(image, index) for index, image in enumerate(images)] for images in batch]
        flat = [photo for post in photos for photo in post]
        if not flat:
            return [None] * len(batch)
        # The two networks (onnxruntime) and the hand-set checks (OpenCV, numpy) all release the GIL:
        # run them side by side instead of one after the other.
        network = self._pool.submit(self._run_network, flat)
        quality = self._quality_pool.submit(self._run_quality, flat)
        for photo in flat:
            photo.assessment = assess_composition(photo.image, photo.index)
            if self.level is not None and min(photo.image.rgb.shape[:2]) >= MIN_JUDGEABLE_SIDE:
                photo.tilt_probability = float(self.level.probability(level_features(photo.image.rgb))[0])
        network.result()
        # The crop search needs the composition network and the checks, not the perceived quality:
        # it runs while the perceived-quality network (the photo's longest stage) is still working.
        for photo in flat:
            self._search_crop(photo)
        quality.result()
        return [self._score_post(post) if post else None for post in photos]

    def _search_crop(self, photo: _Photo) -> None:
        """For a photo whose learned composition is low, the best crop among the candidate windows."""
        if photo.network is None or self.head is None:
            return
        photo.learned = float(self.head.score(photo.network.features)[0])
        photo.subject = self.network.subject_box(photo.network)
        if photo.learned < CROP_SEARCH_BELOW:
            photo.suggested_crop = self._best_crop(photo, photo.learned, photo.subject,
                                                   photo.assessment.composition.suggested_crop)

    def _run_quality(self, photos: list[_Photo]) -> None:
        if self.quality_head is None:
            return
        for photo in photos:  # one photo per call: each keeps its own size and aspect
            features = self.quality_features.features(photo.image.rgb)
            photo.perceived_quality = float(self.quality_head.score(features)[0])

    def _run_network(self, photos: list[_Photo]) -> None:
        if self.network is None:
            return
        for photo, output in zip(photos, self._network_outputs([p.image.rgb for p in photos])):
            photo.network = output

    def _network_outputs(self, images: list[np.ndarray]) -> list:
        """The network's outputs for `images`, NETWORK_BATCH a call."""
        return [output for start in range(0, len(images), NETWORK_BATCH)
                for output in self.network.run(images[start:start + NETWORK_BATCH])]

    def _network_outputs_on_both_cores(self, images: list[np.ndarray]) -> list:
        """`_network_outputs`, the second half on the network's thread: a call uses one onnxruntime
        thread (QUALITY_PHOTO_THREADS), and the crop search runs when both cores are otherwise idle."""
        if len(images) < 2:
            return self._network_outputs(images)
        half = (len(images) + 1) // 2
        second = self._pool.submit(self._network_outputs, images[half:])
        return self._network_outputs(images[:half]) + second.result()

    def _analyse(self, photo: _Photo) -> tuple[ImageComposition, float]:
        assessment = photo.assessment
        composition = assessment.composition
        weights = self.weights
        if weights is None:  # no learned part (and no weights to combine one): the checks' own score
            return composition.model_copy(update={"heuristic_score": composition.score}), assessment.confidence
        if photo.tilt_probability is not None:
            composition = with_severity(composition, "tilted_horizon", weights.tilt_severity(photo.tilt_probability))
        composition = with_severity(composition, RESOLUTION_ISSUE,
                                    weights.resolution_severity(photo.image.width, photo.image.height))
        perceived = photo.perceived_quality
        update = {"heuristic_score": composition.score,
                  "perceived_quality": None if perceived is None else round(perceived, 4)}
        if photo.network is None or self.head is None:
            update["score"] = round(combine(perceived, None, composition.score, composition.issue_severity, weights), 4)
            # People's ratings back the perceived quality; the checks alone have not been measured.
            confidence = min(1.0, assessment.confidence + (0.2 if perceived is not None else 0.0))
            return composition.model_copy(update=update), confidence
        learned, subject = photo.learned, photo.subject
        update.update({
            "score": round(combine(perceived, learned, composition.score, composition.issue_severity, weights), 4),
            "learned_score": round(learned, 4),
            "car_probability": round(photo.network.car_probability, 4),
            "shows_car": photo.network.car_probability >= SHOWS_CAR_AT,
            "content": {name: round(value, 4) for name, value in photo.network.content.items()},
            "subject_box": tuple(round(float(v), 4) for v in subject) if subject else None,
        })
        if photo.suggested_crop is not None:
            update["suggested_crop"] = photo.suggested_crop
        # The learned scores have been checked against degraded copies and ratings; the checks alone have not.
        confidence = min(1.0, assessment.confidence + 0.3)
        return composition.model_copy(update=update), confidence

    def _best_crop(self, photo: _Photo, learned: float, subject, heuristic_crop) -> tuple[float, ...]:
        """The best-scoring window among the candidates, or the full frame if none is clearly better."""
        windows = list(crop_windows(subject))
        if tuple(heuristic_crop) != FULL_FRAME:
            windows.append(tuple(float(v) for v in heuristic_crop))
        outputs = self._network_outputs_on_both_cores([_cut(photo.image.rgb, box) for box in windows])
        scores = self.head.score(np.stack([o.features for o in outputs]))
        best = int(np.argmax(scores))
        return windows[best] if scores[best] >= learned + CROP_MIN_GAIN else FULL_FRAME

    def _score_post(self, photos: list[_Photo]) -> CompositionScore:
        analysed = [self._analyse(photo) for photo in photos]
        analyses = [a for a, _ in analysed]
        confidences = [c for _, c in analysed]
        score = aggregate_photo_scores([a.score for a in analyses])
        count_factor = 1.0 - 0.5 ** len(photos)  # one photo: 0.5, three: 0.875
        confidence = sum(confidences) / len(confidences) * (0.5 + 0.5 * count_factor)
        evidence = []
        for analysis in analyses:
            notes = list(analysis.issues[:3])
            if analysis.suggested_crop != FULL_FRAME:
                notes.append("suggested_crop")
            if notes:
                evidence.append(f"图{analysis.index + 1} / photo {analysis.index + 1}: {', '.join(notes)}")
        perceived = [a.perceived_quality for a in analyses if a.perceived_quality is not None]
        learned = [a.learned_score for a in analyses if a.learned_score is not None]
        return CompositionScore(
            score=round(min(1.0, max(0.0, score)), 6),
            perceived_quality=round(aggregate_photo_scores(perceived), 6) if perceived else None,
            composition_only=round(aggregate_photo_scores(learned), 6) if learned else None,
            confidence=round(min(1.0, max(0.0, confidence)), 6),
            evidence=evidence,
            images=analyses,
        )


def _build_network(store: ModelStore) -> PhotoNetwork:
    from quality.image.cnn_build import ensure_effnet_onnx

    settings = store.settings
    return PhotoNetwork(ensure_effnet_onnx(settings.cache_dir, weights=store.path(NETWORK_NAME)),
                        threads=settings.photo_threads)


def _build_quality_features(store: ModelStore):
    from quality.image.quality_features import PhotoQualityFeatures

    settings = store.settings
    return PhotoQualityFeatures(settings.cache_dir, threads=settings.photo_threads, weights=store.path(NETWORK_NAME))
