"""Safe decoding of user-supplied photos into a small upright RGB array.

Every failure leaves here as one of the user-facing errors in `quality.errors`:

* over the byte or pixel limit (pixels read from the header, before decoding) -> `TooLarge` (413)
* a large image in too few bytes (a decompression bomb under the pixel limit) -> `TooLarge` (413)
* no room in the shared decode memory budget within its wait -> `Overloaded` (503)
* empty data, not an image, or not one of JPEG / PNG / WebP / GIF -> `UnsupportedImage` (415)
* a supported format whose data cannot be decoded (truncated, damaged) -> `CorruptImage` (422)
* bad base64 -> `InvalidInput` with code ``invalid_base64`` (422)

Pixels are decoded once, at reduced size where the codec allows it (JPEG DCT scaling via
``draft``), so a 1080p JPEG costs a few milliseconds. Animated images give their first frame.
EXIF orientation is applied; a broken EXIF block is ignored rather than failing the photo.

Global PIL state is left alone: ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off and
``Image.MAX_IMAGE_PIXELS`` keeps its value. PIL's own bomb check fires inside
``Image.open``, before our check can run; its error is mapped to `TooLarge`, and its
warning is turned into an error only inside our ``open`` call and mapped the same way.
So the effective pixel limit is ``min(max_pixels, PIL.Image.MAX_IMAGE_PIXELS)``
(PIL's default warns above 89.5 Mpx, far over the service's 40 Mpx default).
PIL's UserWarnings about metadata it skips (broken EXIF, "Tag data larger than file", "Truncated
File Read", bad APNG chunks) are silenced inside our calls: a photo with a damaged EXIF block is
still a photo, and with warnings turned into errors it must not become a 422.
``warnings.catch_warnings`` is not thread-safe on Python 3.11: under a race the narrow
filters used here (bomb warning -> error, PIL's own UserWarnings -> ignored) could outlive
the call; both are harmless outside it.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import warnings
from contextlib import nullcontext
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from quality.errors import CorruptImage, InvalidInput, QualityError, TooLarge, UnsupportedImage
from quality.image.decode_budget import DecodeBudget

# Formats PIL may try. A multi-picture JPEG from a phone (MPO) is opened by the JPEG plugin.
_PIL_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# What we report for each PIL format name.
_REPORTED_FORMAT = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "GIF"}
# Long side of the returned array; analysis never needs more.
DEFAULT_TARGET_LONG_SIDE = 768
# base64 is 4 chars per 3 bytes; the slack covers padding, a data-URL prefix and line breaks.
_BASE64_SLACK_CHARS = 1024
# Optional "data:image/png;base64," prefix that browsers put in front of the payload.
_DATA_URL_PREFIX = re.compile(r"\s*data:image/[A-Za-z0-9.+-]+;base64,", re.IGNORECASE)
# Longest data-URL prefix we look for at the start of the string.
_DATA_URL_MAX_PREFIX = 100
# Line breaks and spaces that MIME-wrapped base64 carries; removed before strict decoding.
_BASE64_WHITESPACE = re.compile(r"[\s]+")
# EXIF tag 0x0112: how the camera was held.
_EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that makes the picture upright (1 = already upright).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Orientations that swap width and height.
_SWAPS_AXES = {5, 6, 7, 8}
# Background that transparent pixels are composited on (posts are shown on white).
_BACKGROUND_RGB = (255, 255, 255)
# Shrink factor from which area averaging is needed to avoid aliasing.
_AREA_RESIZE_MIN_FACTOR = 2.0
# Decompression bombs under the pixel limit: an image over BOMB_MIN_PIXELS whose file carries less
# than one byte per MAX_PIXELS_PER_BYTE pixels is refused before decoding. Photos carry a byte per
# 1.9-21 pixels (the 2,147 in shared/data/photos, median 3.9), screenshots and flat graphics tens;
# a 36 Mpx PNG of one colour fits in 4 KB and cost 0.4 s and 379 MB to decode (bench/decode_memory.py).
BOMB_MIN_PIXELS = 4_000_000
MAX_PIXELS_PER_BYTE = 500
# Images over this many pixels are converted to RGB and reduced in strips of rows
# (`_reduced_in_strips`): converting them whole took 10-19 bytes per pixel at the peak
# (36 Mpx, each in a fresh process: 1-bit PNG 379 MB, palette GIF 381, RGBA PNG 482, 16-bit PNG 688).
STRIP_MIN_PIXELS = 4_000_000
_STRIP_OUTPUT_ROWS = 64
# Peak working memory of a decode per decoded pixel, reserved in the DecodeBudget. Measured
# (bench/decode_memory.py), each in a fresh process, 36 Mpx: converted in strips, 1-bit PNG
# 85 MB (2.4 B/px), palette GIF 85, 16-bit PNG 116 (3.2), RGBA PNG 182 (5.0). Converted whole
# (under 4 Mpx, or a long side under twice the target) 10-19 B/px were measured; 14 is reserved,
# so a 16-bit image there can exceed its share by a third (at most ~9 Mpx: ~50 MB over).
# Lossless WebP 553 MB (15.4 B/px) either way: PIL's WebP decoder hands over a copy of the pixels.
_PEAK_BYTES_PER_PIXEL_WHOLE = 14
_PEAK_BYTES_PER_PIXEL_STRIPS = 6
_PEAK_BYTES_PER_PIXEL_WEBP = 16
# Modes flattened to RGB as they are; anything else (P, CMYK, I;16, 1, ...) is converted first.
_DIRECT_MODES = {"RGB", "RGBA", "L", "LA"}


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An upright RGB photo, downscaled for analysis.

    rgb: H x W x 3 uint8, read-only, long side <= the decode's target_long_side.
    width, height: the original upright size in pixels (after EXIF rotation).
    format: "JPEG", "PNG", "WEBP" or "GIF".
    n_frames: 1 for a still image. For WebP, APNG and MPO the count stored in the header;
        a GIF does not store one, so an animated GIF reports 2 ("more than one") rather
        than having every frame walked.

    Frozen, compared by identity (`eq=False`): the array makes value equality meaningless.
    """

    rgb: np.ndarray
    width: int
    height: int
    format: str
    n_frames: int


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    target_long_side: int = DEFAULT_TARGET_LONG_SIDE,
    budget: DecodeBudget | None = None,
) -> DecodedImage:
    """Decode JPEG/PNG/WebP/GIF bytes into a `DecodedImage`, enforcing the limits first.

    With a `budget`, the decode first reserves its estimated working memory there.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInput("image data must be bytes", code="invalid_image_data")
    if target_long_side < 1:
        raise ValueError("target_long_side must be >= 1")
    data = bytes(data)
    _check_byte_size(data, max_bytes)
    try:
        return _decode_checked(data, max_pixels, target_long_side, budget)
    except QualityError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"image has too many pixels ({exc})") from exc
    except MemoryError as exc:
        raise TooLarge("image is too large to decode") from exc
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, ValueError, SyntaxError,
        # struct.error, zlib.error, EOFError, IndexError, ... on damaged data
        raise CorruptImage(f"image data could not be decoded: {type(exc).__name__}") from exc


def decode_base64_image(
    b64: str,
    *,
    max_bytes: int,
    max_pixels: int,
    target_long_side: int = DEFAULT_TARGET_LONG_SIDE,
    field: str | None = None,
    budget: DecodeBudget | None = None,
) -> DecodedImage:
    """Strictly decode base64 (optionally a ``data:image/...;base64,`` URL), then `decode_image`.

    The string length is checked against ``max_bytes`` before anything is decoded.
    ``field`` names the request field in errors (e.g. ``"images[2].data"``).
    """
    if not isinstance(b64, str):
        raise InvalidInput("image data must be a base64 string", field=field, code="invalid_base64")
    if len(b64) > _max_base64_chars(max_bytes):
        raise TooLarge(f"image is larger than the {max_bytes} byte limit", field=field)
    data = _strict_b64decode(b64, field)
    try:
        return decode_image(
            data, max_bytes=max_bytes, max_pixels=max_pixels, target_long_side=target_long_side, budget=budget
        )
    except QualityError as exc:
        if exc.field is None:
            exc.field = field
        raise


# --- limits -------------------------------------------------------------------------


def _check_byte_size(data: bytes, max_bytes: int) -> None:
    if len(data) == 0:
        raise UnsupportedImage("image data is empty (0 bytes)")
    if len(data) > max_bytes:
        raise TooLarge(f"image is {len(data)} bytes, over the {max_bytes} byte limit")


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise CorruptImage(f"image declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise TooLarge(f"image is {width}x{height} pixels, over the {max_pixels} pixel limit")


def _check_compression(width: int, height: int, n_bytes: int) -> None:
    pixels = width * height
    if pixels > BOMB_MIN_PIXELS and pixels > n_bytes * MAX_PIXELS_PER_BYTE:
        raise TooLarge(
            f"image declares {width}x{height} pixels in {n_bytes} bytes ({pixels // n_bytes} pixels per byte); "
            f"a photo over {BOMB_MIN_PIXELS // 1_000_000} megapixels needs at least one byte per "
            f"{MAX_PIXELS_PER_BYTE} pixels (this looks like a decompression bomb)",
            code="decompression_bomb",
        )


def _max_base64_chars(max_bytes: int) -> int:
    return math.ceil(max_bytes * 4 / 3) + _BASE64_SLACK_CHARS


# --- base64 -------------------------------------------------------------------------


def _strict_b64decode(b64: str, field: str | None) -> bytes:
    prefix = _DATA_URL_PREFIX.match(b64, 0, _DATA_URL_MAX_PREFIX)
    payload = b64[prefix.end() :] if prefix else b64
    try:
        return _b64decode_strict(payload)
    except (binascii.Error, ValueError) as exc:
        # Only now look for line breaks (a regex over megabytes costs milliseconds).
        if _BASE64_WHITESPACE.search(payload):
            try:
                return _b64decode_strict(_BASE64_WHITESPACE.sub("", payload))
            except (binascii.Error, ValueError):
                pass
        raise InvalidInput(
            f"image data is not valid base64: {exc}", field=field, code="invalid_base64"
        ) from exc


def _b64decode_strict(payload: str) -> bytes:
    """Standard alphabet, correct padding, nothing else (binascii strict mode)."""
    return base64.b64decode(payload, validate=True)


# --- decoding -----------------------------------------------------------------------


def _decode_checked(data: bytes, max_pixels: int, target_long_side: int,
                    budget: DecodeBudget | None) -> DecodedImage:
    img = _open_header(data)
    with img:
        fmt = _REPORTED_FORMAT[img.format]
        _check_pixel_count(img.width, img.height, max_pixels)
        _check_compression(img.width, img.height, len(data))
        width, height = img.size
        n_frames = _frame_count(img)
        if fmt == "JPEG":
            _request_jpeg_draft(img, target_long_side)
        # After the draft, img.size is the size libjpeg will decode at.
        strip_factor = _strip_factor(img.width, img.height, target_long_side)
        working_bytes = img.width * img.height * _peak_bytes_per_pixel(fmt, strip_factor)
        with budget.reserve(working_bytes) if budget is not None else nullcontext():
            with warnings.catch_warnings():
                _ignore_pil_metadata_warnings()
                img.load()
            # Only after load: PNG's getexif() decodes the whole image to look for an eXIf chunk
            # after the pixels, and (its error swallowed here) would leave damaged pixel data as a
            # black image instead of an error.
            orientation = _exif_orientation(img)
            # The array is a copy, made before the file is closed (a closed PIL image has no pixels).
            # The output size comes from the stored size, not the draft's rounded-up one, so a JPEG
            # comes out exactly as large as a PNG of the same picture.
            out_size = _scaled_size(width, height, target_long_side)
            arr = np.ascontiguousarray(_apply_orientation(_to_small_rgb(img, out_size, strip_factor), orientation))
        if orientation in _SWAPS_AXES:
            width, height = height, width
    arr.setflags(write=False)
    return DecodedImage(rgb=arr, width=width, height=height, format=fmt, n_frames=n_frames)


def _open_header(data: bytes) -> Image.Image:
    """Identify the format and read the header only (no pixels)."""
    try:
        with warnings.catch_warnings():
            # Only inside this call: PIL's "possible bomb" warning becomes an error we map to 413.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # JPEG open reads the DPI from EXIF; broken EXIF is common and not our problem.
            _ignore_pil_metadata_warnings()
            img = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
    except Image.UnidentifiedImageError as exc:
        if _has_supported_signature(data):
            raise CorruptImage(f"the {_signature_format(data)} header is damaged") from exc
        raise UnsupportedImage("not a JPEG, PNG, WebP or GIF image") from exc
    if img.format not in _REPORTED_FORMAT:
        img.close()
        raise UnsupportedImage(f"unsupported image format {img.format!r}")
    return img


def _ignore_pil_metadata_warnings() -> None:
    """Inside a `catch_warnings` block: drop the UserWarnings PIL's plugins give for metadata they skip."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


