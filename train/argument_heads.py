"""Train the argument-quality heads on UKPConvArg2 and measure them by leave-one-topic-out CV.

    python -m train.argument_heads [--data-dir DIR] [--out-dir DIR] [--cache-dir DIR]

Data: UKPConvArg2 (Habernal & Gurevych, EMNLP 2016), read from
`<data_dir>/helpfulness/ukpconvarg2/*.csv` and never copied into the repository. Each
line is one argument pair: pair id, gold reason codes, the MORE convincing argument,
the LESS convincing argument (the text order is by convincingness; the pair id keeps
the order the pair was shown in, see `read_pairs`).

Every head is a utility u(text) = w . z([USE embedding, text features]) trained as a
pairwise ranker: logistic regression without intercept on z(winner) - z(loser), with
both orderings. `argument_quality` uses all pairs; the specialised heads use the pairs
whose reasons include their codes (`HEAD_CODES`, meanings in `CODEBOOK`).

Evaluation: leave-one-topic-out, a topic being one debate (both stance files of a
debate in the same fold). The L2 strength is chosen inside each training fold by
grouped 4-fold CV over the training topics, so the held-out topic never picks it.
Baselines: "the longer argument wins" and, for the specialised heads, the general head
evaluated on the same pairs.

Writes `models/argument/argument_heads.npz`, `metrics.json`, `MODEL_CARD.md`.
Embeddings are cached in `--cache-dir` (default /tmp) so each text is encoded once.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from eval import metrics as eval_metrics
from quality.settings import PROJECT_ROOT, get_settings
from quality.text.argument_head import (
    CJK_CHAR_UNITS,
    EMBEDDING_DIM,
    FEATURE_NAMES,
    ArgumentHead,
    ArgumentHeads,
    argument_text_features,
    text_units,
)
from quality.normalize import clean_text

VERSION = "2026.11.27"
ENCODER = "use-multilingual-v3"
DEFAULT_OUT_DIR = PROJECT_ROOT / "models" / "argument"
DEFAULT_CACHE_DIR = Path("/tmp/quality_argument_cache")
C_GRID = (0.00001, 0.00003, 0.0001, 0.0003, 0.001, 0.003, 0.01)
INNER_FOLDS = 4
MIN_TOPIC_PAIRS = 20  # per-topic minimum is taken over topics with at least this many pairs in the subset

# The option texts the crowd workers chose from, verbatim from the authors' HIT generator
# (UKPLab/emnlp2016-empirical-convincingness, Step7HITCreator.java). "Argument X" is the
# argument the explanation is about; o5-o7 (negative properties) describe the LESS
# convincing argument, o8-o9 (positive properties) the MORE convincing one. o8_2, o8_3
# were dropped before annotation and o8_6 never occurs in the released gold labels.
CODEBOOK = {
    "o5_1": "weaker: attacking opponent / abusive",
    "o5_2": "weaker: language issues / bad grammar / uses humor, jokes, or sarcasm",
    "o5_3": "weaker: unclear, hard to follow",
    "o6_1": "weaker: no facts / not enough support / not credible evidence / no clear explanation",
    "o6_2": "weaker: no reasoning / less or insufficient reasoning",
    "o6_3": "weaker: uses irrelevant reasons / irrelevant information",
    "o7_1": "weaker: not an argument / only opinion / rant",
    "o7_2": "weaker: non-sense / has no logical sense / confusing",
    "o7_3": "weaker: off topic / doesn't address the issue",
    "o7_4": "weaker: generally weak / vague",
    "o8_1": "stronger: more details, information, facts, or examples / more reasons / better reasoning / goes deeper / more specific",
    "o8_4": "stronger: balanced, objective, several viewpoints / well-rounded / tackles flaws in opposing views",
    "o8_5": "stronger: better credibility / reliability / confidence",
    "o9_1": "stronger: clear, crisp, to the point / well written",
    "o9_2": "stronger: sticks to the topic",
    "o9_3": "stronger: provoking question / makes you think",
    "o9_4": "stronger: well thought of / smart remarks / higher complexity",
}

# Which reasons make a pair evidence for a dimension (None = every pair).
#  clarity: the presentation codes. o9_1 (clear, well written) and o5_3 (unclear, hard to
#    follow) are clarity by definition; o7_2 (non-sense, confusing) is the "logic" half of
#    逻辑清晰; o5_2 (language issues, bad grammar) is readability, but the same option also
#    covers humour/sarcasm, so a variant without it is reported too.
#  helpfulness: concrete, usable information. o8_1 (more details, facts, examples, more
#    specific), o6_1 (no facts, not enough support), o7_4 (vague). o6_2 (no reasoning) is
#    about argument logic, o8_5 about credibility: left out.
#  sincerity: o8_4 (balanced, several viewpoints = "both pros and cons") and o8_5
#    (credible, reliable). Neither says first-hand or not-advertising, so this head covers
#    only a part of the service's sincerity.
HEAD_CODES: dict[str, tuple[str, ...] | None] = {
    "argument_quality": None,
    "clarity": ("o9_1", "o5_3", "o7_2", "o5_2"),
    "helpfulness": ("o8_1", "o6_1", "o7_4"),
    "sincerity": ("o8_4", "o8_5"),
}
# Evaluated, not shipped: sensitivity of the clarity subset to the mixed o5_2 option.
VARIANT_CODES: dict[str, tuple[str, ...]] = {
    "clarity_without_o5_2": ("o9_1", "o5_3", "o7_2"),
}

# Cross-lingual sanity check, written for this project (not a metric: nothing is tuned on
# it). Each pair: (topic, better, worse). In the first nine the better post is much
# longer; in the last six the worse post (rambling, ranting, hedging) is about as long or
# longer, so length alone cannot order them.
CHINESE_SANITY_PAIRS: list[tuple[str, str, str]] = [
    ("保养周期",
     "首保一般是5000公里或6个月，先到为准。之后每1万公里换一次机油和机滤，全合成机油可以放宽到1万2。空滤2万公里换，空调滤每年换一次，刹车油两年一换。具体以保养手册为准，别被4S店推销的清洗项目忽悠。",
     "保养就那样吧，差不多就行。"),
    ("油耗",
     "我这台1.5T开了8000公里，市区通勤平均8.5L/100km，高速跑120左右是6.2L。冬天开暖风怠速热车会高一点，大概多0.5L。胎压保持2.5bar、少急加速，油耗能降不少。",
     "油耗还行吧，反正我觉得不高。"),
    ("长途自驾准备",
     "出发前建议做三件事：一是检查胎压和备胎，顺便看看轮胎有没有鼓包；二是检查机油、防冻液和玻璃水液位；三是规划好服务区加油点，山区路段提前加满。另外带上三角警示牌、拖车绳和充电宝。",
     "自驾游好玩，走起！"),
    ("冬季胎压",
     "冬天气温低，胎压会自然下降，大概每降10度少0.1bar。建议冷车时测量，按车门边标签的数值补气，一般前轮2.3到2.5bar。胎压太低不仅费油，还会加速轮胎磨损，高速上也不安全。",
     "冬天胎压？不知道，随便吧。"),
    ("新车磨合",
     "新车前3000公里算磨合期：转速尽量不超过3000转，避免长时间同一速度巡航，不要急加速急刹车，也别拖重物。现在的发动机工艺好了，不用太刻意，但首保按时做，把磨合产生的金属屑随机油换掉。",
     "磨合没用，都是骗人的。"),
    ("电车冬季续航",
     "我的车标称续航500公里，冬天零下5度实际只能跑330左右，掉了三成多。主要是电池低温活性差加上开空调。出发前插着充电桩预热电池和座舱，能多跑二三十公里；座椅加热比开暖风省电。",
     "电车冬天不行，别买。"),
    ("雨天驾驶",
     "雨天开车注意三点：第一，车速比平时降两成，跟车距离拉大一倍，因为刹车距离会变长；第二，开近光灯和雾灯，让别人看见你；第三，积水深度超过轮胎一半就别硬闯，发动机进水保险可能不赔。",
     "下雨慢点开就行了，没啥好说的。"),
    ("二手车检查",
     "看二手车先查三样：一是查4S店维修保养记录，看里程是否被调过；二是看A柱、B柱和翼子板螺丝有没有拆过的痕迹，判断是否事故车；三是掀开地毯看有没有泥沙和锈迹，排除泡水车。最好再花两三百块找第三方检测。",
     "二手车水太深了，小心被坑。"),
    ("机油选择",
     "机油看手册推荐的粘度，比如0W-20或5W-30，认准API SP或者ILSAC GF-6认证就行。涡轮增压发动机建议用全合成，矿物油换油周期短，算下来不一定便宜。品牌差别没有论坛说的那么大。",
     "机油随便买个牌子就行，都一样。"),
    ("隔音",
     "这车隔音在同价位算中等：60km/h以下很安静，车内大概55分贝；上了高速100km/h以后胎噪比较明显，能到68分贝左右，主要是原厂轮胎偏硬。换了静音胎之后感觉降了三四分贝，四门加装隔音棉效果一般。",
     "隔音？我觉得这车的隔音问题其实吧，怎么说呢，就是那种感觉，你开上去就知道了，反正就是那样，有人说好有人说不好，我也说不清楚，看个人吧，反正我是觉得还可以也不是特别好也不是特别差吧就这样。"),
    ("买车预算",
     "15万预算买家用车，建议优先看三点：空间够不够（后排有没有一拳以上腿部空间），油耗（城市工况8个油以内），保值率（三年残值六成以上）。试驾时重点试起步和刹车，别只看配置表。",
     "15万？？？这个价位的车没一个好东西！！！全是坑！！！买了就后悔！！！我朋友买了天天骂，说这也不行那也不行，开了半年就想卖，卖又卖不上价！！！你们自己看着办吧，反正我是不会再买这个价位的车了，别买别买别买！！！"),
    ("刹车片更换",
     "刹车片一般3到5万公里换，具体看磨损：刹车片剩3毫米左右就该换了，很多车有磨损报警线，仪表会提示。换前片的时候顺便看刹车盘有没有明显沟槽，太深的话要一起换或者光盘。",
     "刹车片嘛，这个东西，你说换吧也行，不换吧好像也行，我有个朋友他说他一直没换，但是又有人说要换，我也搞不清楚，反正刹车有声音的话，可能也不一定是刹车片的问题，也可能是别的，谁知道呢。"),
    ("自动泊车",
     "实测这车的自动泊车：侧方位车位需要比车长多1米左右才能识别，倒车入库识别率挺高，十次成功了九次，每次大约40秒。地面车位线模糊或者旁边没车的时候容易识别失败，还是要自己看着点。",
     "自动泊车就是个噱头，厂家骗钱的，谁用谁知道，我反正从来不用，有那钱不如加个真皮座椅，现在的车企就知道堆配置，一点都不实在，宣传的时候吹得天花乱坠，真用起来又是另一回事，还是老车好，老司机停车哪用得着这玩意。"),
    ("空调异味",
     "空调有异味多半是蒸发箱发霉。先换空调滤芯（几十块钱自己就能换），再用蒸发箱清洗剂从排水管喷进去。平时到家前两三分钟先关AC、只开风机，把蒸发箱吹干，就不容易再发霉。",
     "空调有味道很正常啊，我的车也有，开窗通通风就好了，没什么大不了的，大家都这样，别想太多，车嘛能开就行，你要是受不了就去4S店让他们弄，反正我不管。"),
    ("轮胎选择",
     "换胎先看原厂规格，比如215/55 R17 94V，尺寸和载重指数别改小。注重静音选舒适型，常跑高速选速度级别V以上的。生产日期看胎侧四位数字，比如2324表示2024年第23周，超过两年的库存胎别要。",
     "轮胎嘛，我觉得米其林好，也有人说马牌好，还有人说普利司通好，其实都差不多吧，我之前那个车用的是原厂胎，开着也挺好，后来换了一个，也还行，反正轮胎这东西就是看个人喜好，你喜欢哪个就买哪个。"),
]


@dataclass(frozen=True)
class Pair:
    topic: str  # the debate; both stance files of a debate share it
    source: str  # file name without ".xml.csv"
    pair_id: str
    codes: frozenset[str]
    winner: str
    loser: str


def prepare_text(raw: str) -> str:
    """UKPConvArg2 text as the service would see it: `<br/>` to newlines, HTML entities, clean_text."""
    text = re.sub(r"<br\s*/?>", "\n", raw, flags=re.IGNORECASE)
    text = html.unescape(text)
    return clean_text(text)


def topic_of(source: str) -> str:
    """Debate of a file: the part before the first "_" (the stance follows it)."""
    return source.split("_", 1)[0]


def read_pairs(directory: Path) -> list[Pair]:
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no UKPConvArg2 csv files in {directory}")
    pairs = []
    for path in files:
        source = path.name.removesuffix(".csv").removesuffix(".xml")
        with open(path, encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 4:
                    raise ValueError(f"{path.name}:{n}: expected 4 tab-separated fields, got {len(parts)}")
                pair_id, codes, more, less = parts
                pairs.append(
                    Pair(
                        topic=topic_of(source),
                        source=source,
                        pair_id=pair_id,
                        codes=frozenset(c.strip() for c in codes.split(",") if c.strip()),
                        winner=prepare_text(more),
                        loser=prepare_text(less),
                    )
                )
    return pairs


# --- embeddings, cached ----------------------------------------------------------------


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed(texts: list[str], cache_dir: Path, batch_size: int = 16) -> np.ndarray:
    """USE embeddings (L2-normalised) for texts, encoding only the ones not cached yet."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file = cache_dir / "use_m3_embeddings.npz"
    cache: dict[str, np.ndarray] = {}
    if cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as data:
            cache = dict(zip(data["keys"].tolist(), data["vectors"]))
    keys = [_key(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts) if k not in cache}.items(), key=lambda kv: len(kv[1]))
    if missing:
        from quality.text.encoder import UniversalSentenceEncoder

        encoder = UniversalSentenceEncoder(threads=1)
        started = time.time()
        for i in range(0, len(missing), batch_size):
            chunk = missing[i : i + batch_size]
            vectors = encoder.encode([t for _, t in chunk])
            for (k, _), v in zip(chunk, vectors):
                cache[k] = v
            print(f"  encoded {min(i + batch_size, len(missing))}/{len(missing)} ({time.time() - started:.0f}s)", file=sys.stderr)
        all_keys = sorted(cache)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(all_keys), vectors=np.stack([cache[k] for k in all_keys]).astype(np.float32))
        tmp.replace(cache_file)
    return np.stack([cache[k] for k in keys]).astype(np.float32)


