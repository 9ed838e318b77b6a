"""What the reply-civility heads read of a reply and the message it answers.

One function per kind of feature, shared by training (`train/civility_replies.py`) and serving
(`quality.text.reply_civility`), so the two can never drift:

- `lexical_features`: counts a moderator would look at — who is addressed (你, 楼主), insults,
  profanity and brush-offs from the lexicons, sarcasm markers (呵呵, 大师, 您可真是), praise,
  reasons and disagreement markers, questions, the parent's mistake words (what sarcasm mocks),
  lengths and whether the parent's author is new;
- `char_features`: the reply's hashed char 1-3-grams, log counts times idf, L2-normalised;
- `dense_features`: the civility encoder's embedding of the reply, the sentence encoder's
  embeddings of reply and parent and their product, the COLD model's logit, and the lexical counts.

The marker lists below were written for these features from general knowledge of Chinese forum
speech, not from the team's labelled replies.
"""

from __future__ import annotations

import math
import re

import numpy as np
import scipy.sparse as sp

from quality.normalize import clean_text
from quality.text.char_ngrams import hashed_char_counts, weighted_rows
from quality.text.lexicon import default_lexicon

CHAR_NGRAMS = (1, 3)
CHAR_FEATURES = 2**18

ADDRESSEE = ("你", "您", "楼主", "lz", "兄弟", "哥们", "这位", "阁下", "亲")
SARCASM = ("呵呵", "哟", "啧啧", "可真是", "真是人才", "人才啊", "大师", "天才", "佩服佩服", "666", "厉害了", "说得都对",
           "开心就好", "高手在民间", "长见识", "不愧是", "申请专利", "服了", "真行", "可以的", "牛啊", "绝了", "艺术",
           "也是一种", "建议去", "真棒棒", "好棒棒", "优秀", "哇哦", "呵")
SARCASTIC_EMOJI = ("🙄", "[微笑]", "😅", "🤣", "😂", "[捂脸]", "[呵呵]", "[doge]", "🐶")
PRAISE = ("谢谢", "感谢", "多谢", "赞", "厉害", "学到了", "受教", "加油", "辛苦", "支持", "漂亮", "好看", "有用",
          "太棒", "涨知识", "干货", "收藏", "用心", "专业", "好评", "点赞", "羡慕")
REASONS = ("因为", "所以", "数据", "实测", "经验", "比如", "例如", "手册", "官方", "测试", "我开了", "我的车", "公里",
           "一般", "建议", "原因", "证据", "统计", "参考", "按照", "规定", "其实")
DISAGREE = ("不同意", "不对", "不一定", "不准确", "不是这样", "错了", "相反", "保留意见", "恕我直言", "并不", "未必",
            "不敢苟同", "不认同", "有待商榷", "不完全", "但是", "不过", "反而", "不见得")
PARENT_MISTAKE = ("蹭", "撞", "错", "糊", "压线", "忘", "没电", "贴条", "罚", "坏", "翻车", "扣分", "刮", "追尾",
                  "装反", "绕", "迷路", "熄火", "溜车", "挂科", "被坑", "第一次", "有点暗", "有点糊", "新手")
RHETORICAL = re.compile(r"(吗|呢|吧|啊|么)\s*[？?]")
ELLIPSIS = re.compile(r"(。。+|\.\.\.+|…+)")
NUMBER_WITH_UNIT = re.compile(r"\d+(?:\.\d+)?\s*(?:公里|千米|km|升|L|元|块|万|月|年|天|小时|分钟|次|马力|度|%|寸)")

LEXICAL_NAMES = (
    "addressee", "insult", "profanity", "dismissive", "sarcasm", "sarcastic_emoji", "praise", "reasons", "disagree",
    "questions", "rhetorical", "exclamations", "ellipsis", "numbers_with_units", "log_chars", "log_parent_chars",
    "has_parent", "newcomer_parent", "parent_mistake", "sarcasm_x_parent_mistake", "praise_x_parent_mistake",
    "addressee_x_insult", "short_reply",
)