def _signature_format(data: bytes) -> str | None:
    """The supported format whose magic bytes start `data`, if any."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _has_supported_signature(data: bytes) -> bool:
    return _signature_format(data) is not None


def _exif_orientation(img: Image.Image) -> int:
    """EXIF orientation 1-8, or 1 when absent or unreadable (broken EXIF is common)."""
    try:
        with warnings.catch_warnings():
            _ignore_pil_metadata_warnings()
            value = int(img.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - malformed EXIF must not fail the photo
        return 1
    return value if value in _ORIENTATION_TRANSPOSE else 1


def _frame_count(img: Image.Image) -> int:
    """Frames in the file. Read from the header where the format stores it (WebP, APNG, MPO).

    A GIF does not store its frame count; we only look whether a second frame exists
    (``is_animated``) and report 2 for "animated", never walking every frame.
    """
    if img.format == "GIF":
        try:
            return 2 if img.is_animated else 1
        except Exception:  # noqa: BLE001 - damage after the first frame: use the first frame
            img.seek(0)
            return 1
    try:
        return max(1, int(getattr(img, "n_frames", 1)))
    except Exception:  # noqa: BLE001
        return 1


def _scaled_size(width: int, height: int, target_long_side: int) -> tuple[int, int]:
    long_side = max(width, height)
    if long_side <= target_long_side:
        return width, height
    scale = target_long_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _request_jpeg_draft(img: Image.Image, target_long_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale while staying >= the target size."""
    w, h = _scaled_size(img.width, img.height, target_long_side)
    if (w, h) != img.size:
        img.draft("RGB", (w, h))