# --- the ranker --------------------------------------------------------------------------


def design(embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
    return np.hstack([embeddings, argument_text_features(texts)]).astype(np.float64)


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def fit_ranker(z: np.ndarray, winners: np.ndarray, losers: np.ndarray, c: float) -> np.ndarray:
    """Logistic regression on z[w] - z[l] (label 1) and z[l] - z[w] (label 0), no intercept."""
    from sklearn.linear_model import LogisticRegression

    diff = z[winners] - z[losers]
    x = np.vstack([diff, -diff])
    y = np.r_[np.ones(len(diff)), np.zeros(len(diff))]
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000, tol=1e-5)
    model.fit(x, y)
    return model.coef_.ravel()


def pairwise_accuracy(u: np.ndarray, winners: np.ndarray, losers: np.ndarray) -> float:
    """Share of (winner, loser) index pairs ranked right by the utilities `u` (ties half)."""
    return eval_metrics.pairwise_accuracy(u[winners], u[losers])["pairwise_accuracy"]


class Data:
    """Unique argument texts, their design rows, and pairs as index arrays."""

    def __init__(self, pairs: list[Pair], embeddings_by_text: dict[str, np.ndarray]):
        self.texts = sorted({p.winner for p in pairs} | {p.loser for p in pairs})
        index = {t: i for i, t in enumerate(self.texts)}
        embeddings = np.stack([embeddings_by_text[t] for t in self.texts])
        self.embedding_dim = embeddings.shape[1]  # USE's 512 as served; another encoder's when compared
        self.x = design(embeddings, self.texts)
        self.units = np.array([text_units(t) for t in self.texts])
        self.pairs = pairs
        self.w = np.array([index[p.winner] for p in pairs])
        self.l = np.array([index[p.loser] for p in pairs])
        self.topic = np.array([p.topic for p in pairs])
        self.text_topic = np.empty(len(self.texts), dtype=object)
        for p, wi, li in zip(pairs, self.w, self.l):
            self.text_topic[wi] = self.text_topic[li] = p.topic
        self.topics = sorted(set(self.topic.tolist()))

    def subset(self, codes: tuple[str, ...] | None) -> np.ndarray:
        if codes is None:
            return np.ones(len(self.pairs), dtype=bool)
        wanted = set(codes)
        return np.array([bool(p.codes & wanted) for p in self.pairs])


