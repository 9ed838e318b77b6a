"""Safe photo decoding: limits before pixels, every failure a user-facing error, any mode to RGB.

All inputs are made here with numpy / PIL / zlib (tests/hostile_images.py); nothing is read from disk or network.
"""

from __future__ import annotations

import base64
import io
import struct
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps

import quality.image.decode as decode_module
from quality.errors import CorruptImage, InvalidInput, QualityError, TooLarge, UnsupportedImage
from quality.image import DecodedImage, decode_base64_image, decode_image
from tests.hostile_images import encode, photo, png_chunk, with_gif_size, with_jpeg_size, zero_png

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000


def _decode(data: bytes, **kwargs) -> DecodedImage:
    kwargs.setdefault("max_bytes", MAX_BYTES)
    kwargs.setdefault("max_pixels", MAX_PIXELS)
    return decode_image(data, **kwargs)


# Builders shared with the hostile-photo catalogue (tests/hostile_images.py).
_encode, _photo, _png_chunk, _zero_png = encode, photo, png_chunk, zero_png
_with_jpeg_size, _with_gif_size = with_jpeg_size, with_gif_size


@pytest.fixture(scope="module")
def jpeg_bytes() -> bytes:
    return _encode(_photo(), "JPEG", quality=90)


# --- happy paths -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_each_supported_format_decodes_to_rgb(fmt):
    decoded = _decode(_encode(_photo(200, 100), fmt))
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (200, 100)
    assert decoded.rgb.shape == (100, 200, 3) and decoded.rgb.dtype == np.uint8
    assert decoded.n_frames == 1
    assert not decoded.rgb.flags.writeable


def test_1080p_jpeg_is_decoded_small_with_original_size():
    data = _encode(_photo(1920, 1080), "JPEG", quality=90)
    decoded = _decode(data)
    assert (decoded.width, decoded.height) == (1920, 1080)
    assert decoded.rgb.shape == (432, 768, 3)


def test_target_long_side_is_respected_for_portrait_png():
    decoded = _decode(_encode(_photo(300, 900), "PNG"), target_long_side=256)
    assert decoded.rgb.shape == (256, 85, 3)
    assert (decoded.width, decoded.height) == (300, 900)


def test_extreme_aspect_keeps_at_least_one_pixel():
    decoded = _decode(_encode(Image.new("L", (20000, 10), 128), "PNG"))
    assert decoded.rgb.shape == (1, 768, 3)
    assert (decoded.width, decoded.height) == (20000, 10)


# --- limits --------------------------------------------------------------------------------


def test_over_byte_limit_is_too_large(jpeg_bytes):
    with pytest.raises(TooLarge) as info:
        _decode(jpeg_bytes, max_bytes=len(jpeg_bytes) - 1)
    assert info.value.status_code == 413


def test_png_over_pixel_limit_is_too_large_before_decoding():
    data = _zero_png(8000, 8000)  # 64 Mpx, under PIL's own limit, over ours
    assert len(data) < 100_000
    start = time.perf_counter()
    with pytest.raises(TooLarge):
        _decode(data)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("side", [10_000, 20_000, 30_000])
def test_decompression_bomb_png_is_too_large_quickly(side):
    """Over PIL's warning (89 Mpx) and error (179 Mpx) limits: still TooLarge, even if our own
    limit is set higher, and no warning escapes."""
    data = _zero_png(side, side)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for max_pixels in (MAX_PIXELS, 10**12):
            with pytest.raises(TooLarge):
                _decode(data, max_pixels=max_pixels)
    assert time.perf_counter() - start < 0.5


def test_jpeg_header_declaring_huge_size_is_too_large(jpeg_bytes):
    bomb = _with_jpeg_size(jpeg_bytes, 60_000, 60_000)
    start = time.perf_counter()
    for max_pixels in (MAX_PIXELS, 10**12):
        with pytest.raises(TooLarge):
            _decode(bomb, max_pixels=max_pixels)
    assert time.perf_counter() - start < 0.5


def test_gif_header_declaring_huge_size_is_too_large():
    gif = _with_gif_size(_encode(_photo(64, 64), "GIF"), 65_000, 65_000)
    for max_pixels in (MAX_PIXELS, 10**12):
        with pytest.raises(TooLarge):
            _decode(gif, max_pixels=max_pixels)


# --- not an image / damaged -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is plain text and not a photo" * 10,
        b"%PDF-1.7\n" + b"\x00" * 200,
        b"PK\x03\x04" + b"\x00" * 200,
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
    ],
    ids=["text", "pdf", "zip", "svg"],
)
def test_non_image_bytes_are_unsupported(data):
    with pytest.raises(UnsupportedImage) as info:
        _decode(data)
    assert info.value.status_code == 415


def test_zero_bytes_are_unsupported_with_clear_message():
    with pytest.raises(UnsupportedImage, match="empty"):
        _decode(b"")


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PPM"])
def test_other_image_formats_are_unsupported(fmt):
    with pytest.raises(UnsupportedImage):
        _decode(_encode(_photo(64, 64), fmt))