def _to_small_rgb(img: Image.Image, size: tuple[int, int], strip_factor: int) -> np.ndarray:
    """Any mode -> RGB (alpha on white), then shrink to `size` with OpenCV (much faster than PIL here).

    With `strip_factor` > 1 (a large image, see `_strip_factor`) it is converted and box-reduced by
    that factor in strips of rows first, so the full-size RGB copies (3-4 bytes per pixel each,
    several of them) never exist at once: the peak is the decoded image plus one strip.
    """
    if strip_factor > 1:
        img = _reduced_in_strips(img, strip_factor)
    rgb = np.asarray(_flatten_to_rgb(_to_direct_mode(img)), dtype=np.uint8)
    height, width = rgb.shape[:2]
    if size == (width, height):
        return rgb
    # Area averaging avoids aliasing on big reductions; after a JPEG draft the factor is < 2
    # and bilinear is as good and cheaper.
    shrink = max(width / size[0], height / size[1])
    interpolation = cv2.INTER_AREA if shrink >= _AREA_RESIZE_MIN_FACTOR else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interpolation)


def _peak_bytes_per_pixel(fmt: str, strip_factor: int) -> int:
    if fmt == "WEBP":
        return _PEAK_BYTES_PER_PIXEL_WEBP
    return _PEAK_BYTES_PER_PIXEL_STRIPS if strip_factor > 1 else _PEAK_BYTES_PER_PIXEL_WHOLE


