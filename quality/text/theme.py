"""Theme relevance (切题): how close a contest entry is to the contest's theme.

Only when a post carries a `theme`. Three pieces of evidence, each in [0, 1]:
  - text: cosine of the sentence embeddings of the theme and of title + text, on a ramp
    (unrelated car-forum texts sit around 0.1-0.2 with USE, on-theme ones 0.4-0.55);
  - words: the share of the theme's content words (jieba, two characters or more) that the
    title or text uses literally;
  - photos: what the photos show (ImageNet content groups car / nature / city, from
    quality.image.cnn) weighted by how close each group's description is to the theme.
text relevance = max(text, words); the photos join with half the weight of the text, and only
as far as the network recognises their content. No people's labels of theme fit exist here,
so the ramp is hand-set and the score's confidence is kept low.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from quality.model_store import ModelStore
from quality.registry import PostBatch
from quality.schemas import DimensionScore
from quality.text.batch import load_encoder
from quality.normalize import clean_text
from quality.text.segment import search_words

SIMILARITY_RAMP = (0.10, 0.45)
PHOTO_WEIGHT = 0.5  # relative to the text
PHOTO_FULL_EVIDENCE = 0.5  # content-group mass at which the photos count fully
CONFIDENCE = 0.4  # hand-set ramp, unmeasured against people: say so
GROUP_DESCRIPTIONS = {
    "car": "汽车 爱车 车辆 car",
    "nature": "自然风光 山 湖 海边 峡谷 旅行 landscape nature",
    "city": "城市 街道 建筑 桥 夜景 city street",
}
GROUP_NAMES_ZH = {"car": "汽车", "nature": "自然风光", "city": "城市"}
STOP_WORDS = frozenset({"我的", "我们", "第一", "一次", "第一次", "大家", "一起", "关于", "分享", "自己", "与我"})


def _ramp(value: float, low: float, high: float) -> float:
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


@lru_cache(maxsize=1024)
def theme_words(theme: str) -> tuple[str, ...]:
    """The theme's content words, finest first: 长途旅行 counts as 长途 and 旅行, so a text that
    says 长途 uses half of it."""
    words = [w for w in dict.fromkeys(search_words(clean_text(theme))) if len(w) >= 2 and w not in STOP_WORDS]
    return tuple(w for w in words if not any(other != w and other in w for other in words))


def word_overlap(theme: str, text: str) -> float:
    words = theme_words(theme)
    return sum(w in text for w in words) / len(words) if words else 0.0


class ThemeRelevanceScorer:
    name = "theme_relevance"
    version = "0.1.0-unsupervised"

    def __init__(self, store: ModelStore):
        self.encoder = load_encoder(store)
        self.group_names = list(GROUP_DESCRIPTIONS)
        self.group_embeddings = self.encoder.encode([GROUP_DESCRIPTIONS[g] for g in self.group_names])

    def score_batch(self, batch: PostBatch) -> list[DimensionScore | None]:
        themes = [clean_text(item.theme or "") for item in batch.text.items]
        wanted = sorted({t for t in themes if t})
        if not wanted:
            return [None] * len(themes)
        theme_vectors = dict(zip(wanted, self.encoder.encode(wanted)))
        compositions = batch.scored.get("composition") or [None] * len(themes)
        out: list[DimensionScore | None] = []
        for i, theme in enumerate(themes):
            if not theme:
                out.append(None)
                continue
            out.append(self._score(theme, theme_vectors[theme], batch, i, compositions[i]))
        return out

    def _score(self, theme: str, theme_vector: np.ndarray, batch: PostBatch, i: int, composition) -> DimensionScore:
        item = batch.text.items[i]
        terms: list[tuple[float, float]] = []  # (weight, relevance)
        evidence = []
        if item.has_text:
            similarity = float(theme_vector @ batch.text.embeddings[i])
            overlap = word_overlap(theme, batch.text.texts[i])
            text_relevance = max(_ramp(similarity, *SIMILARITY_RAMP), overlap)
            terms.append((1.0, text_relevance))
            evidence.append(f"文字与主题相似度 / text-theme similarity {similarity:.2f}")
            if overlap:
                evidence.append(f"用到主题词 / uses theme words: {', '.join(w for w in theme_words(theme) if w in batch.text.texts[i])}")
        if composition is not None and composition.images and composition.images[0].content:
            content = {g: float(np.mean([image.content.get(g, 0.0) for image in composition.images]))
                       for g in self.group_names}
            mass = sum(content.values())
            if mass > 0:
                closeness = {g: _ramp(float(theme_vector @ e), *SIMILARITY_RAMP)
                             for g, e in zip(self.group_names, self.group_embeddings)}
                photo_relevance = sum(content[g] * closeness[g] for g in self.group_names) / mass
                terms.append((PHOTO_WEIGHT * min(1.0, mass / PHOTO_FULL_EVIDENCE), photo_relevance))
                top = max(content, key=content.get)
                evidence.append(f"照片内容 / photos show: {GROUP_NAMES_ZH[top]} {top} {content[top]:.2f}")
        total = sum(w for w, _ in terms)
        score = sum(w * r for w, r in terms) / total if total else 0.0
        return DimensionScore(score=round(score, 6), confidence=CONFIDENCE if total else 0.0, evidence=evidence)
