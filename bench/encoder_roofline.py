"""How fast can the served civility encoder be on this machine? Its texts/s against a ceiling set by
the CPU's int8 matrix-multiply rate.

    .venv/bin/python -m bench.encoder_roofline

1. The int8 GEMM rate: onnxruntime's MatMulInteger (uint8 x int8, the kernel the static int8
   encoder's matrix multiplies run on) on a [4096 x 384] @ [384 x 1536] product, the shape of an
   encoder's feed-forward layer over a batch, at 1 and 2 threads, in GMAC/s.
2. The encoder's work per text: multiply-accumulates of its weight matrices (every int8 initialiser
   dequantised into a MatMul: the attention projections and the feed-forward layers) times the
   tokens of the bench corpus's texts (`bench.workload.corpus`, the prefix included). Attention's own
   score products (tokens^2) are left out, so the ceiling is generous.
3. The ceiling: GEMM rate at 2 threads / work per text, in texts/s, beside the encoder's measured
   texts/s (batches of 64, as `bench/encoders.py` does) — what no implementation of this model on
   this CPU can beat, whatever its kernels.
"""

from __future__ import annotations

import json
import time

import numpy as np

GEMM_SHAPE = (4096, 384, 1536)  # (rows, inner, columns): tokens x hidden @ hidden x feed-forward


def gemm_gmacs(threads: int, repeats: int = 20) -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rows, inner, columns = GEMM_SHAPE
    weights = np.random.default_rng(0).integers(-127, 127, (inner, columns), dtype=np.int8)
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["A", "W"], ["Y"])], "gemm",
                              [helper.make_tensor_value_info("A", TensorProto.UINT8, [rows, inner])],
                              [helper.make_tensor_value_info("Y", TensorProto.INT32, [rows, columns])],
                              [numpy_helper.from_array(weights, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {"A": np.random.default_rng(1).integers(0, 255, (rows, inner), dtype=np.uint8)}
    for _ in range(3):
        session.run(None, feed)
    started = time.perf_counter()
    for _ in range(repeats):
        session.run(None, feed)
    seconds = (time.perf_counter() - started) / repeats
    return rows * inner * columns / seconds / 1e9


def matmul_weights_per_token(model_path) -> int:
    """Multiply-accumulates per token of the graph's weight matrices: int8 initialisers that a
    DequantizeLinear turns into a MatMul input (the embedding table feeds a Gather and is not counted)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    int8 = {init.name: tuple(init.dims) for init in graph.initializer
            if init.data_type == onnx.TensorProto.INT8 and len(init.dims) == 2}
    dequantised = {node.output[0]: int8[node.input[0]] for node in graph.node
                   if node.op_type == "DequantizeLinear" and node.input[0] in int8}
    into_matmul = {name for node in graph.node if node.op_type == "MatMul" for name in node.input}
    return int(sum(np.prod(shape) for name, shape in dequantised.items() if name in into_matmul))


def main() -> int:
    from bench.workload import corpus, load_average
    from quality.model_store import ModelStore
    from quality.settings import Settings
    from quality.text.civility import served_encoder_dirs
    from quality.text.civility_e5 import ensure_civility_onnx
    from quality.text.onnx_encoder import encoder_from_onnx_dir

    settings = Settings()
    load_before = load_average()
    adapter_dir, student_dir = served_encoder_dirs(ModelStore(settings))
    model_path = ensure_civility_onnx(adapter_dir, settings.cache_dir, student_dir=student_dir)
    encoder = encoder_from_onnx_dir(model_path.parent, model_path.name, threads=settings.threads)
    texts = corpus(64)
    tokens = [len(row) for row in encoder.token_ids(texts)]
    per_token = matmul_weights_per_token(model_path)
    per_text = per_token * float(np.mean(tokens))
    encoder.encode(texts)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        encoder.encode(texts)
        runs.append(len(texts) / (time.perf_counter() - started))
    rates = {threads: gemm_gmacs(threads) for threads in (1, 2)}
    ceiling = rates[2] * 1e9 / per_text
    print(json.dumps({
        "load_average": [load_before, load_average()],
        "int8_gemm_gmacs": {f"{t}_threads": round(r, 1) for t, r in rates.items()},
        "encoder": encoder.name, "mean_tokens_per_text": round(float(np.mean(tokens)), 1),
        "weight_macs_per_token_millions": round(per_token / 1e6, 2),
        "weight_macs_per_text_millions": round(per_text / 1e6, 1),
        "ceiling_texts_per_s": round(ceiling, 1),
        "measured_texts_per_s_batch_64": round(float(np.median(runs)), 1),
        "share_of_ceiling": round(float(np.median(runs)) / ceiling, 3),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