def _strip_factor(width: int, height: int, target_long_side: int) -> int:
    """The integer box-reduction factor for a large image (1: convert it whole)."""
    if width * height <= STRIP_MIN_PIXELS:
        return 1
    return max(1, max(width, height) // (2 * target_long_side))


def _reduced_in_strips(img: Image.Image, factor: int) -> Image.Image:
    """RGB, alpha on white, box-reduced by `factor`, converted a strip of rows at a time."""
    rows = factor * _STRIP_OUTPUT_ROWS
    parts = []
    for top in range(0, img.height, rows):
        strip = img.crop((0, top, img.width, min(img.height, top + rows)))  # keeps mode, palette, info
        parts.append(np.asarray(_flatten_to_rgb(_to_direct_mode(strip)).reduce(factor), dtype=np.uint8))
    return Image.fromarray(np.concatenate(parts, axis=0))


def _to_direct_mode(img: Image.Image) -> Image.Image:
    """Bring any PIL mode to RGB, RGBA, L or LA without losing alpha or 16-bit range."""
    mode = img.mode
    if mode in _DIRECT_MODES:
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_bit_depth_to_l(img)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode in ("La",):
        return img.convert("LA")
    if mode in ("RGBa", "RGBX"):
        return img.convert("RGBA" if mode == "RGBa" else "RGB")
    if mode == "1":
        return img.convert("L")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """16-bit (or 32-bit int / float) greyscale to 8-bit, keeping the full range (not clipping)."""
    arr = np.asarray(img)
    if img.mode.startswith("I;16") or img.mode == "I":
        arr8 = (np.clip(arr.astype(np.int64), 0, 65535) // 257).astype(np.uint8)
    else:
        arr8 = np.clip(np.nan_to_num(arr.astype(np.float64)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr8)  # 2-D uint8 -> mode "L"


def _flatten_to_rgb(img: Image.Image) -> Image.Image:
    """Composite any alpha on white and return RGB."""
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, _BACKGROUND_RGB)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    if method is None:
        return rgb
    return np.asarray(Image.fromarray(rgb).transpose(method))