def _columns(data: Data, which: str) -> np.ndarray:
    if which == "embedding+features":
        return data.x
    if which == "features":
        return data.x[:, data.embedding_dim:]
    raise ValueError(which)


def train_on(data: Data, pair_mask: np.ndarray, text_mask: np.ndarray, c: float, which: str):
    x = _columns(data, which)
    mean, scale = standardiser(x[text_mask])
    z = (x - mean) / scale
    coef = fit_ranker(z, data.w[pair_mask], data.l[pair_mask], c)
    return coef, mean, scale


def utilities(data: Data, coef: np.ndarray, mean: np.ndarray, scale: np.ndarray, which: str) -> np.ndarray:
    return ((_columns(data, which) - mean) / scale) @ coef


def choose_c(data: Data, pair_mask: np.ndarray, train_topics: list[str], which: str) -> tuple[float, dict]:
    """L2 strength by grouped k-fold over the given topics (pairs of pair_mask only)."""
    folds = [train_topics[i::INNER_FOLDS] for i in range(INNER_FOLDS)]
    scores = {}
    for c in C_GRID:
        correct = total = 0.0
        for held in folds:
            held_set = set(held)
            in_held = np.isin(data.topic, list(held_set))
            in_train = np.isin(data.topic, [t for t in train_topics if t not in held_set])
            text_train = np.isin(data.text_topic, [t for t in train_topics if t not in held_set])
            coef, mean, scale = train_on(data, pair_mask & in_train, text_train, c, which)
            u = utilities(data, coef, mean, scale, which)
            m = pair_mask & in_held
            d = u[data.w[m]] - u[data.l[m]]
            correct += float(np.sum((d > 0) + 0.5 * (d == 0)))
            total += len(d)
        scores[c] = correct / total
    best = max(C_GRID, key=lambda c: (round(scores[c], 6), -c))  # ties: the stronger penalty
    return best, scores


