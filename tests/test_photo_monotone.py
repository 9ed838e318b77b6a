"""A worse copy never scores higher: the photo score (`composition.images[i].score`) of real photos
of every content class against their darker, blurrier, noisier, tilted, cut and badly cropped copies,
at several sizes, through the service.

The property does NOT hold yet (issue 18): on these 98 pairs per size, 1 copy at 320 px and 2
at 640 px score above their photo (composition-head 2026.12.06.2 with level-head 2026.12.07, the
resolution factor, Q 0.7, technical issues capping; 5 and 6 before the resolution, 9 and 14 with
the composition head before): crops of an interior photo and a landscape the learned parts prefer
(docs/photo-score.md "Measured").
So the strict property is
an expected failure (strict: the day it holds, the marker must go), and a second test keeps the
number of copies scoring higher from growing.

The photos are the composition split's held-out photos (never trained on by either head; the
perceived-quality head never saw a photo from `../shared/data/photos`), PER_CLASS of each class of
`data/photos/content.csv`, chosen by a hash of the name: not picked for passing; drawings the
labels mark `synthetic` are not photos and are left out. Skipped, saying so, when the shared
photos are not beside the project.
"""

from __future__ import annotations

import csv
import hashlib

import pytest

from quality.image.degrade import FAMILIES, degrade
from quality.schemas import ImageInput, Post
from quality.settings import get_settings
from tests.conftest import b64, encode_image

PER_CLASS = 2
SIZES = (320, 640)  # long side; a photo smaller than a size is kept as it is (never enlarged)
DATA = get_settings().data_dir


def _photos() -> list[tuple[str, str]]:
    from train.composition import (CONTENT_CLASSES, CONTENT_LABELS, content_class, list_photos, photo_split,
                                   read_content_labels)

    if not (DATA / "photos" / "cars").is_dir() or not (DATA / "photos_mos" / "clive_mos.csv").is_file():
        pytest.skip(f"shared photos not available under {DATA}")
    labels = read_content_labels()
    with open(CONTENT_LABELS, encoding="utf-8") as handle:
        drawings = {row["photo"] for row in csv.DictReader(handle) if row["note"] == "synthetic"}
    names = sorted((n for n in list_photos(DATA / "photos", DATA / "photos_mos" / "clive_mos.csv")
                    if photo_split(n) == "held_out" and n not in drawings),
                   key=lambda n: hashlib.sha256(f"monotone:{n}".encode()).hexdigest())
    chosen = []
    for cls in CONTENT_CLASSES:
        chosen += [(n, cls) for n in names if content_class(n, labels) == cls][:PER_CLASS]
    return chosen


# Copies scoring above their photo, as measured with composition-head 2026.12.06.2, level-head 2026.12.07, the
# resolution factor and technical capping (2026-12-07), and the slack for
# copies within float round-off of their photo, which another CPU may put on either side.
KNOWN_HIGHER = {320: 1, 640: 2}
ROUND_OFF_SLACK = 2


@pytest.fixture(scope="module")
def higher(service) -> dict[int, list[str]]:
    from train.composition import load_photo, photo_path, photo_rng, resized

    photos = _photos()
    assert {cls for _, cls in photos} == {"car", "landscape", "city", "night", "people", "interior", "object"}
    found: dict[int, list[str]] = {}
    for size in SIZES:
        found[size] = []
        for name, cls in photos:
            image = resized(load_photo(photo_path(name, DATA / "photos", DATA / "photos_mos" / "clive_mos.csv")), size)
            first = service.score(Post(images=[ImageInput(data=b64(encode_image(image, quality=92)))]))
            original = first.dimensions.composition.images[0]
            copies = [degrade(image, family, original.subject_box, photo_rng(name, family, 0))[0]
                      for family in FAMILIES]
            scored = service.score(Post(images=[ImageInput(data=b64(encode_image(copy, quality=92)))
                                                for copy in copies])).dimensions.composition.images
            for family, copy in zip(FAMILIES, scored):
                if copy.score > original.score:
                    found[size].append(
                        f"{name} ({cls}, {size} px) {family}: {copy.score:.3f} > {original.score:.3f} "
                        f"(quality {copy.perceived_quality} vs {original.perceived_quality}, "
                        f"composition {copy.learned_score} vs {original.learned_score})")
    return found


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 18: a few crops of non-car photos score above the photo")
@pytest.mark.parametrize("size", SIZES)
def test_no_degraded_copy_scores_above_its_photo(higher, size):
    assert not higher[size], "\n".join(higher[size])


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_copies_scoring_above_their_photo_do_not_grow(higher, size):
    assert len(higher[size]) <= KNOWN_HIGHER[size] + ROUND_OFF_SLACK, "\n".join(higher[size])