def test_truncated_jpeg_is_corrupt(jpeg_bytes):
    with pytest.raises(CorruptImage) as info:
        _decode(jpeg_bytes[: len(jpeg_bytes) * 6 // 10])
    assert info.value.status_code == 422


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP"])
def test_truncated_files_are_corrupt(fmt):
    data = _encode(_photo(), fmt)
    with pytest.raises(CorruptImage):
        _decode(data[: len(data) // 2])


def test_damaged_png_header_is_corrupt_not_unsupported():
    data = bytearray(_encode(_photo(64, 64), "PNG"))
    data[16:24] = b"\xff" * 8  # IHDR width/height, CRC now wrong
    with pytest.raises(CorruptImage):
        _decode(bytes(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["JPEG", "PNG", "GIF", "WEBP"]),
    cuts=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=8),
    truncate=st.one_of(st.none(), st.integers(1, 4000)),
)
def test_damaged_files_only_raise_quality_errors(fmt, cuts, truncate):
    data = bytearray(_encode(_photo(96, 64), fmt))
    for position, value in cuts:
        data[position % len(data)] = value
    if truncate is not None:
        data = data[: truncate % len(data) or 1]
    try:
        decoded = _decode(bytes(data))
    except QualityError as error:
        assert isinstance(error, (CorruptImage, UnsupportedImage, TooLarge))
    else:
        assert decoded.rgb.ndim == 3 and decoded.rgb.shape[2] == 3 and decoded.rgb.dtype == np.uint8


def test_truncated_images_flag_is_left_off(jpeg_bytes):
    with pytest.raises(CorruptImage):
        _decode(jpeg_bytes[:-200])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- orientation and modes -----------------------------------------------------------------


def _red_left_blue_right(width: int = 240, height: int = 120) -> Image.Image:
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (220, 20, 20)
    pixels[:, width // 2 :] = (20, 20, 220)
    return Image.fromarray(pixels)


def test_exif_rotated_jpeg_comes_out_upright():
    source = _red_left_blue_right()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    data = _encode(source, "JPEG", quality=95, exif=exif.tobytes())
    decoded = _decode(data)
    assert (decoded.width, decoded.height) == (120, 240)
    assert decoded.rgb.shape == (240, 120, 3)
    top, bottom = decoded.rgb[20, 60], decoded.rgb[220, 60]
    assert top[0] > 150 and top[2] < 100  # the red half is now on top
    assert bottom[2] > 150 and bottom[0] < 100
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.abs(decoded.rgb.astype(int) - expected.astype(int)).mean() < 3


def test_broken_exif_is_ignored():
    source = _encode(_photo(), "JPEG", quality=90)
    app1 = b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff garbage"
    data = source[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + source[2:]
    decoded = _decode(data)
    assert decoded.rgb.shape == (240, 320, 3)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red ink
    decoded = _decode(_encode(cmyk, "JPEG", quality=95))
    assert decoded.rgb.shape == (48, 64, 3) and decoded.rgb.dtype == np.uint8
    r, g, b = decoded.rgb[24, 32].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_keeps_its_range():
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (32, 1))
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    decoded = _decode(_encode(image, "PNG"))
    grey = decoded.rgb[..., 0].astype(int)
    assert decoded.rgb.dtype == np.uint8
    assert grey[:, 0].max() < 5 and grey[:, -1].min() > 250
    assert 100 < grey[16, 128] < 156  # the middle is mid-grey, not clipped white
    assert np.all(np.diff(grey[16]) >= 0)


def test_palette_png_with_transparency_is_composited_on_white():
    image = Image.new("P", (40, 20), 0)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    image.paste(1, (20, 0, 40, 20))
    image.info["transparency"] = 0
    decoded = _decode(_encode(image, "PNG", transparency=0))
    assert decoded.rgb[10, 5].tolist() == [255, 255, 255]  # transparent -> white
    assert decoded.rgb[10, 30].tolist() == [200, 30, 30]


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode):
    colour = (30, 60, 90, 0) if mode == "RGBA" else (60, 0)
    opaque = (30, 60, 90, 255) if mode == "RGBA" else (60, 255)
    image = Image.new(mode, (40, 20), colour)
    image.paste(Image.new(mode, (20, 20), opaque), (20, 0))
    decoded = _decode(_encode(image, "PNG"))
    assert decoded.rgb.shape == (20, 40, 3) and decoded.rgb.dtype == np.uint8
    assert decoded.rgb[10, 5].tolist() == [255, 255, 255]
    expected = [30, 60, 90] if mode == "RGBA" else [60, 60, 60]
    assert decoded.rgb[10, 30].tolist() == expected


def test_animated_gif_gives_first_frame_fast():
    frames = [Image.new("RGB", (200, 150), (10 + i, 200 - i, 40)) for i in range(150)]
    frames[0] = Image.new("RGB", (200, 150), (250, 0, 0))
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    start = time.perf_counter()
    decoded = _decode(buffer.getvalue())
    elapsed = time.perf_counter() - start
    assert decoded.format == "GIF"
    assert decoded.n_frames >= 2
    r, g, b = decoded.rgb[75, 100].astype(int)
    assert r > 200 and g < 40 and b < 40
    assert elapsed < 0.2


def test_animated_webp_reports_frame_count_and_first_frame():
    frames = [Image.new("RGB", (64, 64), colour) for colour in [(250, 0, 0), (0, 250, 0), (0, 0, 250)]]
    data = _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    decoded = _decode(data)
    assert decoded.n_frames == 3
    assert decoded.rgb[32, 32].tolist() == [250, 0, 0]


# --- base64 -------------------------------------------------------------------------------------


def test_base64_round_trip_and_data_url(jpeg_bytes):
    plain = base64.b64encode(jpeg_bytes).decode()
    for text in (plain, "data:image/jpeg;base64," + plain):
        decoded = decode_base64_image(text, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        assert decoded.format == "JPEG" and (decoded.width, decoded.height) == (320, 240)


def test_line_wrapped_base64_is_accepted(jpeg_bytes):
    wrapped = base64.encodebytes(jpeg_bytes).decode()  # MIME style, 76 chars per line
    assert "\n" in wrapped
    decoded = decode_base64_image(wrapped, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert decoded.format == "JPEG"


@pytest.mark.parametrize(
    "text", ["@@@@not base64@@@@", "abc", "aGVsbG8=\x00", "图片数据", "aGVsbG8=aGVsbG8="]
)
def test_bad_base64_is_invalid_input(text):
    with pytest.raises(InvalidInput) as info:
        decode_base64_image(text, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, field="images[0].data")
    assert info.value.code == "invalid_base64"
    assert info.value.status_code == 422
    assert info.value.field == "images[0].data"


def test_oversize_base64_is_too_large_without_decoding(monkeypatch):
    def must_not_decode(payload):
        raise AssertionError("base64 was decoded before the length check")

    monkeypatch.setattr(decode_module, "_b64decode_strict", must_not_decode)
    text = "A" * 20_000
    with pytest.raises(TooLarge):
        decode_base64_image(text, max_bytes=10_000, max_pixels=MAX_PIXELS)


def test_base64_of_oversize_bytes_is_too_large(jpeg_bytes):
    text = base64.b64encode(jpeg_bytes).decode()
    with pytest.raises(TooLarge) as info:
        decode_base64_image(
            text, max_bytes=len(jpeg_bytes) - 10, max_pixels=MAX_PIXELS, field="images[1].data"
        )
    assert info.value.field == "images[1].data"


def test_base64_of_text_is_unsupported():
    text = base64.b64encode(b"just some words, not a picture").decode()
    with pytest.raises(UnsupportedImage):
        decode_base64_image(text, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


# --- large images: converted and reduced in strips ------------------------------------------------


def _large_structured(mode: str) -> Image.Image:
    """4000 x 1700 (6.8 Mpx, over STRIP_MIN_PIXELS; reduced by 2 in strips) with edges, gradients and, where the mode has
    one, a varying alpha, so a strip seam or a wrong compositing would show."""
    base = _photo(4000, 1700, seed=5)
    if mode == "RGBA":
        base = base.convert("RGBA")
        base.putalpha(Image.linear_gradient("L").resize(base.size))
        return base
    if mode == "P":
        return base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if mode == "I;16":
        grey = np.asarray(base.convert("L")).astype(np.uint16) * 257
        return Image.fromarray(grey)
    return base.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "1", "I;16"])
def test_large_images_reduced_in_strips_match_whole_conversion(mode, monkeypatch):
    assert 4000 * 1700 > decode_module.STRIP_MIN_PIXELS
    assert decode_module._strip_factor(4000, 1700, 768) == 2
    data = _encode(_large_structured(mode), "PNG")
    in_strips = _decode(data)
    monkeypatch.setattr(decode_module, "STRIP_MIN_PIXELS", 10**12)  # the whole-image path
    whole = _decode(data)
    assert in_strips.rgb.shape == whole.rgb.shape == (326, 768, 3)
    difference = np.abs(in_strips.rgb.astype(int) - whole.rgb.astype(int))
    # Reducing by 2 first moves the area boundaries to even pixels: on photo-like content that is
    # a rounding difference; on a dithered 1-bit image (alternate pixels black and white) it
    # averages other pixel pairs at the edges of each output pixel, a few levels on average.
    mean_limit, p99_limit = (6.0, 30) if mode == "1" else (1.0, 6)
    assert difference.mean() < mean_limit and np.percentile(difference, 99) <= p99_limit, \
        (difference.mean(), np.percentile(difference, 99))