def summarise(per_topic: dict[str, tuple[float, int]]) -> dict:
    """Pairwise accuracy over all held-out pairs (pooled), mean over topics, min over topics."""
    n = sum(k for _, k in per_topic.values())
    pooled = sum(a * k for a, k in per_topic.values()) / n if n else float("nan")
    eligible = {t: a for t, (a, k) in per_topic.items() if k >= MIN_TOPIC_PAIRS}
    worst = min(eligible, key=eligible.get) if eligible else None
    return {
        "pairs": n,
        "pooled": round(pooled, 4),
        "topic_mean": round(float(np.mean(list(eligible.values()))), 4) if eligible else None,
        "topic_min": round(eligible[worst], 4) if worst else None,
        "topic_min_name": worst,
        "topics_counted": len(eligible),
    }


def cross_validate(data: Data, subsets: dict[str, np.ndarray], heads: dict[str, tuple[str, ...] | None]) -> dict:
    """Leave-one-topic-out: every trained model is evaluated on every subset of the held-out topic."""
    models = {name: ("embedding+features", codes) for name, codes in heads.items()}
    models["features_only"] = ("features", None)
    acc: dict[str, dict[str, dict[str, tuple[float, int]]]] = {m: {s: {} for s in subsets} for m in models}
    acc["length"] = {s: {} for s in subsets}
    chosen: dict[str, dict[str, float]] = {m: {} for m in models}
    for k, topic in enumerate(data.topics, 1):
        started = time.time()
        train_topics = [t for t in data.topics if t != topic]
        in_train = data.topic != topic
        text_train = data.text_topic != topic
        held = ~in_train
        for name, (which, codes) in models.items():
            mask = data.subset(codes)
            c, _ = choose_c(data, mask, train_topics, which)
            chosen[name][topic] = c
            coef, mean, scale = train_on(data, mask & in_train, text_train, c, which)
            u = utilities(data, coef, mean, scale, which)
            for s, smask in subsets.items():
                m = held & smask
                acc[name][s][topic] = (pairwise_accuracy(u, data.w[m], data.l[m]), int(m.sum()))
        for s, smask in subsets.items():
            m = held & smask
            acc["length"][s][topic] = (pairwise_accuracy(data.units, data.w[m], data.l[m]), int(m.sum()))
        print(f"  fold {k}/{len(data.topics)} {topic[:40]} ({time.time() - started:.0f}s)", file=sys.stderr)
    result = {
        model: {
            s: {**summarise(per), "per_topic": {t: [round(a, 4), n] for t, (a, n) in per.items()}}
            for s, per in by_subset.items()
        }
        for model, by_subset in acc.items()
    }
    return {"accuracy": result, "chosen_c": chosen}


