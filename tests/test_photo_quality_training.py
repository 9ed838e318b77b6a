"""The perceived-quality head's training (`train.photo_quality.MlpHead`): ratings alone, and with the
term that puts a photo above its degraded copy (`train.photo_quality_pairs`), on features the test makes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from train.photo_quality import MlpHead  # noqa: E402


def made(seed: int = 0):
    """Ratings that follow features 0-4; a "defect" moves feature 5 only, which the ratings never mention."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(160, 12)).astype(np.float32)
    y = 50 + 10 * X[:, :5].sum(1) / np.sqrt(5) + rng.normal(0, 2, len(X))
    photos = rng.normal(size=(120, 12)).astype(np.float32)
    copies = photos.copy()
    copies[:, 5] += 2.5
    return X, y, photos, copies


def ordered(head: MlpHead, photos: np.ndarray, copies: np.ndarray) -> float:
    return float(np.mean(head.predict(photos) > head.predict(copies)))


def test_ratings_alone_are_reproducible_and_learn_the_ratings():
    X, y, _, _ = made()
    first, again = MlpHead.fit(X, y), MlpHead.fit(X, y)
    assert all(np.array_equal(first.arrays()[k], again.arrays()[k]) for k in first.arrays())
    test_X, test_y, _, _ = made(seed=1)
    assert np.corrcoef(first.predict(test_X), test_y)[0, 1] > 0.8


def test_the_copy_term_teaches_what_the_ratings_do_not_say():
    X, y, photos, copies = made()
    held_photos, held_copies = made(seed=2)[2:]
    alone = MlpHead.fit(X, y)
    taught = MlpHead.fit(X, y, copies=(photos, copies, 0.5))
    assert ordered(taught, held_photos, held_copies) > 0.95
    assert ordered(taught, held_photos, held_copies) > ordered(alone, held_photos, held_copies) + 0.2
    test_X, test_y, _, _ = made(seed=1)
    assert np.corrcoef(taught.predict(test_X), test_y)[0, 1] > 0.8  # the ratings are still learned
