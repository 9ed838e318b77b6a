"""The SentencePiece copy of XLM-R's tokenizer gives the ids `tokenizers` gives (issue 20: memory, start-up)."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("sentencepiece", reason="sentencepiece is not installed")

from quality.text.onnx_encoder import load_tokenizer  # noqa: E402
from quality.text.spm_tokenizer import SentencePieceTokenizer, sentencepiece_model  # noqa: E402

TEXTS = [
    "新手提问：刚提车，第一次保养应该什么时候做？要去4S店吗？",
    "这都不知道？自己去搜，别在这问",
    "哟，这构图，大师啊，建议直接去开摄影展",
    "压线还开什么车，回驾校重学吧",
    "刚度够，推背感强，杀价杀到了落地22万，干到200也稳",
    "The rear diffuser is fake, but the brakes are great — 3 laps, no fade.",
    "油耗 6.2L/100km；市区 8.1L。后备箱能放 28 寸箱子",
    "全角ＡＢＣ１２３，半角abc123，ｶﾀｶﾅ",
    "表情😂🚗🔥和颜文字(๑•̀ㅂ•́)و✧",
    "  前后 多余   空格\t制表符\n换行  ",
    "",
    "长" * 700,
]


@pytest.fixture(scope="module")
def tokenizer_json(service, tmp_path_factory):
    from quality.text.civility import served_encoder_dirs
    from quality.text.civility_e5 import ensure_civility_onnx

    adapter, student = served_encoder_dirs(service.store)
    built = ensure_civility_onnx(adapter, service.settings.cache_dir, student_dir=student)
    copy = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    shutil.copyfile(built.parent / "tokenizer.json", copy)
    return copy


@pytest.mark.parametrize("max_length", [512, 16])
def test_sentencepiece_ids_equal_the_tokenizers_ids(tokenizer_json, max_length):
    model = sentencepiece_model(tokenizer_json)
    assert model is not None and model.parent == tokenizer_json.parent
    reference, _ = load_tokenizer(tokenizer_json, max_length)
    inputs = ["query: " + text for text in TEXTS]
    expected = [encoding.ids for encoding in reference.encode_batch(inputs)]
    got = SentencePieceTokenizer(model, max_length).encode_batch(inputs)
    assert got == expected
    assert max(len(ids) for ids in got) == max_length  # the long text is truncated, </s> kept
    assert sentencepiece_model(tokenizer_json) == model  # made once, then reused


def test_the_served_encoder_reads_ids_through_sentencepiece(service, tokenizer_json):
    from quality.text.civility import FINETUNED_MODEL, FineTunedClassifier

    encoder = service.store.get(FINETUNED_MODEL, FineTunedClassifier).encoder
    assert encoder.tokenizer_backend == "sentencepiece"
    reference, _ = load_tokenizer(tokenizer_json, encoder.max_length)
    assert encoder.token_ids(TEXTS) == [e.ids for e in reference.encode_batch([encoder.prefix + t for t in TEXTS])]


def test_a_tokenizer_of_another_kind_keeps_tokenizers(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    word_level = Tokenizer(models.WordLevel({"[UNK]": 0, "车": 1}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    word_level.save(str(path))
    assert sentencepiece_model(path) is None
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".not-spm"]
    assert sentencepiece_model(path) is None  # the refusal is remembered, not recomputed
