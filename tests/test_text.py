"""Text dimensions on sentences the tests write: direction of each score, spans, batch independence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.schemas import Post
from quality.text.batch import TextBatch, TextItem, load_encoder
from quality.text.civility import load_civility_head
from quality.text.lexicon import default_lexicon
from quality.normalize import clean_text


def dims(service, text, **fields):
    return service.score(Post(text=text, **fields)).dimensions


def test_offensive_text_scores_less_civil(service):
    polite = dims(service, "谢谢楼主分享，这个保养经验很实用，我也学到了。").civility.score
    rude = dims(service, "你是不是脑残啊，这种垃圾车也就你这种傻逼会买。").civility.score
    assert polite > 0.7 and rude < 0.3


def test_head_scores_cold_style_text(service):
    head = load_civility_head(service.store)
    encoder = load_encoder(service.store)
    texts = ["地域黑真是没意思，每个地方都有好人和坏人。", "某地人全是骗子，离他们远点。"]
    p = head.offensive_probability(texts, encoder.encode(texts))
    assert p[1] > p[0]


def test_spans_slice_the_offending_words_from_the_original_text(service):
    text = "说\u200b实话，你就是个傻逼，这都不知道？"
    civility = dims(service, text).civility
    sliced = {text[s.start:s.end]: s.label for s in civility.spans}
    assert sliced == {"傻逼": "insult", "这都不知道": "dismissive"}
    assert all(0 <= s.score <= 1 for s in civility.spans)


def test_allow_list_keeps_car_words_clean():
    assert default_lexicon().find("这台车的车身刚度很好，性价比高") == []



def test_dimension_directions(service):
    structured = ("首先，动力够用，2.0T加速很快。其次，油耗不高，市区8L。"
                  "最后，因为空间大，所以适合家用。总之推荐。")
    run_on = "车还行吧动力也还行油耗也还行空间也还行反正就那样吧也没什么好说的大家自己看着办吧随便啦无所谓的吧真的"
    assert dims(service, structured).clarity.score > dims(service, run_on).clarity.score + 0.2

    concrete = "提车三个月跑了5000公里，高速油耗6.2L，首保花了380元，建议选原厂机油，轮胎胎压2.5bar。"
    vague = "这车挺好的，大家可以看看。"
    assert dims(service, concrete).helpfulness.score > dims(service, vague).helpfulness.score + 0.2

    first_hand = "我自己提车半年了，说说真实感受：优点是省油，缺点是后排有点挤，但是整体满意。"
    advert = "限时秒杀！加微信 abc123 领优惠券，低价代购，点击链接下单！！！"
    scores = dims(service, first_hand).sincerity, dims(service, advert).sincerity
    assert scores[0].score > scores[1].score + 0.3
    assert any("advertising" in e for e in scores[1].evidence)


def test_clean_text_removes_invisible_and_control_characters():
    assert clean_text("\ufeff好\u200b车\x00 \u3000 真\ud800好") == "好车 真好"


def test_text_batch_is_independent_of_neighbours(service):
    encoder = load_encoder(service.store)
    target = TextItem(raw_text="保养周期看手册，一般5000公里一次。")
    others = [TextItem(raw_text="别的话题" * (i + 1)) for i in range(31)]
    alone = TextBatch([target], encoder).embeddings[0]
    together = TextBatch(others[:7] + [target] + others[7:], encoder).embeddings[7]
    assert float(np.abs(alone - together).max()) < 1e-6


def test_attribution_spans_point_at_the_words_the_model_reacts_to(service):
    text = "女司机就是不会开车，别上路害人"
    civility = dims(service, text).civility
    attributed = {text[s.start:s.end] for s in civility.spans if s.label == "offensive"}
    assert "害人" in attributed or "女司机" in attributed
    assert all(0 < s.score <= 1 and 0 <= s.start < s.end <= len(text) for s in civility.spans)
    assert dims(service, "谢谢楼主分享，很实用").civility.spans == []


AWKWARD_TEXTS = ["", " ", "a", "ＡＢ　ｃ", "你是不是\n\n\t傻  逼", "İstanbul ÉCOLE ß", "😀😀x", "𠀀𠀁 extension B",
                 "line\nbreak", "\u200b\u200dzero width", "a" * 500, "混合 mixed ТЕКСТ 123 !!", "\r\n\r\n"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_tf_idf_rows_equal_scikit_learns_tfidf_transformer(texts):
    """`weighted_rows` (the serving path's TF-IDF on the CSR arrays) equals scikit-learn's
    TfidfTransformer(sublinear_tf=True, norm="l2") with the same idf, empty rows included."""
    from sklearn.feature_extraction.text import TfidfTransformer

    from quality.text.char_ngrams import hashed_char_counts
    from quality.text.civility_head import CHAR_NGRAM_RANGE, HASH_FEATURES, char_ngram_tfidf

    idf = np.random.default_rng(len(texts)).uniform(1.0, 9.0, HASH_FEATURES).astype(np.float32)
    for batch in (texts, AWKWARD_TEXTS):
        counts = hashed_char_counts(batch, CHAR_NGRAM_RANGE, HASH_FEATURES)
        reference = TfidfTransformer(sublinear_tf=True, norm="l2").fit(counts)
        reference.idf_ = idf.astype(np.float64)
        expected = reference.transform(counts).toarray()
        ours = char_ngram_tfidf(batch, idf)
        assert ours.dtype == np.float32 and ours.shape == counts.shape
        assert np.abs(ours.toarray() - expected).max() < 1e-6


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_char_ngram_counts_equal_scikit_learns_hashing_vectorizer(texts):
    from quality.text.char_ngrams import hashed_char_counts
    from quality.text.civility_head import CHAR_NGRAM_RANGE, HASH_FEATURES, char_ngram_hasher

    for batch in (texts, AWKWARD_TEXTS):
        ours = hashed_char_counts(batch, CHAR_NGRAM_RANGE, HASH_FEATURES)
        theirs = char_ngram_hasher().transform(batch).tocsr()
        assert ours.shape == theirs.shape
        assert (ours != theirs.astype(np.float32)).nnz == 0


def test_masked_phone_numbers_and_contact_handles_count_as_advertising():
    from quality.text.features import extract_features
    from quality.text.segment import segment

    def ads(text: str) -> list[str]:
        return extract_features(text, segment(text)).ads

    assert "phone_number" in ads("有需要的联系王教练 177xxxx3456，提我名字送一节课")
    assert "phone_number" in ads("咨询电话13912345678")
    assert "contact_handle" in ads("专业代办，当天搞定，V：abc123")
    assert "contact_handle" in ads("想要的➕V")
    for honest in ("2023年12月提的车，V8发动机，订单号113912345678901，EV：续航还行",
                   "油耗6.2L，跑了15000公里"):
        assert not {"phone_number", "contact_handle"} & set(ads(honest)), honest
