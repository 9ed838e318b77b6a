"""The post-kind signal: what a post is for -- guide, event, rebuttal, showcase, question, other.

Moderation pipelines route on it, and the member layer finds initiative with it (an unprompted
guide, a meetup organised, a rumour answered with evidence). A multinomial logistic head reads
the sentence embedding of title and text together with a few cue counts that name each kind's
usual moves (steps and lists for guides; time, place and sign-up for events; a claim and its
evidence for rebuttals; a question mark for questions). Trained on the team's labelled posts
(data/post_kinds, `python -m train.post_kind`); models/post-kind/MODEL_CARD.md has its figures.
Replies get no kind (None); a post with photos and no text is a showcase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quality.artifacts import read_head_file, write_head_file
from quality.normalize import clean_text

POST_KINDS = ("guide", "event", "rebuttal", "showcase", "question", "other")
MODEL = "post-kind-head"

# Cue groups, written from the kind definitions (data/post_kinds/README.md) before any model was
# fitted; each is counted in title + text. The head weighs them; none decides a kind alone.
CUES: dict[str, str] = {
    "guide_words": r"攻略|指南|教程|避坑|须知|注意事项|经验分享|心得|步骤|方法|技巧|建议大家|新手必看|干货|总结|流程|清单",
    "steps": r"(?:^|\n)\s*(?:\d{1,2}[\.、)）]|[一二三四五六七八九十]+[、.]|第[一二三四五六七八九十\d]+[步点条]|[①②③④⑤⑥⑦⑧⑨])",
    "imperative": r"记得|一定要|千万|别忘|不要|务必|可以先|建议先|最好",
    "event_words": r"活动|聚会|车友会|自驾游|集合|报名|名额|组织|召集|相约|线下|团建|路线安排|费用AA|AA制|接龙|集结",
    "when_where": r"\d{1,2}月\d{1,2}[日号]|周[一二三四五六日末]|星期[一二三四五六日天]|\d{1,2}[:：]\d{2}|[上下]午\d|集合地点|地点[:：]|时间[:：]",
    "recap": r"回顾|圆满|感谢大家|感谢各位|参加的车友|这次活动|本次活动",
    "rumour_words": r"谣言|辟谣|网传|传言|据说|有人说|都说|所谓|不实|假的|误解|误区|真相|澄清|别信|瞎说|以讹传讹",
    "evidence_words": r"实测|亲测|测试|数据|截图|发票|记录|官方|文件|说明书|检测报告|对比|测了|读数|仪表|证明|为证",
    "question_mark": r"[?？]",
    "question_words": r"请问|求助|求问|求推荐|怎么办|怎么|如何|是不是|有没有|吗[?？]?|呢[?？]|哪个好|选哪|纠结|大神|帮忙看",
    "showcase_words": r"提车|作业|晒|分享一下|分享几张|随手拍|美照|颜值|我的车|爱车|游记|一年|公里了|感受|记录一下|打卡",
    "photo_marker": r"\[图片\]|见图|如图|上图|图[一二三四五六七八九\d]|组图|几张",
    "complaint_words": r"吐槽|无语|坑人|气死|垃圾|投诉|心累|后悔|闹心|郁闷",
    "sale_words": r"出售|转让|低价|优惠|加微|私聊|代办|包过|价格美丽|联系电话",
}
_CUE_PATTERNS = {name: re.compile(pattern) for name, pattern in CUES.items()}
FEATURE_NAMES = (*CUES, "log_chars", "has_title", "lines")


def cue_features(title: str, text: str) -> np.ndarray:
    """log(1 + count) of each cue group, then log length, a title, and log line count."""
    full = f"{clean_text(title)}\n{clean_text(text)}".strip()
    counts = [np.log1p(len(pattern.findall(full))) for pattern in _CUE_PATTERNS.values()]
    return np.array([*counts, np.log1p(len(full)) / 6.0, float(bool(title.strip())),
                     np.log1p(full.count("\n"))], dtype=np.float32)


def embedding_inputs(embeddings: np.ndarray) -> np.ndarray:
    return embeddings.astype(np.float64) * np.sqrt(embeddings.shape[1])


@dataclass(frozen=True)
class PostKindHead:
    """softmax(W · [sqrt(d) x embedding, standardised cues] + b) over POST_KINDS: the unit-length
    embedding is scaled so its coordinates have about unit spread, like the cues, and one
    regularisation weighs both alike."""

    weight: np.ndarray  # (features, kinds)
    bias: np.ndarray  # (kinds,)
    cue_mean: np.ndarray
    cue_scale: np.ndarray
    version: str
    encoder: str

    @classmethod
    def load(cls, path: Path) -> PostKindHead:
        arrays, meta = read_head_file(path)
        if tuple(meta["kinds"]) != POST_KINDS or tuple(meta["features"]) != FEATURE_NAMES:
            from quality.errors import ModelIntegrityError

            raise ModelIntegrityError(f"{path}: a post-kind head for other kinds or cues; retrain it "
                                      "(python -m train.post_kind)")
        return cls(weight=arrays["weight"], bias=arrays["bias"], cue_mean=arrays["cue_mean"],
                   cue_scale=arrays["cue_scale"], version=meta["version"], encoder=meta["encoder"])

    def save(self, path: Path) -> None:
        write_head_file(path, {"version": self.version, "encoder": self.encoder, "kinds": list(POST_KINDS),
                               "features": list(FEATURE_NAMES)},
                        weight=self.weight.astype(np.float32), bias=self.bias.astype(np.float32),
                        cue_mean=self.cue_mean.astype(np.float32), cue_scale=self.cue_scale.astype(np.float32))

    def inputs(self, embeddings: np.ndarray, cues: np.ndarray) -> np.ndarray:
        return np.hstack([embedding_inputs(embeddings), (cues - self.cue_mean) / self.cue_scale])

    def probabilities(self, embeddings: np.ndarray, cues: np.ndarray) -> np.ndarray:
        logits = self.inputs(embeddings, cues) @ self.weight.astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def kind_result(probabilities: np.ndarray) -> dict:
    """{"label", "scores"} for one post (the `PostKind` shape)."""
    scores = {kind: round(float(p), 4) for kind, p in zip(POST_KINDS, probabilities)}
    return {"label": POST_KINDS[int(np.argmax(probabilities))], "scores": scores}


PHOTOS_ONLY = {"label": "showcase", "scores": {kind: float(kind == "showcase") for kind in POST_KINDS}}


class PostKindClassifier:
    """Per item of a text batch: its kind (dict), or None for a reply or an empty post."""

    def __init__(self, store):
        from quality.text.batch import load_encoder, require_trained_on

        self.head = store.get(MODEL, lambda s: PostKindHead.load(store.path(MODEL)))
        require_trained_on(store, MODEL, load_encoder(store))
        self.version = self.head.version

    def classify(self, batch, photos: list[int]) -> list[dict | None]:
        """`photos`: how many photos each post has (a post of photos only is a showcase)."""
        out: list[dict | None] = [None] * len(batch)
        rows = [i for i, item in enumerate(batch.items) if item.kind == "post" and item.has_text]
        if rows:
            cues = np.stack([cue_features(batch.items[i].title, batch.items[i].text) for i in rows])
            probabilities = self.head.probabilities(batch.embeddings[rows], cues)
            for i, p in zip(rows, probabilities):
                out[i] = kind_result(p)
        for i, item in enumerate(batch.items):
            if out[i] is None and item.kind == "post" and photos[i] > 0:
                out[i] = dict(PHOTOS_ONLY, scores=dict(PHOTOS_ONLY["scores"]))
        return out
