"""The cross-fitted composition head: the served head is exactly the mean of the fold heads, and
a fold head never trains on the photos it later scores."""

from __future__ import annotations

import numpy as np

from quality.image.composition_head import CompositionHead
from train.composition import fit_head, fold_of, mean_head, to_numpy_head


def _head(rng: np.random.Generator, channels: int = 3, c: int = 6) -> CompositionHead:
    return CompositionHead(conv=rng.normal(size=(channels, c)), conv_bias=rng.normal(size=channels),
                           spatial=rng.normal(size=(channels, 7, 7)), global_weight=rng.normal(size=c),
                           bias=float(rng.normal()), center=0.0, scale=1.0)


def test_the_mean_head_scores_the_mean_of_its_heads_utilities():
    rng = np.random.default_rng(0)
    heads = [_head(rng) for _ in range(5)]
    features = rng.normal(size=(4, 6, 7, 7)).astype(np.float32)
    expected = np.mean([h.raw_utility(features) for h in heads], axis=0)
    assert np.allclose(mean_head(heads).raw_utility(features), expected, atol=1e-5)


def test_a_head_trained_on_some_photos_ignores_the_others():
    rng = np.random.default_rng(1)
    original = rng.normal(size=(6, 4, 7, 7)).astype(np.float16)
    degraded = rng.normal(size=(6, 2, 1, 4, 7, 7)).astype(np.float16)
    weights = np.ones(6)
    first = to_numpy_head(fit_head(original, degraded, weights, 2, 1e-4, epochs=2, photos=np.arange(3)))
    changed = original.copy()
    changed[3:] = rng.normal(size=changed[3:].shape)  # photos the head does not train on
    changed_degraded = degraded.copy()
    changed_degraded[3:] = rng.normal(size=changed_degraded[3:].shape)
    second = to_numpy_head(fit_head(changed, changed_degraded, weights, 2, 1e-4, epochs=2, photos=np.arange(3)))
    assert np.array_equal(first.conv, second.conv) and np.array_equal(first.spatial, second.spatial)
    third = to_numpy_head(fit_head(changed, changed_degraded, weights, 2, 1e-4, epochs=2, photos=np.arange(6)))
    assert not np.array_equal(first.conv, third.conv)


def test_folds_are_fixed_by_the_name():
    names = [f"general/{i}.jpg" for i in range(200)]
    assert [fold_of(n) for n in names] == [fold_of(n) for n in names]
    assert set(fold_of(n) for n in names) == {0, 1, 2, 3, 4}
