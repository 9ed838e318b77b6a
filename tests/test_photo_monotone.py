"""A worse copy never scores higher: the photo score (`composition.images[i].score`) of real photos
of every content class against their darker, blurrier, noisier, tilted, cut and badly cropped copies,
at several sizes, through the service.

The copies come from `quality.image.degrade`, whose families are meant to make a photo worse; two
team members judged every copy this test makes against its photo, blind (sides in a hashed order,
no scores shown: `data/photos/worse_copies.csv`, made as data/photos/README.md says): both found
190 of the 196 copies worse, and the property is asserted on those.

It holds since perceived quality reads every photo at one display size (quality-taps-v2,
docs/photo-score.md "Display size"): no copy this test makes scores above its photo. Before, with
the perceived-quality network reading photos under 512 px at their own pixels, 1 judged-worse copy
at 320 px and 1 at 640 px did (a brightened night photo; a crop of a landscape): with the composition
head before (2026.12.06.2) 1 + 2, and before the resolution factor 5 + 6. The smallest margin
(photo minus copy) measured with the served models is 0.0014, far above float round-off. A second
test checks all 196 copies, the 6 the judges did not agree on included, allowing two within
round-off of their photo.

The photos are the composition split's held-out photos (never trained on by either head; the
perceived-quality head never saw a photo from `../shared/data/photos`), two of each class of
`data/photos/content.csv`, chosen by a hash of the name (`train.worse_copies.monotone_photos`): not
picked for passing. Skipped, saying so, when the shared photos are not beside the project.
"""

from __future__ import annotations

import pytest

from quality.settings import get_settings
from train.worse_copies import SIZES, Pair, Scored, monotone_photos, read_judged, score_copies

DATA = get_settings().data_dir

# Generated copies, judged worse or not, that may score above their photo: copies within float
# round-off of their photo, which another CPU may put on either side (none does here).
ROUND_OFF_SLACK = 2


def _photos() -> list[tuple[str, str]]:
    if not (DATA / "photos" / "cars").is_dir() or not (DATA / "photos_mos" / "clive_mos.csv").is_file():
        pytest.skip(f"shared photos not available under {DATA}")
    return monotone_photos(DATA)


@pytest.fixture(scope="module")
def scored(service) -> dict[Pair, Scored]:
    """Every generated copy's score and its photo's (`python -m train.worse_copies scores` prints them)."""
    photos = _photos()
    assert {cls for _, cls in photos} == {"car", "landscape", "city", "night", "people", "interior", "object"}
    return score_copies(service, DATA)


@pytest.mark.slow
def test_every_generated_copy_was_judged(scored):
    judged = read_judged()
    assert sorted(judged) == sorted(pair.key for pair in scored)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_no_copy_judged_worse_scores_above_its_photo(scored, size):
    judged = read_judged()
    higher = [got.why for pair, got in scored.items()
              if pair.size == size and judged[pair.key] == "copy_worse" and got.copy > got.photo]
    assert not higher, "\n".join(higher)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_at_most_round_off_puts_any_generated_copy_above_its_photo(scored, size):
    higher = [got.why for pair, got in scored.items() if pair.size == size and got.copy > got.photo]
    assert len(higher) <= ROUND_OFF_SLACK, "\n".join(higher)
