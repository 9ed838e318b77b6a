"""Interpretable Chinese text features behind clarity, sincerity and helpfulness.

Each feature is a count or ratio with the matched words kept, so a score can say
why ("分点结构: 首先, 其次"). These are first, hand-set signals; learned heads on
human labels replace their weighting in later versions (see models/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

_LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"

STRUCTURE_MARKERS = ("首先", "其次", "再次", "然后", "最后", "第一", "第二", "第三", "总之", "总结",
                     "综上", "结论", "一是", "二是", "另外", "此外", "优点", "缺点")
CONNECTIVES = ("因为", "所以", "因此", "但是", "不过", "如果", "虽然", "由于", "而且", "并且",
               "否则", "既然", "于是", "可见", "相比", "比如", "例如", "也就是说", "换句话说")
ADVICE_MARKERS = ("建议", "推荐", "注意", "可以试试", "记得", "最好", "步骤", "方法", "经验",
                  "攻略", "教程", "提醒", "避坑", "参考", "手册")
FIRST_HAND = ("我的", "我家", "本人", "我自己", "提车", "开了", "用了", "跑了", "实测", "亲测",
              "亲身", "我开", "我买", "我去", "我们", "这次", "那天", "当时", "一路")
BALANCE_MARKERS = ("优点", "缺点", "不足", "遗憾", "槽点", "但是", "不过", "美中不足", "缺陷")
AD_MARKERS = ("加微信", "加v", "vx", "微信号", "私信", "联系电话", "咨询电话", "点击", "链接",
              "代购", "低价", "团购", "返现", "限时", "秒杀", "优惠券", "扫码", "关注公众号", "下单",
              "报我名字", "提我名字", "邀请码", "推荐码", "薇信", "威信")
PRAISE_MARKERS = ("谢谢", "感谢", "多谢", "赞", "厉害", "学到了", "受教", "加油", "辛苦", "支持",
                  "漂亮", "好看", "有用", "太棒", "佩服", "涨知识", "干货")

_UNIT = r"(?:公里|千米|km|KM|L|升|元|块|万|千|百|月|年|天|小时|分钟|秒|次|马力|匹|牛米|N·?m|kg|公斤|度|%|毫米|mm|寸|速)"
_NUMBER_WITH_UNIT = re.compile(r"\d+(?:\.\d+)?\s*" + _UNIT)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SENTENCE_END = re.compile(r"[。！？!?；;\n]+")
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
# A mobile number, whole or with its middle four digits masked as forums make sellers write it
# (139xxxx5678), and a contact handle such as "V：abc123" / "vx: abc" / "+V".
_PHONE = re.compile(r"(?<![\dxX*])1[3-9]\d(?:\d{4}|[xX*＊]{4})\d{4}(?![\dxX*])")
_CONTACT_HANDLE = re.compile(r"(?<![A-Za-z])(?:[vV][xX]?\s*[：:]\s*[A-Za-z0-9_x]|[+＋➕]\s*[vV](?![A-Za-z0-9]))")
_REPEATED_CHAR = re.compile(r"(.)\1{3,}")
_LIST_ITEM = re.compile(r"(?:^|\n)\s*(?:\d+[.、)）]|[一二三四五六七八九十]+[、.]|[-*•·])")


@lru_cache(maxsize=1)
def car_terms() -> frozenset[str]:
    lines = (_LEXICON_DIR / "car_terms_zh.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _found(text: str, markers: tuple[str, ...]) -> list[str]:
    lowered = text.lower()
    return [m for m in markers if m in lowered]


@dataclass
class TextFeatures:
    n_chars: int
    n_sentences: int
    mean_sentence_chars: float
    punctuation_per_100: float
    structure: list[str] = field(default_factory=list)
    list_items: int = 0
    connectives: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    numbers_with_units: list[str] = field(default_factory=list)
    numbers: int = 0
    car_terms: list[str] = field(default_factory=list)
    first_hand: list[str] = field(default_factory=list)
    balance: list[str] = field(default_factory=list)
    ads: list[str] = field(default_factory=list)
    praise: list[str] = field(default_factory=list)
    exclamations: int = 0
    repeated_runs: int = 0
    distinct_word_ratio: float = 1.0
    n_words: int = 0


def extract_features(text: str, words: list[str]) -> TextFeatures:
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    n_chars = len(text)
    punctuation = sum(1 for ch in text if ch in "，。！？；：、,.!?;:")
    ads = _found(text, AD_MARKERS)
    if _URL.search(text):
        ads.append("url")
    if _PHONE.search(text):
        ads.append("phone_number")
    if _CONTACT_HANDLE.search(text):
        ads.append("contact_handle")
    terms = car_terms()
    return TextFeatures(
        n_chars=n_chars,
        n_sentences=len(sentences),
        mean_sentence_chars=(sum(len(s) for s in sentences) / len(sentences)) if sentences else 0.0,
        punctuation_per_100=100.0 * punctuation / max(n_chars, 1),
        structure=_found(text, STRUCTURE_MARKERS),
        list_items=len(_LIST_ITEM.findall(text)),
        connectives=_found(text, CONNECTIVES),
        advice=_found(text, ADVICE_MARKERS),
        numbers_with_units=_NUMBER_WITH_UNIT.findall(text)[:20],
        numbers=len(_NUMBER.findall(text)),
        car_terms=sorted({w for w in words if w in terms}),
        first_hand=_found(text, FIRST_HAND),
        balance=_found(text, BALANCE_MARKERS),
        ads=ads,
        praise=_found(text, PRAISE_MARKERS),
        exclamations=text.count("!") + text.count("！"),
        repeated_runs=len(_REPEATED_CHAR.findall(text)),
        distinct_word_ratio=(len(set(words)) / len(words)) if words else 1.0,
        n_words=len(words),
    )
