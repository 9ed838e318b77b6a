"""Photo decoding and v0 composition / technical-quality analysis."""

from quality.image.composition import (
    CompositionAssessment,
    analyse_composition,
    assess_composition,
    composition_confidence,
)
from quality.image.decode import DecodedImage, decode_base64_image, decode_image

__all__ = [
    "CompositionAssessment",
    "DecodedImage",
    "analyse_composition",
    "assess_composition",
    "composition_confidence",
    "decode_base64_image",
    "decode_image",
]
