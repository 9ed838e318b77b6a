"""A worse copy never scores higher: the photo score (`composition.images[i].score`) of real photos
of every content class against their darker, blurrier, noisier, tilted, cut and badly cropped copies,
at several sizes, through the service.

The copies come from `quality.image.degrade`, whose families are meant to make a photo worse; two
team members judged every copy this test makes against its photo, blind (sides in a hashed order,
no scores shown: `data/photos/worse_copies.csv`, made as data/photos/README.md says): both found
190 of the 196 copies worse, and the property is asserted on those.

The property does NOT hold yet (issue 18): 1 judged-worse copy at 320 px and 1 at 640 px score
above their photo (composition-head 2026.12.07-geometric, level-head 2026.12.07, photo-score
2026.12.07): a brightened copy of a night photo at 320 px and a crop of a landscape at 640 px,
both judged worse ("cuts the cliff and the sea") and preferred by the learned parts; with the
composition head before (2026.12.06.2) an interior photo's crops too, 1 + 2 (docs/photo-score.md
"Measured"). So the strict property is an expected failure (strict: the day it holds, the marker
must go), and a second test keeps the number of generated copies scoring higher from growing.

The photos are the composition split's held-out photos (never trained on by either head; the
perceived-quality head never saw a photo from `../shared/data/photos`), two of each class of
`data/photos/content.csv`, chosen by a hash of the name (`train.worse_copies.monotone_photos`): not
picked for passing. Skipped, saying so, when the shared photos are not beside the project.
"""

from __future__ import annotations

import pytest

from quality.schemas import ImageInput, Post
from quality.settings import get_settings
from tests.conftest import b64, encode_image
from train.worse_copies import SIZES, Pair, copies, monotone_photos, read_judged, sized_photo

DATA = get_settings().data_dir

# Generated copies scoring above their photo, as measured with composition-head 2026.12.07-geometric,
# level-head 2026.12.07 and photo-score 2026.12.07, and the slack for copies within float round-off
# of their photo, which another CPU may put on either side.
KNOWN_HIGHER = {320: 1, 640: 1}
ROUND_OFF_SLACK = 2


def _photos() -> list[tuple[str, str]]:
    if not (DATA / "photos" / "cars").is_dir() or not (DATA / "photos_mos" / "clive_mos.csv").is_file():
        pytest.skip(f"shared photos not available under {DATA}")
    return monotone_photos(DATA)


@pytest.fixture(scope="module")
def scored(service) -> dict[Pair, tuple[float, float, str]]:
    """{pair: (photo score, copy score, what the parts said)} for every generated copy."""
    photos = _photos()
    assert {cls for _, cls in photos} == {"car", "landscape", "city", "night", "people", "interior", "object"}
    found = {}
    for size in SIZES:
        for name, cls in photos:
            image = sized_photo(DATA, name, size)
            original = service.score(Post(images=[ImageInput(data=b64(encode_image(image, quality=92)))])) \
                .dimensions.composition.images[0]
            made = copies(image, name, original.subject_box)
            results = service.score(Post(images=[ImageInput(data=b64(encode_image(copy, quality=92)))
                                                 for _, copy in made])).dimensions.composition.images
            for (family, _), copy in zip(made, results):
                found[Pair(size, name, family)] = (
                    original.score, copy.score,
                    f"{name} ({cls}, {size} px) {family}: {copy.score:.3f} vs {original.score:.3f} "
                    f"(quality {copy.perceived_quality} vs {original.perceived_quality}, "
                    f"composition {copy.learned_score} vs {original.learned_score})")
    return found


@pytest.mark.slow
def test_every_generated_copy_was_judged(scored):
    judged = read_judged()
    assert sorted(judged) == sorted(pair.key for pair in scored)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 18: a few copies of non-car photos, judged worse, score above the photo")
@pytest.mark.parametrize("size", SIZES)
def test_no_copy_judged_worse_scores_above_its_photo(scored, size):
    judged = read_judged()
    higher = [why for pair, (photo, copy, why) in scored.items()
              if pair.size == size and judged[pair.key] == "copy_worse" and copy > photo]
    assert not higher, "\n".join(higher)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_generated_copies_scoring_above_their_photo_do_not_grow(scored, size):
    higher = [why for pair, (photo, copy, why) in scored.items() if pair.size == size and copy > photo]
    assert len(higher) <= KNOWN_HIGHER[size] + ROUND_OFF_SLACK, "\n".join(higher)