def topic_bootstrap_difference(own: dict, general: dict, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of pooled accuracy(own) - pooled accuracy(general), resampling held-out topics."""
    topics = sorted(t for t in own if own[t][1] > 0)
    a = np.array([own[t][0] for t in topics])
    b = np.array([general[t][0] for t in topics])
    n = np.array([own[t][1] for t in topics], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(topics), size=(draws, len(topics)))
    diffs = ((a - b)[idx] * n[idx]).sum(axis=1) / n[idx].sum(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def robust_spread(u: np.ndarray) -> float:
    q25, q75 = np.percentile(u, [25, 75])
    return float(max((q75 - q25) / 1.349, 1e-6))


def fit_final(data: Data, codes: tuple[str, ...] | None, name: str) -> tuple[ArgumentHead, float, dict]:
    mask = data.subset(codes)
    c, scores = choose_c(data, mask, data.topics, "embedding+features")
    everything = np.ones(len(data.texts), dtype=bool)
    coef, mean, scale = train_on(data, mask, everything, c, "embedding+features")
    u = utilities(data, coef, mean, scale, "embedding+features")
    head = ArgumentHead(
        name=name,
        weights=coef.astype(np.float32),
        bias=0.0,
        mean=mean,
        scale=scale,
        median=float(np.median(u)),
        spread=robust_spread(u),
    )
    return head, c, {str(k): round(v, 4) for k, v in scores.items()}


def chinese_sanity(heads: ArgumentHeads, cache_dir: Path) -> dict:
    better = [clean_text(b) for _, b, _ in CHINESE_SANITY_PAIRS]
    worse = [clean_text(w) for _, _, w in CHINESE_SANITY_PAIRS]
    e_better, e_worse = embed(better, cache_dir), embed(worse, cache_dir)
    matched = np.array([text_units(w) >= 0.8 * text_units(b) for b, w in zip(better, worse)])
    out: dict = {"pairs": len(CHINESE_SANITY_PAIRS), "length_matched_pairs": int(matched.sum()), "heads": {}}
    for name in heads.names:
        ub = heads.utility(name, e_better, better)
        uw = heads.utility(name, e_worse, worse)
        sb = heads.score(name, e_better, better)
        sw = heads.score(name, e_worse, worse)
        ok = ub > uw
        out["heads"][name] = {
            "correct": int(ok.sum()),
            "correct_better_much_longer": int(ok[~matched].sum()),
            "correct_length_matched": int(ok[matched].sum()),
            "wrong_topics": [t for (t, _, _), good in zip(CHINESE_SANITY_PAIRS, ok) if not good],
            "mean_score_better": round(float(sb.mean()), 3),
            "mean_score_worse": round(float(sw.mean()), 3),
        }
    units_ok = np.array([text_units(b) > text_units(w) for b, w in zip(better, worse)])
    out["length_baseline_correct"] = int(units_ok.sum())
    return out


# --- outputs -----------------------------------------------------------------------------


def _fmt(s: dict) -> str:
    return f"{s['pooled']:.3f} / {s['topic_mean']:.3f} / {s['topic_min']:.3f}" if s.get("topic_mean") is not None else "n/a"


def model_card(metrics: dict) -> str:
    cv = metrics["cv"]["accuracy"]
    counts = metrics["pair_counts"]
    subsets = list(counts)
    rows = ["| model (trained on) | " + " | ".join(f"{s} ({counts[s]} pairs)" for s in subsets) + " |",
            "|---|" + "---|" * len(subsets)]
    for model in ["length", "features_only", *metrics["heads"]]:
        rows.append(f"| {model} | " + " | ".join(_fmt(cv[model][s]) for s in subsets) + " |")
    sanity = metrics["chinese_sanity"]
    n_all, n_matched = sanity["pairs"], sanity["length_matched_pairs"]
    sanity_rows = [f"| head | correct of {n_all} | of the {n_all - n_matched} where the better post is much longer | of the {n_matched} length-matched | mean score better / worse |",
                   "|---|---|---|---|---|"]
    for name, r in sanity["heads"].items():
        sanity_rows.append(f"| {name} | {r['correct']} | {r['correct_better_much_longer']} | {r['correct_length_matched']} | {r['mean_score_better']} / {r['mean_score_worse']} |")
    rec = metrics["recommended"]
    specificity = "\n".join(
        f"- `{h}`: {c['specialised']:.3f} vs {c['general']:.3f} on its own pairs, "
        f"{c['on_all_pairs']['specialised']:.3f} vs {c['on_all_pairs']['general']:.3f} on all pairs"
        for h, c in metrics["specialised_vs_general"].items()
    )
    lc = metrics["length_correlation"]
    general_all = cv["argument_quality"]["all"]
    worst = general_all["topic_min_name"]
    worst_length = cv["length"]["all"]["per_topic"][worst][0]
    weakest = (f"on the weakest held-out debate (`{worst}`) the general head gets "
               f"{general_all['topic_min']:.3f} and \"the longer wins\" {worst_length:.3f}.")
    decisions = "\n".join(f"- `{dim}` → head `{head}`: {metrics['decisions'][dim]}" for dim, head in rec.items())
    codes = "\n".join(f"| `{c}` | {m} | {metrics['code_counts'].get(c, 0)} |" for c, m in CODEBOOK.items())
    head_codes = "\n".join(
        f"- `{h}`: {'all pairs' if c is None else ', '.join(c)} ({counts['all'] if c is None else counts[h]} pairs)" for h, c in HEAD_CODES.items()
    )
    return f"""# Argument-quality heads (argument_quality, clarity, helpfulness, sincerity)

Version {metrics['version']}. Linear utilities over the {ENCODER} sentence embedding plus
{len(FEATURE_NAMES)} text features ({', '.join(FEATURE_NAMES)}), trained as pairwise rankers
on **English** argument pairs and applied to **Chinese** posts through the multilingual
encoder. **No Chinese text and no car-forum text was labelled for these heads**: every
label is an English crowd judgement about English debate arguments. The transfer to
Chinese rests on USE multilingual v3 putting translations close together; it was only
sanity-checked on {metrics['chinese_sanity']['pairs']} hand-written Chinese pairs (below), not measured on labelled Chinese data.

## Data

UKPConvArg2 (Habernal & Gurevych, "What makes a convincing argument? Empirical analysis and
detecting attributes of convincingness in Web argumentation", EMNLP 2016): {metrics['data']['pairs']} argument
pairs from {metrics['data']['files']} files = {metrics['data']['topics']} debates (createdebate.com, convinceme.net),
{metrics['data']['arguments']} distinct arguments. Each pair: the more convincing argument, the less
convincing one, and the crowd's reasons as codes.

Licence: the release's `LICENSE.txt` says **CC BY-NC-SA 4.0** (source arguments © their
authors on createdebate.com / convinceme.net); the README of the release says CC BY 4.0. We
follow the stricter LICENSE.txt: the weights in `argument_heads.npz` are derived from
CC BY-NC-SA 4.0 data, so treat them as non-commercial / share-alike until the licence is
clarified with the authors. The data is not in this repository.

Direction, checked on the data: the first text column is the more convincing argument (the
release README says so; in the data the first text is longer in {metrics['data']['first_longer']:.1%} of pairs,
and in pairs coded o5_1 "attacking/abusive" the second text contains an insult word
({metrics['data']['insult_rate_o5_1']['loser']:.0%}) far more often than the first ({metrics['data']['insult_rate_o5_1']['winner']:.0%}); in the o7_3 "off topic"
pairs we read, the second text was mostly a meta-comment about the thread or site). The pair
id does not give the order (the winner is the first id in {metrics['data']['winner_first_in_id']:.1%} of pairs).

Reason codes: meanings are the answer options the crowd workers chose from, taken verbatim from
the authors' HIT generator (UKPLab/emnlp2016-empirical-convincingness,
`Step7HITCreator.java`); o5–o7 describe the weaker argument, o8–o9 the stronger one. (o8_2,
o8_3 were removed before annotation, o8_6 does not occur in the gold labels.) Reading samples
of each code agreed with these meanings, with visible label noise.

