"""The composition dimension of a post: each photo analysed, then aggregated.

The post's score weights its photos by rank, best first (weights 1, 0.6, 0.36, ...),
so a strong set is not sunk by one weak ninth photo, while a single weak photo is
not hidden either. Confidence grows with the number of photos judged.
"""

from __future__ import annotations

from quality.image.composition import assess_composition
from quality.image.decode import DecodedImage
from quality.model_store import ModelStore
from quality.schemas import CompositionScore

RANK_DECAY = 0.6  # each next-best photo counts this much less than the one before


def aggregate_photo_scores(scores: list[float]) -> float:
    ranked = sorted(scores, reverse=True)
    weights = [RANK_DECAY**rank for rank in range(len(ranked))]
    return sum(w * s for w, s in zip(weights, ranked)) / sum(weights)


class CompositionScorer:
    name = "composition"
    version = "0.1.0-heuristic"

    def __init__(self, store: ModelStore):
        self.store = store

    def score_batch(self, batch: list[list[DecodedImage]]) -> list[CompositionScore | None]:
        return [self._score_post(images) if images else None for images in batch]

    def _score_post(self, images: list[DecodedImage]) -> CompositionScore:
        assessments = [assess_composition(image, index) for index, image in enumerate(images)]
        analyses = [a.composition for a in assessments]
        confidences = [a.confidence for a in assessments]
        score = aggregate_photo_scores([a.score for a in analyses])
        count_factor = 1.0 - 0.5 ** len(images)  # one photo: 0.5, three: 0.875
        confidence = sum(confidences) / len(confidences) * (0.5 + 0.5 * count_factor)
        evidence = []
        for analysis in analyses:
            if analysis.issues:
                evidence.append(f"图{analysis.index + 1} / photo {analysis.index + 1}: {', '.join(analysis.issues[:3])}")
        return CompositionScore(
            score=round(min(1.0, max(0.0, score)), 6),
            confidence=round(min(1.0, max(0.0, confidence)), 6),
            evidence=evidence,
            images=analyses,
        )
