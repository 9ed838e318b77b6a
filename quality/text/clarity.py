"""Clarity (逻辑清晰): is the post structured and readable?

Two parts added in logit space: a pairwise-ranking head trained on UKPConvArg2 (English
argument pairs; which head is chosen is recorded in `models/argument/`), transferred to
Chinese through the multilingual encoder; and hand-set weights over interpretable
features — structure markers and list items, logical connectives, sentence length,
punctuation, repetition — which give the evidence strings.
"""

from __future__ import annotations

from quality.model_store import ModelStore
from quality.schemas import DimensionScore
from quality.text.argument_head import load_argument_heads
from quality.text.batch import TextBatch
from quality.text.scoring import LEARNED_WEIGHT, length_confidence, listed, logistic, logit_of, saturate

LONG_SENTENCE_CHARS = 60  # beyond this a Chinese sentence gets hard to follow
RUN_ON_PUNCTUATION_PER_100 = 2.0  # fewer marks than this per 100 characters reads as one run-on line


class ClarityScorer:
    name = "clarity"
    def __init__(self, store: ModelStore):
        self.store = store
        self.heads = load_argument_heads(store)
        self.head_name = self.heads.head_for("clarity")
        self.version = f"0.2.0+{self.head_name}"

    def score_batch(self, batch: TextBatch) -> list[DimensionScore | None]:
        learned = self.heads.score(self.head_name, batch.embeddings, batch.texts)
        return [
            self._score(features, float(model_score)) if item.has_text else None
            for item, features, model_score in zip(batch.items, batch.features, learned)
        ]

    def _score(self, f, model_score: float) -> DimensionScore:
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
        logit += LEARNED_WEIGHT * logit_of(model_score)
        evidence.append(f"论证质量模型 / argument-quality model ({self.head_name}): {model_score:.2f}")
        return DimensionScore(
            score=round(logistic(logit), 6), confidence=length_confidence(f.n_chars), evidence=evidence
        )