| code | meaning | pairs |
|---|---|---|
{codes}

Pairs used by each head:
{head_codes}

Preprocessing at training = serving: `<br/>` → newline, HTML entities unescaped,
`clean_text` (NFKC, invisible/control characters removed), then USE embedding (L2-normalised)
and `quality.text.argument_head.argument_text_features`. Length is counted in word units
(a Latin word = 1, a CJK character = {CJK_CHAR_UNITS:.3f}) so English and Chinese share a scale.

## Training

Logistic regression without intercept on the standardised feature difference
winner − loser, both orderings. L2 strength C from {list(C_GRID)} chosen by grouped
{INNER_FOLDS}-fold CV over topics. u(text) = w · (x − mean) / scale; the service maps
u to [0, 1] by sigmoid((u − median) / spread), median and spread (IQR/1.349) of u over all
{metrics['data']['arguments']} training arguments. Chosen C for the shipped heads: {json.dumps(metrics['final_c'])}.

## Evaluation: leave-one-topic-out cross-validation

{metrics['data']['topics']} folds, one debate held out per fold (both stance files of a debate together).
C chosen inside each training fold. Pairwise accuracy (ties count ½): pooled over all
held-out pairs / mean over topics / minimum topic (topics with ≥ {MIN_TOPIC_PAIRS} pairs in the subset).
Rows: the model; columns: the pair subset it is evaluated on. `length` = "the longer
argument (in word units) wins"; `features_only` = the same ranker on the {len(FEATURE_NAMES)} text features only,
trained on all pairs.

