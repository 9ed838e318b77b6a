"""Helpfulness (有帮助): does the post give a reader concrete, usable car information?

v0, hand-set weights over interpretable features: numbers with units (油耗 6.2L,
5000公里), car-forum vocabulary learned from BDCI 2018 car posts
(`python -m quality.train.car_terms`), advice markers, length; advertising pulls it down.
"""

from __future__ import annotations

from quality.model_store import ModelStore
from quality.schemas import DimensionScore
from quality.text.batch import TextBatch
from quality.text.scoring import length_confidence, listed, logistic, saturate


class HelpfulnessScorer:
    name = "helpfulness"
    version = "0.1.0-heuristic"

    def __init__(self, store: ModelStore):
        self.store = store

    def score_batch(self, batch: TextBatch) -> list[DimensionScore | None]:
        return [
            self._score(features) if item.has_text else None
            for item, features in zip(batch.items, batch.features)
        ]

    def _score(self, f) -> DimensionScore:
        logit, evidence = -1.0, []
        if f.numbers_with_units:
            logit += 1.4 * saturate(len(f.numbers_with_units), 2)
            evidence.append(f"具体数据 / specifics: {listed(f.numbers_with_units)}")
        if f.car_terms:
            logit += 1.2 * saturate(len(f.car_terms), 4)
            evidence.append(f"用车要点 / car aspects: {listed(f.car_terms)}")
        if f.advice:
            logit += 0.9 * saturate(len(f.advice), 1.5)
            evidence.append(f"建议 / advice: {listed(f.advice)}")
        logit += 0.6 * saturate(f.n_chars, 150)
        if f.ads:
            logit -= 1.0
            evidence.append(f"广告内容 / advertising: {listed(f.ads)}")
        if f.n_chars < 15:
            logit -= 0.5
            evidence.append(f"内容过短 / very short ({f.n_chars} chars)")
        return DimensionScore(
            score=round(logistic(logit), 6), confidence=length_confidence(f.n_chars), evidence=evidence
        )
