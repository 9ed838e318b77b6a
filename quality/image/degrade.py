"""Make a photo clearly worse in one named way: the "worse" side of composition training pairs.

Learning to compose from unrated photos (view-proposal and cropping work) takes a good
photo as the better side of a pair and a degraded copy of it as the worse side. Each family
here is one kind of mistake a member makes, strong enough that the copy is clearly worse:

  cut_subject  an aspect-preserving crop whose edge runs through the main subject
  off_balance  an aspect-preserving crop that pushes the subject against one side
  bad_zoom     a tight crop around the subject (zoomed in too far)
  tilt         rotated 6-14 degrees, cropped to the largest upright frame of the same aspect
  blur         Gaussian defocus or linear motion blur
  exposure     blown out (gain and clipping) or crushed into the shadows
  noise        heavy sensor-like noise

Everything is deterministic given the random generator, so a split's pairs can be rebuilt
exactly (`python -m train.composition pairs`).
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]  # normalised x0, y0, x1, y1
FAMILIES = ("cut_subject", "off_balance", "bad_zoom", "tilt", "blur", "exposure", "noise")
GEOMETRIC = ("cut_subject", "off_balance", "bad_zoom", "tilt")
DEFAULT_SUBJECT: Box = (0.25, 0.25, 0.75, 0.75)


def _crop(image: Image.Image, box: Box) -> Image.Image:
    w, h = image.size
    x0, y0, x1, y1 = box
    return image.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))


def _place(center: float, size: float) -> float:
    """Start of a span of `size` (normalised) centred as near `center` as the frame allows."""
    return min(max(center - size / 2, 0.0), 1.0 - size)


def _cutting_edge(side: str, lo: float, hi: float, scale: float, keep: tuple[float, float],
                  rng: np.random.Generator) -> float | None:
    """Where a crop edge on `side` may run so it keeps `keep` of the subject span [lo, hi]
    and the crop (of size `scale`) stays inside the frame; None if nowhere."""
    span = hi - lo
    if side in ("right", "bottom"):  # the crop ends inside the subject
        first, last = max(lo + keep[0] * span, scale), min(lo + keep[1] * span, 1.0)
    else:  # the crop starts inside the subject
        first, last = max(hi - keep[1] * span, 0.0), min(hi - keep[0] * span, 1.0 - scale)
    return float(rng.uniform(first, last)) if first < last else None


def cut_subject(image: Image.Image, subject: Box, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    """An aspect-preserving crop whose edge runs through the subject (keeps 40-65 % of it, or 20-85 %)."""
    sx0, sy0, sx1, sy1 = subject
    scale = rng.uniform(0.6, 0.8)
    sides = ["left", "right", "top", "bottom"]
    rng.shuffle(sides)
    sides.sort(key=lambda s: s in ("top", "bottom"))  # cutting the side of a car is the usual mistake
    for keep in ((0.4, 0.65), (0.2, 0.85)):
        for side in sides:
            horizontal = side in ("left", "right")
            lo, hi = (sx0, sx1) if horizontal else (sy0, sy1)
            edge = _cutting_edge(side, lo, hi, scale, keep, rng)
            if edge is None:
                continue
            start = edge - scale if side in ("right", "bottom") else edge
            centre = (sy0 + sy1) / 2 if horizontal else (sx0 + sx1) / 2
            other = _place(centre + rng.uniform(-0.1, 0.1), scale)
            box = (start, other, start + scale, other + scale) if horizontal else \
                (other, start, other + scale, start + scale)
            return _crop(image, box), box
    # The subject is too small or too central to cut at this size: take the corner farthest from it.
    x0 = 0.0 if (sx0 + sx1) / 2 > 0.5 else 1.0 - scale
    y0 = 0.0 if (sy0 + sy1) / 2 > 0.5 else 1.0 - scale
    box = (x0, y0, x0 + scale, y0 + scale)
    return _crop(image, box), box


def off_balance(image: Image.Image, subject: Box, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    """Put the subject's centre at 5-15 % from one side of an aspect-preserving crop."""
    cx, cy = (subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2
    scale = rng.uniform(0.65, 0.8)
    at = rng.uniform(0.05, 0.15)
    candidates = []
    for horizontal, near in ((True, True), (True, False), (False, True), (False, False)):
        c = cx if horizontal else cy
        start = c - at * scale if near else c - (1 - at) * scale
        start = min(max(start, 0.0), 1.0 - scale)
        offset = abs((c - start) / scale - 0.5)  # 0.5 = at the edge
        candidates.append((offset + (0.1 if horizontal else 0.0), horizontal, start))
    _, horizontal, start = max(candidates)
    other = _place((cy if horizontal else cx) + rng.uniform(-0.1, 0.1), scale)
    box = (start, other, start + scale, other + scale) if horizontal else (other, start, other + scale, start + scale)
    return _crop(image, box), box


def bad_zoom(image: Image.Image, subject: Box, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    """A crop of 40-55 % of each side around the subject's centre: zoomed in too far."""
    cx, cy = (subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2
    scale = rng.uniform(0.4, 0.55)
    x0, y0 = _place(cx + rng.uniform(-0.05, 0.05), scale), _place(cy + rng.uniform(-0.05, 0.05), scale)
    box = (x0, y0, x0 + scale, y0 + scale)
    return _crop(image, box), box


def inscribed_scale(width: int, height: int, degrees: float) -> float:
    """Largest k such that a centred k*width x k*height upright frame fits the rotated photo."""
    t = math.radians(abs(degrees))
    return min(width / (width * math.cos(t) + height * math.sin(t)),
               height / (width * math.sin(t) + height * math.cos(t)))


def rotated(image: Image.Image, degrees: float) -> tuple[Image.Image, Box]:
    """`image` turned by `degrees` (anticlockwise), cropped to its largest upright frame of the same aspect."""
    w, h = image.size
    turned = image.rotate(degrees, resample=Image.BICUBIC, expand=False)
    k = inscribed_scale(w, h, degrees)
    box = ((1 - k) / 2, (1 - k) / 2, (1 + k) / 2, (1 + k) / 2)
    return _crop(turned, box), box


def tilt(image: Image.Image, subject: Box, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    return rotated(image, rng.uniform(6.0, 14.0) * rng.choice([-1.0, 1.0]))


def blur(image: Image.Image, subject: Box, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    rgb = np.asarray(image)
    long_side = max(image.size)
    if rng.random() < 0.6:
        sigma = long_side * rng.uniform(0.006, 0.012)
        out = cv2.GaussianBlur(rgb, (0, 0), sigma)
    else:
        length = max(3, int(long_side * rng.uniform(0.025, 0.045)))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0
        rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        out = cv2.filter2D(rgb, -1, kernel / kernel.sum())
    return Image.fromarray(out), (0.0, 0.0, 1.0, 1.0)


def exposure(image: Image.Image, subject: Box, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    rgb = np.asarray(image).astype(np.float32) / 255.0
    if rng.random() < 0.5:
        out = np.clip(rgb * rng.uniform(1.9, 2.8) + rng.uniform(0.0, 0.1), 0, 1)  # blown highlights
    else:
        out = (rgb ** rng.uniform(2.2, 3.2)) * rng.uniform(0.35, 0.6)  # crushed shadows
    return Image.fromarray((out * 255 + 0.5).astype(np.uint8)), (0.0, 0.0, 1.0, 1.0)


def noise(image: Image.Image, subject: Box, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    rgb = np.asarray(image).astype(np.float32)
    sigma = rng.uniform(18.0, 32.0)
    luminance = rng.normal(0, sigma, rgb.shape[:2])[..., None]
    chroma = rng.normal(0, sigma * 0.5, rgb.shape)
    return Image.fromarray(np.clip(rgb + luminance + chroma, 0, 255).astype(np.uint8)), (0.0, 0.0, 1.0, 1.0)


DEGRADATIONS: dict[str, Callable[[Image.Image, Box, np.random.Generator], tuple[Image.Image, Box]]] = {
    "cut_subject": cut_subject, "off_balance": off_balance, "bad_zoom": bad_zoom, "tilt": tilt,
    "blur": blur, "exposure": exposure, "noise": noise,
}


def degrade(image: Image.Image, family: str, subject: Box | None, rng: np.random.Generator) -> tuple[Image.Image, Box]:
    """The degraded copy and the region of the original it shows (normalised)."""
    if family not in DEGRADATIONS:
        raise ValueError(f"unknown degradation family {family!r} (one of {', '.join(FAMILIES)})")
    return DEGRADATIONS[family](image.convert("RGB"), subject or DEFAULT_SUBJECT, rng)