{chr(10).join(rows)}

Decisions (a specialised head is used only if it beats the general head on its own subset,
with a 95% topic-bootstrap interval of the difference above 0; otherwise the general head,
trained on more pairs, is used):
{decisions}

Specialised vs general head (pooled accuracy, specialised first):
{specificity}

A specialised head that gains on its own pairs and loses on all pairs has learnt something
specific to its reasons; whether that gain is real is what the interval above decides.

## Cross-lingual sanity check (not a metric)

{metrics['chinese_sanity']['pairs']} hand-written Chinese car-forum pairs (`CHINESE_SANITY_PAIRS` in the training script): a
clear, detailed, reasoned post vs a vague / confusing / one-line or ranting post on the same
topic. In {n_all - n_matched} pairs the better post is much longer; in {n_matched} the worse post is at least
0.8 times as long (rambling, ranting, hedging). "The longer post wins" gets
{sanity['length_baseline_correct']}/{n_all}.

{chr(10).join(sanity_rows)}

## Limitations

- English labels, Chinese use. Nothing here measures accuracy on Chinese or on car-forum
  posts; the sanity pairs are few, written by us, and easy.
- The labels are "more convincing in a debate", with reasons. A subset head learns "the
  winner among pairs where that reason was given", not clarity or helpfulness as such; the
  winners are also longer ({metrics['data']['first_longer']:.0%}), and the length baseline is strong.
- The heads lean on length: over the training arguments u correlates with log length at
  {', '.join(f"{n} {v['u']:.2f}" for n, v in lc.items())}; the embedding part alone still
  correlates {min(v['embedding_part_of_u'] for v in lc.values()):.2f}–{max(v['embedding_part_of_u'] for v in lc.values()):.2f} (USE vectors carry length). A long empty
  post will score higher than it deserves; the length-matched sanity pairs are the only
  check against that, and they are few.
- Topics differ a lot: {weakest}
- Short, opinionated, often ungrammatical web arguments on {metrics['data']['topics']} debate topics; a car post
  with a price list or a maintenance schedule is far from that data.
- u is only identified up to differences; the [0, 1] mapping is centred on English debate
  arguments, so Chinese posts may sit off-centre as a group.
- The sincerity codes (balanced, credible) cover only a part of the service's sincerity
  (first-hand, not advertising).

## Reproduce

