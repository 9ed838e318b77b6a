"""Sincerity (真诚): first-hand, balanced, not advertising or template copy.

v0, hand-set weights over interpretable features: first-hand experience markers,
both pros and cons, advertising (contact details, links, promotions), shouting and
repetitive template text.
"""

from __future__ import annotations

from quality.model_store import ModelStore
from quality.schemas import DimensionScore
from quality.text.batch import TextBatch
from quality.text.scoring import length_confidence, listed, logistic, saturate

TEMPLATE_DISTINCT_RATIO = 0.5  # fewer distinct words than this share reads as copy-paste


class SincerityScorer:
    name = "sincerity"
    version = "0.1.0-heuristic"

    def __init__(self, store: ModelStore):
        self.store = store

    def score_batch(self, batch: TextBatch) -> list[DimensionScore | None]:
        return [
            self._score(features) if item.has_text else None
            for item, features in zip(batch.items, batch.features)
        ]

    def _score(self, f) -> DimensionScore:
        logit, evidence = 0.0, []
        if f.first_hand:
            logit += 1.0 * saturate(len(f.first_hand), 2)
            evidence.append(f"亲身经历 / first-hand: {listed(f.first_hand)}")
        if f.balance:
            logit += 0.6 * saturate(len(f.balance), 1)
            evidence.append(f"客观评价 / balanced: {listed(f.balance)}")
        if f.ads:
            logit -= 1.8 * saturate(len(f.ads), 1)
            evidence.append(f"广告内容 / advertising: {listed(f.ads)}")
        if f.n_sentences and f.exclamations / f.n_sentences > 0.5:
            logit -= 0.5
            evidence.append("情绪化 / many exclamation marks")
        if f.n_words > 20 and f.distinct_word_ratio < TEMPLATE_DISTINCT_RATIO:
            logit -= 0.8
            evidence.append(f"模板化重复 / repetitive ({f.distinct_word_ratio:.0%} distinct words)")
        if f.repeated_runs:
            logit -= 0.3
        return DimensionScore(
            score=round(logistic(logit), 6), confidence=length_confidence(f.n_chars), evidence=evidence
        )
