"""The argument-quality heads (models/argument/argument_heads.npz) at serving time.

Offline: needs the committed npz and the USE encoder wheel, not the training data.
"""

from __future__ import annotations


import numpy as np
import pytest

from quality.settings import DEFAULT_MODELS_DIR
from quality.text.argument_head import (
    EMBEDDING_DIM,
    FEATURE_NAMES,
    ArgumentHeads,
    argument_text_features,
    text_units,
)
from quality.normalize import clean_text

NPZ = DEFAULT_MODELS_DIR / "argument" / "argument_heads.npz"

# (better, worse) Chinese car-forum replies written for this test; not in the training script.
CHINESE_PAIRS = [
    (
        "换雨刮器很简单：先量一下原车尺寸，我这台主驾26寸、副驾16寸。买无骨雨刮，"
        "把雨刮臂立起来，按下卡扣就能取下旧的，新的推进去听到咔哒一声就装好了。一般一年换一次，刮不干净或有异响就该换了。",
        "雨刮器坏了就换呗。",
    ),
    (
        "电瓶亏电的话，先别急着换。用万用表测一下静态电压，12.4V以上一般还能用，低于12V说明亏得厉害。"
        "搭电启动后至少跑半小时给电瓶充电。如果电瓶用了超过4年，或者充满电第二天又打不着，就直接换新的吧。",
        "电瓶不行了，换一个就好，没啥说的。",
    ),
    (
        "高速上胎压报警，先打双闪，减速慢慢靠到应急车道，不要急刹。人下车站到护栏外面，"
        "在车后150米放三角牌。如果只是缓慢漏气可以低速开到下个服务区补胎，轮胎明显瘪了就打保险公司救援电话。",
        "胎压报警？我一般不管它，开着开着就好了。",
    ),
    (
        "这车后排空间我实测过：我身高175，坐在按自己习惯调好的驾驶位后面，膝盖前还有两拳，头顶一拳多。"
        "中间地台基本平，坐三个成年人短途没问题，长途中间的人会有点挤。后备箱放两个28寸行李箱还有空。",
        "空间嘛，怎么说呢，我觉得还行吧，也不是特别大也不是特别小，看你怎么比了，"
        "跟有些车比大，跟有些车比小，反正我家人坐着也没说什么，你自己去店里坐坐就知道了，每个人感觉不一样的。",
    ),
    (
        "提车验车按这个顺序：先核对合格证、发票上的车架号和挡风玻璃下的车架号是否一致；"
        "再看车身漆面和缝隙；然后查轮胎生产日期，一般不超过半年；最后看仪表里程，正常在50公里以内。",
        "提车？开心就完事了！！！管那么多干嘛！！！",
    ),
]


@pytest.fixture(scope="module")
def heads() -> ArgumentHeads:
    return ArgumentHeads.load(NPZ)


@pytest.fixture(scope="module")
def encoder():
    from quality.text.encoder import UniversalSentenceEncoder

    return UniversalSentenceEncoder(threads=1)


@pytest.fixture(scope="module")
def encoded_pairs(encoder):
    better = [clean_text(b) for b, _ in CHINESE_PAIRS]
    worse = [clean_text(w) for _, w in CHINESE_PAIRS]
    return better, encoder.encode(better), worse, encoder.encode(worse)


def test_npz_is_small_and_complete(heads):
    assert NPZ.stat().st_size < 1_000_000
    assert {"argument_quality", "clarity", "helpfulness"} <= set(heads.names)
    for name in heads.names:
        head = heads.heads[name]
        n = EMBEDDING_DIM + len(FEATURE_NAMES)
        assert head.weights.shape == (n,)
        assert head.mean.shape == (n,) and head.scale.shape == (n,)
        assert np.all(np.isfinite(head.weights)) and np.all(head.scale > 0)
        assert head.spread > 0 and np.isfinite(head.median)
    assert tuple(heads.meta["feature_names"]) == FEATURE_NAMES
    for dimension in ("clarity", "helpfulness", "argument_quality"):
        assert heads.head_for(dimension) in heads.names


def test_model_card_and_metrics_are_committed():
    folder = NPZ.parent
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "CC BY-NC-SA 4.0" in card and "English" in card
    assert (folder / "metrics.json").exists()


def test_scores_in_unit_interval_and_deterministic(heads, encoded_pairs):
    better, e_better, worse, e_worse = encoded_pairs
    texts = better + worse
    embeddings = np.vstack([e_better, e_worse])
    for name in heads.names:
        scores = heads.score(name, embeddings, texts)
        assert scores.shape == (len(texts),)
        assert np.all((scores >= 0) & (scores <= 1))
        np.testing.assert_array_equal(scores, heads.score(name, embeddings, texts))
        u = heads.utility(name, embeddings, texts)
        assert u.shape == (len(texts),) and np.all(np.isfinite(u))


def test_scores_do_not_depend_on_the_batch(heads, encoded_pairs, encoder):
    better, e_better, worse, e_worse = encoded_pairs
    texts = better + worse
    embeddings = np.vstack([e_better, e_worse])
    for name in heads.names:
        together = heads.score(name, embeddings, texts)
        alone = np.array([heads.score(name, embeddings[i : i + 1], [t])[0] for i, t in enumerate(texts)])
        np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)
        reordered = heads.score(name, embeddings[::-1], texts[::-1])[::-1]
        np.testing.assert_allclose(together, reordered, rtol=0, atol=1e-12)
    # End to end: the encoder is batch-independent up to float round-off.
    name = heads.head_for("helpfulness")
    single = heads.score(name, encoder.encode([texts[0]]), [texts[0]])[0]
    np.testing.assert_allclose(single, heads.score(name, embeddings, texts)[0], atol=1e-4)


def test_text_features_are_per_item():
    texts = ["保养周期看手册，一般首保是5000公里或者6个月。", "I HATE P.E.!!!", ""]
    together = argument_text_features(texts)
    assert together.shape == (3, len(FEATURE_NAMES))
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(together[i], argument_text_features([t])[0])
    np.testing.assert_array_equal(together[2], 0.0)
    assert argument_text_features([]).shape == (0, len(FEATURE_NAMES))
    # One scale for both languages: a CJK character is 2/3 of an English word.
    assert text_units("油耗很低") == pytest.approx(4 / 1.5)
    assert text_units("fuel use is low") == 4


def test_rejects_mismatched_inputs(heads):
    with pytest.raises(ValueError):
        heads.score("argument_quality", np.zeros((2, EMBEDDING_DIM), dtype=np.float32), ["only one"])
    with pytest.raises(ValueError):
        heads.score("argument_quality", np.zeros((1, 100), dtype=np.float32), ["x"])
    with pytest.raises(KeyError):
        heads.score("no-such-head", np.zeros((1, EMBEDDING_DIM), dtype=np.float32), ["x"])


@pytest.mark.parametrize("dimension", ["argument_quality", "helpfulness"])
def test_chinese_better_post_ranks_higher(heads, encoded_pairs, dimension):
    better, e_better, worse, e_worse = encoded_pairs
    name = heads.head_for(dimension)
    u_better = heads.utility(name, e_better, better)
    u_worse = heads.utility(name, e_worse, worse)
    wrong = [better[i][:12] for i in np.flatnonzero(u_better <= u_worse)]
    assert not wrong, f"{name} ranks the worse reply higher for: {wrong}"
    assert np.mean(heads.score(name, e_better, better)) > np.mean(heads.score(name, e_worse, worse))