```
{metrics['command']}
```
Deterministic (lbfgs, fixed folds); the embedding cache only saves time. Took {metrics['seconds']:.0f} s on
1 thread.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="UKPConvArg2 csv directory (default: <settings.data_dir>/helpfulness/ukpconvarg2)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or get_settings().data_dir / "helpfulness" / "ukpconvarg2"
    started = time.time()

    with threadpool_limits(1):
        pairs = read_pairs(data_dir)
        texts = sorted({p.winner for p in pairs} | {p.loser for p in pairs})
        print(f"{len(pairs)} pairs, {len(texts)} arguments", file=sys.stderr)
        vectors = embed(texts, args.cache_dir)
        data = Data(pairs, dict(zip(texts, vectors)))

        subsets = {"all": data.subset(None)}
        for name, codes in HEAD_CODES.items():
            if codes is not None:
                subsets[name] = data.subset(codes)
        for name, codes in VARIANT_CODES.items():
            subsets[name] = data.subset(codes)
        heads_to_cv = dict(HEAD_CODES) | dict(VARIANT_CODES)
        cv = cross_validate(data, subsets, heads_to_cv)

        final, final_c, final_scores = {}, {}, {}
        for name, codes in HEAD_CODES.items():
            final[name], final_c[name], final_scores[name] = fit_final(data, codes, name)

    # How much of each head is length: correlation of u with log length over the training arguments.
    log_units = data.x[:, EMBEDDING_DIM + FEATURE_NAMES.index("log_units")]
    length_correlation = {}
    for name, head in final.items():
        u = ((data.x - head.mean) / head.scale) @ head.weights.astype(np.float64)
        u_embedding = ((data.x[:, :EMBEDDING_DIM] - head.mean[:EMBEDDING_DIM]) / head.scale[:EMBEDDING_DIM]) @ head.weights[:EMBEDDING_DIM].astype(np.float64)
        length_correlation[name] = {
            "u": round(float(np.corrcoef(u, log_units)[0, 1]), 3),
            "embedding_part_of_u": round(float(np.corrcoef(u_embedding, log_units)[0, 1]), 3),
        }

    acc = cv["accuracy"]
    recommended, decisions, comparisons = {}, {}, {}
    for name, codes in HEAD_CODES.items():
        if codes is None:
            continue
        own = acc[name][name]["pooled"]
        general = acc["argument_quality"][name]["pooled"]
        low, high = topic_bootstrap_difference(acc[name][name]["per_topic"], acc["argument_quality"][name]["per_topic"])
        comparisons[name] = {"specialised": own, "general": general, "difference": round(own - general, 4),
                             "difference_ci95_topic_bootstrap": [low, high],
                             "on_all_pairs": {"specialised": acc[name]["all"]["pooled"],
                                              "general": acc["argument_quality"]["all"]["pooled"]}}
        if low > 0:
            recommended[name] = name
            decisions[name] = (f"specialised {own:.3f} vs general {general:.3f} on its own subset, "
                               f"difference 95% CI [{low:+.3f}, {high:+.3f}] above 0: use the specialised head")
        else:
            recommended[name] = "argument_quality"
            decisions[name] = (f"specialised {own:.3f} vs general {general:.3f} on its own subset, "
                               f"difference 95% CI [{low:+.3f}, {high:+.3f}] not above 0: use the general head")
    recommended["argument_quality"] = "argument_quality"
    decisions["argument_quality"] = "the general head (all pairs)"

    code_counts: dict[str, int] = {}
    for p in pairs:
        for c in p.codes:
            code_counts[c] = code_counts.get(c, 0) + 1
    insult = re.compile(r"\b(stupid|idiot|dumb|fuck|shit|moron|retard|ignorant|suck|bitch|crap|damn)\w*", re.I)
    o51 = [p for p in pairs if "o5_1" in p.codes]
    data_facts = {
        "pairs": len(pairs),
        "files": len({p.source for p in pairs}),
        "topics": len(data.topics),
        "arguments": len(texts),
        "first_longer": float(np.mean([text_units(p.winner) > text_units(p.loser) for p in pairs])),
        "winner_first_in_id": None,
        "insult_rate_o5_1": {
            "winner": float(np.mean([bool(insult.search(p.winner)) for p in o51])),
            "loser": float(np.mean([bool(insult.search(p.loser)) for p in o51])),
        },
        "pairs_per_topic": {t: int((data.topic == t).sum()) for t in data.topics},
    }
    # Which id is the winner's: an argument's id is the one it shares across all its pairs.
    ids: dict[str, dict[str, int]] = {}
    for p in pairs:
        for text in (p.winner, p.loser):
            for i in p.pair_id.split("_"):
                ids.setdefault(text, {}).setdefault(i, 0)
                ids[text][i] += 1
    first = [max(ids[p.winner], key=ids[p.winner].get) == p.pair_id.split("_")[0] for p in pairs]
    data_facts["winner_first_in_id"] = float(np.mean(first))

    heads = ArgumentHeads(
        heads=final,
        recommended=recommended,
        meta={"version": VERSION, "encoder": ENCODER, "embedding_dim": EMBEDDING_DIM,
              "trained_on": "UKPConvArg2 (English), CC BY-NC-SA 4.0 per LICENSE.txt",
              "score": "sigmoid((u - median) / spread)"},
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    npz_path = args.out_dir / "argument_heads.npz"
    heads.save(npz_path)
    reloaded = ArgumentHeads.load(npz_path)
    with threadpool_limits(1):
        sanity = chinese_sanity(reloaded, args.cache_dir)

    metrics = {
        "version": VERSION,
        "command": "python -m train.argument_heads",
        "encoder": ENCODER,
        "data": data_facts,
        "code_counts": dict(sorted(code_counts.items())),
        "codebook": CODEBOOK,
        "head_codes": {k: list(v) if v else None for k, v in HEAD_CODES.items()},
        "variant_codes": {k: list(v) for k, v in VARIANT_CODES.items()},
        "pair_counts": {s: int(m.sum()) for s, m in subsets.items()},
        "heads": list(HEAD_CODES),
        "cv": {
            "scheme": f"leave-one-topic-out over {len(data.topics)} debates; C by grouped {INNER_FOLDS}-fold CV inside the training topics",
            "metric": "pairwise accuracy, ties 0.5; pooled / mean over topics / min topic (topics with >= "
                      f"{MIN_TOPIC_PAIRS} pairs in the subset)",
            "accuracy": acc,
            "chosen_c": cv["chosen_c"],
        },
        "final_c": final_c,
        "final_c_scores": final_scores,
        "recommended": recommended,
        "decisions": decisions,
        "specialised_vs_general": comparisons,
        "length_correlation": length_correlation,
        "chinese_sanity": sanity,
        "u_mapping": {n: {"median": round(h.median, 4), "spread": round(h.spread, 4)} for n, h in final.items()},
        "seconds": round(time.time() - started, 1),
    }
    (args.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out_dir / "MODEL_CARD.md").write_text(model_card(metrics), encoding="utf-8")

    print(json.dumps({s: {m: acc[m][s]["pooled"] for m in acc} for s in subsets}, indent=1))
    print(json.dumps({n: (r["correct"], r["correct_length_matched"]) for n, r in sanity["heads"].items()}))
    print("recommended:", recommended)
    print(f"wrote {npz_path} ({npz_path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
