"""What the perceived-quality head reads of a photo: EfficientNet-Lite0 at a 512 px long side, every stage pooled.

Perceived technical quality (blur, noise, exposure, compression) is visible only near the photo's
own resolution: a 224 px copy hides it (CLIVE cross-validated Spearman 0.76 at 224 px against 0.83
at 500 px, `train/photo_quality.py`). So this is a second pass, separate from the 224 px letterboxed
one of `quality.image.cnn`:

- `network_size(width, height)`: the photo is resized (never cropped or letterboxed) so that its long
  side is 512 px, the size the head learned at (CLIVE's 500 x 500 photos are read at 512 x 512),
  and both sides are multiples of 32 (at least 32). Smaller photos are enlarged, as a judge's
  screen shows every entry at one size (`quality-taps-v2`; v1 read them at their own pixels, where
  a crop looked as sharp as its photo: docs/photo-score.md "Display size"). With sides that are
  multiples of 32 every stride-2 layer sees an even size, so TensorFlow's SAME padding is the same
  constant for every such input, and one ONNX export with dynamic height and width is exact for all
  of them (checked against torch at build time on a non-square input).
- the outputs of all 18 stages (stem, 16 MBConv blocks, 1280-channel head) are pooled over space by
  mean and by standard deviation, in the graph: 6,240 numbers per photo (`FEATURE_DIM`).

Training (`train/photo_quality.py`) and serving both call `PhotoQualityFeatures`, so the head
sees the same numbers in both. The ONNX file is built from the packaged weights on first use into
`<QUALITY_CACHE_DIR>/effnet-lite0-<sha>-quality-taps-v2/`, with checksums, like the other builds.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from quality.artifacts import SHA_PREFIX_LEN, ArtifactChecksumError, ensure_built, sha256_file, verify_checksums
from quality.artifacts import cache_dir as resolve_cache_dir
from quality.image.cnn_build import OPSET, PACKAGE, packaged_weights_path

RECIPE = "quality-taps-v2"  # bump when the export or the input rule changes
LONG_SIDE = 512  # every photo is read at this long side (enlarged or reduced)
MULTIPLE = 32  # the network's total stride
MEAN, STD = 127.0, 128.0  # EfficientNet-Lite's own input normalisation
TAP_CHANNELS = (32, 16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320, 1280)
FEATURE_DIM = 2 * sum(TAP_CHANNELS)  # 6240: per tap, the channel means, then the channel standard deviations
ONNX_FILE = "quality_taps.fp32.onnx"
INPUT_NAME, OUTPUT_NAME = "image", "features"
EXPORT_TOLERANCE = 1e-3


def network_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) the network reads: long side 512, both multiples of 32, aspect kept to within 32 px."""
    scale = LONG_SIDE / max(width, height)
    return tuple(max(MULTIPLE, int(round(side * scale / MULTIPLE)) * MULTIPLE) for side in (width, height))


def network_input(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 -> [1, 3, h, w] float32 at `network_size` (PIL Lanczos)."""
    height, width = rgb.shape[:2]
    size = network_size(width, height)
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    if size != (width, height):
        image = image.resize(size, Image.LANCZOS)
    pixels = (np.asarray(image, dtype=np.float32) - MEAN) / STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])


def _tapped_network(weights: Path):
    """A torch module: image [N, 3, h, w] -> pooled taps [N, 6240]."""
    import torch
    from torch.nn import functional as F

    from quality.image.efficientnet_lite import SameConv2d, load_packaged

    def static_same_padding(conv: SameConv2d):
        """SAME padding for inputs divisible by the stride, as constants (the traced shape-based
        padding is not exact at other sizes): k - s in total, the extra pixel at the bottom/right."""
        (kh, kw), (sh, sw) = conv.weight.shape[-2:], conv.stride
        pad_h, pad_w = max(kh - sh, 0), max(kw - sw, 0)
        pads = [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2]

        def forward(x):
            return F.conv2d(F.pad(x, pads), conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
        return forward

    class Tapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = load_packaged(str(weights))
            for module in self.net.modules():
                if isinstance(module, SameConv2d):
                    module.forward = static_same_padding(module)

        def forward(self, x):
            m = self.net
            x = F.relu6(m._bn0(m._conv_stem(x)))
            taps = [x]
            for block in m._blocks:
                x = block(x)
                taps.append(x)
            taps.append(F.relu6(m._bn1(m._conv_head(x))))
            pooled = []
            for tap in taps:
                mean = tap.mean(dim=(2, 3))
                pooled += [mean, (tap - mean[:, :, None, None]).pow(2).mean(dim=(2, 3)).sqrt()]
            return torch.cat(pooled, dim=1)

    return Tapped().eval()


def export_quality_taps(weights: Path, out_dir: Path) -> dict:
    """Write the ONNX file; raise if it and torch disagree on a non-square probe."""
    import onnxruntime as ort
    import torch

    model = _tapped_network(weights)
    trace = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    path = Path(out_dir) / ONNX_FILE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning: SAME padding is constant for sides that are multiples of 32
        torch.onnx.export(model, (trace,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
        probe = torch.randn(1, 3, 288, 416, generator=torch.Generator().manual_seed(1))
        expected = model(probe).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    error = float(np.abs(session.run([OUTPUT_NAME], {INPUT_NAME: probe.numpy()})[0] - expected).max())
    if error > EXPORT_TOLERANCE:
        raise RuntimeError(f"{path}: ONNX features differ from torch by {error:.2e}")
    return {"source": PACKAGE, "source_sha256": sha256_file(weights), "export_max_abs_error": error,
            "recipe": RECIPE, "feature_dim": FEATURE_DIM}


def quality_taps_dir(cache_dir: Path | None = None, weights: Path | None = None) -> Path:
    weights = Path(weights or packaged_weights_path())
    return resolve_cache_dir(cache_dir) / f"effnet-lite0-{sha256_file(weights)[:SHA_PREFIX_LEN]}-{RECIPE}"


def verify_quality_taps_dir(directory: Path, files: list[str] | None = None) -> dict:
    return verify_checksums(directory, files, ArtifactChecksumError, "EfficientNet-Lite0 quality-taps ONNX",
                            "delete the directory to rebuild it")


def ensure_quality_taps(cache_dir: Path | None = None, rebuild: bool = False, weights: Path | None = None) -> Path:
    """The verified build directory; built on first use (~10 s)."""
    weights = Path(weights or packaged_weights_path())
    return ensure_built(quality_taps_dir(cache_dir, weights), lambda staging: export_quality_taps(weights, staging),
                        [ONNX_FILE], rebuild, verify_quality_taps_dir)


class PhotoQualityFeatures:
    """`features(rgb)` -> float32 [6240] of one photo (H x W x 3 uint8), on onnxruntime."""

    def __init__(self, cache_dir: Path | None = None, threads: int = 1, weights: Path | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.directory = ensure_quality_taps(cache_dir, weights=weights)
        self.session = ort.InferenceSession(str(self.directory / ONNX_FILE), options,
                                            providers=["CPUExecutionProvider"])

    def features(self, rgb: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: network_input(rgb)})[0][0].astype(np.float32)
