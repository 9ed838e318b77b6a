"""Helpfulness (有帮助): does the post give a reader concrete, usable car information?

A pairwise-ranking head trained on UKPConvArg2 (English argument pairs: more details,
facts, better reasoning; see `models/argument/`), added in logit space to hand-set
weights over interpretable features: numbers with units (油耗 6.2L,
5000公里), car-forum vocabulary learned from BDCI 2018 car posts
(`python -m train.car_terms`), advice markers, length; advertising pulls it down.
"""

from __future__ import annotations

from quality.model_store import ModelStore
from quality.schemas import DimensionScore
from quality.text.argument_head import load_argument_heads
from quality.text.batch import TextBatch
from quality.text.scoring import LEARNED_WEIGHT, length_confidence, listed, logistic, logit_of, saturate


class HelpfulnessScorer:
    name = "helpfulness"
    def __init__(self, store: ModelStore):
        self.store = store
        self.heads = load_argument_heads(store)
        self.head_name = self.heads.head_for("helpfulness")
        self.version = f"0.2.0+{self.head_name}"

    def score_batch(self, batch: TextBatch) -> list[DimensionScore | None]:
        learned = self.heads.score(self.head_name, batch.embeddings, batch.texts)
        return [
            self._score(features, float(model_score)) if item.has_text else None
            for item, features, model_score in zip(batch.items, batch.features, learned)
        ]

    def _score(self, f, model_score: float) -> DimensionScore:
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
        logit += LEARNED_WEIGHT * logit_of(model_score)
        evidence.append(f"论证质量模型 / argument-quality model ({self.head_name}): {model_score:.2f}")
        return DimensionScore(
            score=round(logistic(logit), 6), confidence=length_confidence(f.n_chars), evidence=evidence
        )
