"""The civility encoder under different padded-token budgets per call (docs/performance.md).

    .venv/bin/python -m bench.encoder_budget 8192 2048 1024

Each budget runs in its own process (onnxruntime's arena keeps what a call touched, so the RSS
of one budget must not carry into the next): texts/s for 48 texts of 512 tokens, 16 of them
mixed with 48 short ones, 64 short and 64 of ~130 tokens (best of two), then the RSS.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.workload import ROOT, corpus, rss_mb


def measure(budget: int) -> None:
    import quality.text.onnx_encoder as onnx_encoder
    from quality.model_store import ModelStore
    from quality.settings import get_settings
    from quality.text.civility import served_encoder_dirs
    from quality.text.civility_e5 import ensure_civility_onnx

    settings = get_settings()
    adapter_dir, student_dir = served_encoder_dirs(ModelStore(settings))
    model = ensure_civility_onnx(adapter_dir, settings.cache_dir, student_dir=student_dir)  # as the service
    encoder = onnx_encoder.encoder_from_onnx_dir(model.parent, model.name, threads=settings.threads)
    encoder.max_batch_tokens = budget
    short = corpus()
    long_texts = ["".join(short[(i + j) % len(short)] for j in range(12)) for i in range(48)]
    medium = ["".join(short[(i + j) % len(short)] for j in range(3)) for i in range(64)]
    encoder.encode(short[:4])
    for label, texts in (("512-token texts", long_texts), ("16 long + 48 short", long_texts[:16] + short[:48]),
                         ("64 short", short), ("64 medium", medium)):
        best = min(_timed(encoder, texts) for _ in range(2))
        print(f"budget {budget}: {label:20s} {len(texts) / best:6.1f} texts/s", flush=True)
    print(f"budget {budget}: RSS {rss_mb(field='VmRSS'):.0f} MB, peak {rss_mb():.0f} MB", flush=True)


def _timed(encoder, texts: list[str]) -> float:
    started = time.perf_counter()
    encoder.encode(texts)
    return time.perf_counter() - started


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        measure(int(argv[1]))
        return
    for budget in argv or ["8192", "2048"]:
        subprocess.run([sys.executable, "-m", "bench.encoder_budget", "--one", budget], cwd=ROOT, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
