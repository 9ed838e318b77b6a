"""Near-duplicate photos by perceptual hash (imagehash pHash, 64 bits)."""

from __future__ import annotations

from quality.image.composition import photo_phash  # noqa: F401  (re-exported: the hash duplicates compare)

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