def _count(text: str, markers: tuple[str, ...]) -> int:
    lowered = text.lower()
    return sum(lowered.count(marker.lower()) for marker in markers)


def lexical_features(reply: str, parent: str | None, newcomer_parent: bool) -> np.ndarray:
    """The counts named in LEXICAL_NAMES, each squashed by log1p (float32)."""
    text = clean_text(reply)
    parent_text = clean_text(parent) if parent else ""
    hits = default_lexicon().find(reply)
    by_label = {label: sum(1 for hit in hits if hit.label == label) for label in ("insult", "profanity", "dismissive")}
    sarcasm = _count(text, SARCASM)
    praise = _count(text, PRAISE)
    mistake = _count(parent_text, PARENT_MISTAKE)
    addressee = _count(text, ADDRESSEE)
    raw = {
        "addressee": addressee,
        "insult": by_label["insult"],
        "profanity": by_label["profanity"],
        "dismissive": by_label["dismissive"],
        "sarcasm": sarcasm,
        "sarcastic_emoji": _count(reply, SARCASTIC_EMOJI),
        "praise": praise,
        "reasons": _count(text, REASONS),
        "disagree": _count(text, DISAGREE),
        "questions": text.count("?") + text.count("？"),
        "rhetorical": len(RHETORICAL.findall(text)),
        "exclamations": text.count("!") + text.count("！"),
        "ellipsis": len(ELLIPSIS.findall(reply)),
        "numbers_with_units": len(NUMBER_WITH_UNIT.findall(text)),
        "log_chars": len(text),
        "log_parent_chars": len(parent_text),
        "has_parent": 1 if parent_text else 0,
        "newcomer_parent": 1 if (parent_text and newcomer_parent) else 0,
        "parent_mistake": mistake,
        "sarcasm_x_parent_mistake": min(sarcasm, 3) * min(mistake, 3),
        "praise_x_parent_mistake": min(praise, 3) * min(mistake, 3),
        "addressee_x_insult": min(addressee, 3) * min(by_label["insult"] + by_label["profanity"], 3),
        "short_reply": 1 if len(text) <= 6 else 0,
    }
    return np.array([math.log1p(raw[name]) for name in LEXICAL_NAMES], dtype=np.float32)


def char_features(texts: list[str], idf: np.ndarray) -> sp.csr_matrix:
    """log(1 + count) x idf of the hashed char 1-3-grams, rows L2-normalised (float32 CSR)."""
    counts = hashed_char_counts([clean_text(text) for text in texts], CHAR_NGRAMS, CHAR_FEATURES)
    return weighted_rows(counts, idf, np.log1p(counts.data))


def dense_features(civility_embeddings: np.ndarray, reply_embeddings: np.ndarray | None, parent_embeddings: np.ndarray,
                   cold_logits: np.ndarray, lexical: np.ndarray) -> np.ndarray:
    """One float32 row per reply: [civility encoder (reply), sentence encoder (reply), (parent),
    reply x parent, COLD logit, lexical counts]. A reply without a parent has zeros there.

    Heads whose context encoder is the civility encoder itself (`context_encoder: civility` in
    their file) pass `reply_embeddings=None` and the parent's civility embedding: the rows are then
    [civility (reply), civility (parent), reply x parent, COLD logit, lexical counts], and a reply
    costs no sentence-encoder pass."""
    context_reply = civility_embeddings if reply_embeddings is None else reply_embeddings
    blocks = [civility_embeddings] + ([] if reply_embeddings is None else [reply_embeddings])
    return np.hstack(blocks + [
        parent_embeddings, context_reply * parent_embeddings,
        np.asarray(cold_logits, dtype=np.float32).reshape(-1, 1), lexical,
    ]).astype(np.float32)
