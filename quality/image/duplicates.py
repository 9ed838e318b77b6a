"""Near-duplicate photos by perceptual hash (imagehash pHash, 64 bits)."""

from __future__ import annotations

import cv2
import imagehash
import numpy as np
from PIL import Image

from quality.image.composition import WORK_LONG_SIDE
from quality.image.decode import DecodedImage

# Hamming distance at or under this between two 64-bit pHashes: the same photo
# (re-encoded, resized, lightly edited). 0 is byte-identical content.
NEAR_DUPLICATE_BITS = 6


def hamming(hash_a: str, hash_b: str) -> int:
    return bin(int(hash_a, 16) ^ int(hash_b, 16)).count("1")


def near_duplicate_pairs(hashes: list[str], max_bits: int = NEAR_DUPLICATE_BITS) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if hamming(hashes[i], hashes[j]) <= max_bits
    ]


def photo_phash(image: DecodedImage) -> str:
    """The pHash the composition scorer reports for this photo (`ImageComposition.phash`),
    for hashing photos outside scoring (`quality photos import`).

    Repeats composition's working copy (area-shrunk to `WORK_LONG_SIDE`, then grey) rather
    than calling its private helpers; tests/test_photo_store.py checks the two agree.
    """
    rgb = image.rgb
    height, width = rgb.shape[:2]
    if max(height, width) > WORK_LONG_SIDE:
        scale = WORK_LONG_SIDE / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return str(imagehash.phash(Image.fromarray(grey)))
