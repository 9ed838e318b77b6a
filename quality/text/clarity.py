"""Clarity (逻辑清晰): is the post structured and readable?

v0, hand-set weights over interpretable features: structure markers and list items,
logical connectives, sentence length, punctuation, repetition. Learned weights on
human labels replace these in a later version; the evidence strings stay.
"""

from __future__ import annotations

from quality.model_store import ModelStore
from quality.schemas import DimensionScore
from quality.text.batch import TextBatch
from quality.text.scoring import length_confidence, listed, logistic, saturate

LONG_SENTENCE_CHARS = 60  # beyond this a Chinese sentence gets hard to follow
RUN_ON_PUNCTUATION_PER_100 = 2.0  # fewer marks than this per 100 characters reads as one run-on line


class ClarityScorer:
    name = "clarity"
    version = "0.1.0-heuristic"

    def __init__(self, store: ModelStore):
        self.store = store

    def score_batch(self, batch: TextBatch) -> list[DimensionScore | None]:
        return [
            self._score(features) if item.has_text else None
            for item, features in zip(batch.items, batch.features)
        ]

    def _score(self, f) -> DimensionScore:
        logit, evidence = -0.3, []
        structure = f.structure + (["列表项"] if f.list_items else [])
        if structure:
            logit += 1.2 * saturate(len(f.structure) + f.list_items, 2)
            evidence.append(f"分点结构 / structured: {listed(structure)}")
        if f.connectives:
            logit += 1.0 * saturate(len(f.connectives), 2)
            evidence.append(f"逻辑连接词 / connectives: {listed(f.connectives)}")
        if f.n_sentences >= 3:
            logit += 0.3
        if f.mean_sentence_chars > LONG_SENTENCE_CHARS:
            logit -= min(1.0, (f.mean_sentence_chars - LONG_SENTENCE_CHARS) / LONG_SENTENCE_CHARS)
            evidence.append(f"句子过长 / long sentences: avg {f.mean_sentence_chars:.0f} chars")
        if f.n_chars > 60 and f.punctuation_per_100 < RUN_ON_PUNCTUATION_PER_100:
            logit -= 0.8
            evidence.append("缺少标点 / little punctuation")
        if f.repeated_runs:
            logit -= min(1.2, 0.4 * f.repeated_runs)
            evidence.append(f"重复字符 / repeated characters x{f.repeated_runs}")
        if f.n_sentences and f.exclamations / f.n_sentences > 0.5:
            logit -= 0.4
            evidence.append("感叹号过多 / many exclamation marks")
        if f.n_chars < 15:
            logit -= 0.6
            evidence.append(f"内容过短 / very short ({f.n_chars} chars)")
        return DimensionScore(
            score=round(logistic(logit), 6), confidence=length_confidence(f.n_chars), evidence=evidence
        )
