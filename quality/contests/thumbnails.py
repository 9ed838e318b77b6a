"""Thumbnails kept for contest entries: judges see the photos, the service keeps no originals."""

from __future__ import annotations

import io

from PIL import Image

from quality.image import DecodedImage

THUMBNAIL_LONG_SIDE = 320
THUMBNAIL_QUALITY = 82


def thumbnail_jpeg(image: DecodedImage, long_side: int = THUMBNAIL_LONG_SIDE) -> bytes:
    """A JPEG of the upright photo, at most `long_side` pixels on its long side."""
    picture = Image.fromarray(image.rgb)
    picture.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()
