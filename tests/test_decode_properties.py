"""Property tests (hypothesis) for the photo decoders, `decode_image` and `decode_base64_image` (issue 10).

`tests/test_image_decode.py` pins the behaviour on hand-made files (and fuzzes byte overwrites of one
small photo); these state what must hold for *any* image of any mode / format pair PIL can write, any EXIF
orientation, any mutation of a valid file or any byte string, and any base64 spelling of it.
Images are generated here with numpy / PIL; nothing is read from disk or network.
"""

from __future__ import annotations

import base64
import io
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from quality.errors import CorruptImage, InvalidInput, QualityError, TooLarge, UnsupportedImage
from quality.image import DecodedImage, decode_base64_image, decode_image

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
DEFAULT_TARGET = 768
SLOW_DECODE_S = 1.0

# Which PIL modes each supported format can be written from. "P+t" is a palette image with a transparent
# index. PA is only writable as WebP (PIL converts it to RGBA); CMYK only as JPEG, I;16 only as PNG.
MODE_FORMATS = {
    "1": ("JPEG", "PNG", "WEBP", "GIF"),
    "L": ("JPEG", "PNG", "WEBP", "GIF"),
    "LA": ("PNG", "WEBP", "GIF"),
    "P": ("PNG", "WEBP", "GIF"),
    "P+t": ("PNG", "WEBP", "GIF"),
    "PA": ("WEBP",),
    "RGB": ("JPEG", "PNG", "WEBP", "GIF"),
    "RGBA": ("PNG", "WEBP", "GIF"),
    "CMYK": ("JPEG",),
    "I;16": ("PNG",),
}
WHITE = 255


def _encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    """The image as a file. Pillow sizes a progressive JPEG's output buffer from the pixel count
    (at least ImageFile.MAXBLOCK, 64 KiB), which noisy photos at quality 90-94 outgrow: libjpeg then
    stops with "Suspension not allowed here" (about 1 in 20 of the generator's progressive RGB
    images). A buffer as large as the raw pixels always suffices, so it is raised while saving."""
    buffer = io.BytesIO()
    default = ImageFile.MAXBLOCK
    ImageFile.MAXBLOCK = max(default, 4 * image.width * image.height * len(image.getbands()))
    try:
        image.save(buffer, format=fmt, **save_args)
    finally:
        ImageFile.MAXBLOCK = default
    return buffer.getvalue()


def _over_white(values: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Reference compositing of `values` (H x W x C) with `alpha` (H x W) on white, as floats."""
    a = alpha.astype(float)[..., None] / 255.0
    return values.astype(float) * a + WHITE * (1.0 - a)


def _source(mode: str, width: int, height: int, seed: int) -> tuple[Image.Image, np.ndarray, dict]:
    """A random image in `mode`, the RGB (float) we expect back from a lossless file, and save args."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    smooth = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + 2 * y) % 256], axis=-1)
    noise = rng.integers(0, 256, (height, width, 3))
    rgb = np.where(rng.random((height, width, 1)) < 0.3, noise, smooth).astype(np.uint8)
    alpha = rng.choice(np.array([0, 255, 128, 17], np.uint8), size=(height, width))
    grey = rgb[..., 0]
    index = (rgb[..., 1] % 64).astype(np.uint8)
    palette = rng.integers(0, 256, (256, 3)).astype(np.uint8)
    size = (width, height)
    save: dict = {}
    if mode == "1":
        bits = grey > 127
        return Image.fromarray(bits), np.repeat(bits[..., None] * 255.0, 3, axis=2), save
    if mode == "L":
        return Image.fromarray(grey), np.repeat(grey[..., None].astype(float), 3, axis=2), save
    if mode == "LA":
        image = Image.merge("LA", (Image.fromarray(grey), Image.fromarray(alpha)))
        return image, _over_white(np.repeat(grey[..., None], 3, axis=2), alpha), save
    if mode in ("P", "P+t"):
        image = Image.frombytes("P", size, index.tobytes())
        image.putpalette(palette.tobytes())
        expected = palette[index].astype(float)
        if mode == "P+t":
            transparent = int(index[0, 0])
            image.info["transparency"] = transparent
            save["transparency"] = transparent
            expected[index == transparent] = WHITE
        return image, expected, save
    if mode == "PA":
        image = Image.frombytes("PA", size, np.stack([index, alpha], axis=-1).tobytes())
        image.putpalette(palette.tobytes())
        return image, _over_white(palette[index], alpha), save
    if mode == "RGB":
        return Image.fromarray(rgb), rgb.astype(float), save
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, alpha])), _over_white(rgb, alpha), save
    if mode == "CMYK":
        ink = np.dstack([rgb, rgb[..., :1] // 4])
        return Image.frombytes("CMYK", size, ink.tobytes()), None, save  # no simple reference: only the shape
    if mode == "I;16":
        wide = (rgb[..., 0].astype(np.uint16) << 8) | rgb[..., 1]
        return Image.fromarray(wide), np.repeat((wide // 257)[..., None].astype(float), 3, axis=2), save
    raise AssertionError(mode)


@st.composite
def images(draw, max_side: int = 300):
    """(encoded bytes, format, mode, width, height, expected RGB or None, lossless?)."""
    mode = draw(st.sampled_from(sorted(MODE_FORMATS)))
    fmt = draw(st.sampled_from(MODE_FORMATS[mode]))
    width, height = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    image, expected, save = _source(mode, width, height, draw(st.integers(0, 2**16)))
    lossless = fmt == "PNG" or (fmt == "GIF" and mode in ("1", "L", "P", "P+t"))
    if fmt == "JPEG":
        save.update(quality=draw(st.integers(5, 95)), progressive=draw(st.booleans()),
                    subsampling=draw(st.sampled_from([0, 1, 2])))
    elif fmt == "WEBP":
        lossless = draw(st.booleans())
        save.update(lossless=lossless, quality=draw(st.integers(5, 95)))
    return _encode(image, fmt, **save), fmt, mode, width, height, expected, lossless


def _decode(data, **kwargs) -> DecodedImage:
    kwargs.setdefault("max_bytes", MAX_BYTES)
    kwargs.setdefault("max_pixels", MAX_PIXELS)
    return decode_image(data, **kwargs)


def _assert_well_formed(decoded: DecodedImage, target: int) -> None:
    assert isinstance(decoded, DecodedImage)
    rgb = decoded.rgb
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert not rgb.flags.writeable
    assert 1 <= max(rgb.shape[:2]) <= target
    assert decoded.width >= 1 and decoded.height >= 1
    assert decoded.format in ("JPEG", "PNG", "WEBP", "GIF")
    assert decoded.n_frames >= 1


# ------------------------------------------------------------------------- any mode, any format

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=images(), target=st.one_of(st.just(DEFAULT_TARGET), st.integers(1, 400)))
def test_any_image_decodes_to_small_upright_rgb_of_the_original_size(image, target):
    data, fmt, mode, width, height, expected, lossless = image
    decoded = _decode(data, target_long_side=target)
    _assert_well_formed(decoded, target)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (width, height)
    out_height, out_width = decoded.rgb.shape[:2]
    scale = min(1.0, target / max(width, height))
    if scale == 1.0:
        assert (out_width, out_height) == (width, height)
    else:
        assert max(out_width, out_height) == target
        # Each side within rounding of the exact scaled size, whatever the format (a JPEG is decoded
        # at 1/2, 1/4 or 1/8 scale first, but its output size comes from its stored size).
        assert abs(out_width - width * scale) <= 0.5 or out_width == 1
        assert abs(out_height - height * scale) <= 0.5 or out_height == 1
    if lossless and scale == 1.0 and expected is not None:
        # PIL rounds alpha compositing its own way: one level either way is fine.
        assert np.abs(decoded.rgb.astype(float) - expected).max() <= 1.0


# ------------------------------------------------------------------------------ EXIF orientation

# What a viewer does to the stored pixels for each EXIF orientation (TIFF 6.0 / EXIF 2.3 tag 0x0112),
# written independently of the decoder's table.
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),  # stored rotated 90° anticlockwise: turn 90° clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the anti-diagonal
    8: lambda a: np.rot90(a, 1),  # turn 90° anticlockwise
}
QUADRANT_COLOURS = np.array([[230, 30, 30], [30, 200, 40], [40, 40, 220], [240, 220, 30]], np.uint8)


def _quadrants(width: int, height: int) -> np.ndarray:
    """Four flat quadrants of different colours: each of the 8 orientations gives a different picture."""
    pixels = np.empty((height, width, 3), np.uint8)
    top, left = height // 2, width // 2
    pixels[:top, :left], pixels[:top, left:] = QUADRANT_COLOURS[0], QUADRANT_COLOURS[1]
    pixels[top:, :left], pixels[top:, left:] = QUADRANT_COLOURS[2], QUADRANT_COLOURS[3]
    return pixels


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


@settings(max_examples=80, deadline=None)
@given(orientation=st.integers(1, 8), width=st.integers(16, 300), height=st.integers(16, 300),
       quality=st.integers(85, 95), target=st.one_of(st.just(DEFAULT_TARGET), st.integers(16, 200)))
def test_exif_orientation_gives_the_upright_size_and_pixels(orientation, width, height, quality, target):
    stored = _quadrants(width, height)
    exif = Image.Exif()
    exif[0x0112] = orientation
    # 4:4:4 so that chroma is not smeared over 16-pixel blocks of a small picture
    data = _encode(Image.fromarray(stored), "JPEG", quality=quality, subsampling=0, exif=exif.tobytes())
    decoded = _decode(data, target_long_side=target)
    _assert_well_formed(decoded, target)
    upright = np.ascontiguousarray(UPRIGHT[orientation](stored))
    assert (decoded.height, decoded.width) == upright.shape[:2]
    out_height, out_width = decoded.rgb.shape[:2]
    assert (out_height >= out_width) == (decoded.height >= decoded.width) or abs(out_height - out_width) <= 1
    expected = np.asarray(Image.fromarray(upright).resize((out_width, out_height), Image.Resampling.BOX))
    difference = _mean_difference(decoded.rgb, expected)
    if min(out_height, out_width) < 8:  # a sliver a few pixels across is mostly blurred quadrant edges (and
        return                          # 1 pixel wide cannot tell left from right): the sizes were checked
    assert difference < 12.0  # JPEG and resampling only blur the quadrant edges
    for other, transform in UPRIGHT.items():  # and every wrong orientation would be far off
        wrong = np.ascontiguousarray(transform(stored))
        if other != orientation and wrong.shape == upright.shape:
            wrong = np.asarray(Image.fromarray(wrong).resize((out_width, out_height), Image.Resampling.BOX))
            assert _mean_difference(decoded.rgb, wrong) > difference + 20.0


# -------------------------------------------------------------------------- damaged and random bytes

def _seed_files() -> list[bytes]:
    """Valid files of every format and several flavours, small so that mutations reach everything."""
    rng = np.random.default_rng(7)
    photo = Image.fromarray(rng.integers(0, 256, (24, 32, 3)).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [Image.new("RGB", (16, 12), (i * 40, 255 - i * 40, 90)) for i in range(4)]
    files = [
        _encode(photo, "JPEG", quality=80),
        _encode(photo, "JPEG", quality=60, progressive=True, exif=exif.tobytes()),
        _encode(photo.convert("CMYK"), "JPEG"),
        _encode(photo, "PNG"),
        _encode(photo.convert("RGBA"), "PNG"),
        _encode(photo.convert("P"), "PNG", transparency=3),
        _encode(Image.fromarray(rng.integers(0, 65536, (10, 12)).astype(np.uint16)), "PNG"),
        _encode(photo, "GIF"),
        _encode(photo, "WEBP", quality=50),
        _encode(photo.convert("RGBA"), "WEBP", lossless=True),
    ]
    gif, webp, apng = io.BytesIO(), io.BytesIO(), io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    frames[0].save(webp, "WEBP", save_all=True, append_images=frames[1:], duration=40, lossless=True)
    frames[0].save(apng, "PNG", save_all=True, append_images=frames[1:], duration=40)
    return files + [gif.getvalue(), webp.getvalue(), apng.getvalue()]


SEED_FILES = _seed_files()
SIGNATURES = [b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\x89PNG\r\n\x1a\n",
              b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"GIF87a", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
              b"RIFF\x10\x00\x00\x00WEBPVP8L", b"RIFF\x20\x00\x00\x00WEBPVP8X", b"BM", b"II*\x00"]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("overwrite"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6), st.integers(1, 200), st.integers(0, 10**6)),
)


def _mutate(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, position, *rest in mutations:
        if not out:
            break
        at = position % len(out)
        if kind == "flip":
            out[at] ^= 1 << rest[0]
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = rest[0]
        elif kind == "delete":
            del out[at:at + rest[0]]
        elif kind == "overwrite":
            out[at:at + len(rest[0])] = rest[0]
        else:  # duplicate a segment somewhere else (repeated chunks, markers, frames)
            segment = out[at:at + rest[0]]
            where = rest[1] % len(out)
            out[where:where] = segment
    return bytes(out)


any_bytes = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda sig, tail: sig + tail, st.sampled_from(SIGNATURES), st.binary(max_size=2048)),
    st.builds(_mutate, st.sampled_from(SEED_FILES), st.lists(mutation, min_size=1, max_size=6)),
)
limits = st.fixed_dictionaries({
    "max_bytes": st.one_of(st.just(MAX_BYTES), st.integers(1, 4096)),
    "max_pixels": st.one_of(st.just(MAX_PIXELS), st.integers(1, 2000)),
    "target_long_side": st.one_of(st.just(DEFAULT_TARGET), st.integers(1, 64)),
})


def _outcome(call):
    """(DecodedImage or the QualityError raised, seconds taken). Any other exception propagates."""
    start = time.perf_counter()
    try:
        result = call()
    except QualityError as error:
        result = error
    return result, time.perf_counter() - start


# Warnings are errors here (pyproject's filterwarnings or -W error would make them so anyway):
# a warning PIL gives about metadata it skips must not leak out of the decoder.
@pytest.mark.filterwarnings("error::UserWarning")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=any_bytes, limits=limits)
def test_any_bytes_give_an_image_or_a_quality_error_quickly(data, limits):
    result, seconds = _outcome(lambda: decode_image(data, **limits))
    assert seconds < SLOW_DECODE_S
    if isinstance(result, QualityError):
        assert isinstance(result, (UnsupportedImage, CorruptImage, TooLarge))
        assert result.status_code in (413, 415, 422) and result.to_dict()["message"]
        if not data:
            assert isinstance(result, UnsupportedImage)
        elif len(data) > limits["max_bytes"]:
            assert isinstance(result, TooLarge)
    else:
        _assert_well_formed(result, limits["target_long_side"])
        assert result.width * result.height <= limits["max_pixels"]


# ------------------------------------------------------------------------------------------ base64

def _spellings(draw, data: bytes) -> str:
    """One of the base64 spellings a client may send: plain, data URL, MIME / PEM line wrapped, or both."""
    text = base64.b64encode(data).decode("ascii")
    if draw(st.booleans()):
        width = draw(st.integers(4, 120))
        newline = draw(st.sampled_from(["\n", "\r\n"]))
        text = newline.join(text[i:i + width] for i in range(0, len(text), width))
        if draw(st.booleans()):
            text += newline
    if draw(st.booleans()):
        subtype = draw(st.sampled_from(["png", "jpeg", "JPEG", "webp", "gif", "svg+xml", "x-icon", "vnd.ms-photo"]))
        data_prefix = draw(st.sampled_from(["data:image/", "DATA:IMAGE/", "Data:Image/"]))
        base = draw(st.sampled_from([";base64,", ";BASE64,"]))
        text = draw(st.sampled_from(["", " ", "\n", "\t "])) + data_prefix + subtype + base + text
    return text


def _same_outcome(raw, from_base64) -> None:
    if isinstance(raw, QualityError):
        assert type(from_base64) is type(raw) and from_base64.code == raw.code
        return
    assert isinstance(from_base64, DecodedImage)
    assert np.array_equal(from_base64.rgb, raw.rgb)
    assert (from_base64.width, from_base64.height, from_base64.format, from_base64.n_frames) == \
           (raw.width, raw.height, raw.format, raw.n_frames)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=images(max_side=120), data=st.data())
def test_base64_of_a_valid_image_decodes_exactly_like_its_bytes(image, data):
    raw_bytes = image[0]
    text = _spellings(data.draw, raw_bytes)
    raw = decode_image(raw_bytes, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    from_base64 = decode_base64_image(text, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    _same_outcome(raw, from_base64)


# Warnings are errors here (pyproject's filterwarnings or -W error would make them so anyway):
# a warning PIL gives about metadata it skips must not leak out of the decoder.
@pytest.mark.filterwarnings("error::UserWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_bytes=any_bytes, data=st.data())
def test_base64_of_any_bytes_fails_or_succeeds_like_the_bytes(raw_bytes, data):
    text = _spellings(data.draw, raw_bytes)
    raw, _ = _outcome(lambda: _decode(raw_bytes))
    from_base64, _ = _outcome(lambda: decode_base64_image(text, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS,
                                                          field="images[0].data"))
    _same_outcome(raw, from_base64)
    if isinstance(from_base64, QualityError):
        assert from_base64.field == "images[0].data"


BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
base64ish = st.one_of(
    st.text(max_size=400),
    st.text(alphabet=BASE64_ALPHABET + " \n\r\t-_", max_size=400),
    st.builds(lambda prefix, body: prefix + body,
              st.sampled_from(["data:image/png;base64,", "data:image/;base64,", "data:text/plain;base64,",
                               "  data:image/jpeg;base64,", "data:image/png,", "data:"]),
              st.text(alphabet=BASE64_ALPHABET + "\n", max_size=400)),
    st.builds(lambda good, junk, at: good[:at % (len(good) + 1)] + junk + good[at % (len(good) + 1):],
              st.sampled_from([base64.b64encode(f).decode() for f in SEED_FILES[:4]]),
              st.text(max_size=8), st.integers(0, 10**5)),
)


# Warnings are errors here (pyproject's filterwarnings or -W error would make them so anyway):
# a warning PIL gives about metadata it skips must not leak out of the decoder.
@pytest.mark.filterwarnings("error::UserWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=base64ish, max_bytes=st.one_of(st.just(MAX_BYTES), st.integers(1, 600)))
def test_any_text_gives_an_image_or_a_quality_error(text, max_bytes):
    result, seconds = _outcome(lambda: decode_base64_image(text, max_bytes=max_bytes, max_pixels=MAX_PIXELS,
                                                           field="f"))
    assert seconds < SLOW_DECODE_S
    if isinstance(result, QualityError):
        assert result.field == "f"
        if isinstance(result, InvalidInput):
            assert result.code == "invalid_base64"
    else:
        _assert_well_formed(result, DEFAULT_TARGET)


@pytest.mark.parametrize("value", [b"aGVsbG8=", None, 42, ["aGVsbG8="]])
def test_base64_of_a_non_string_is_invalid_input(value):
    with pytest.raises(InvalidInput):
        decode_base64_image(value, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


# ------------------------------------------------------------------------------------ found by the fuzzing

# A valid JPEG whose EXIF block declares one tag with more data than the block holds.
_SHORT_EXIF = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00"


# Was a leak: PIL's 'Tag data larger than file' UserWarning (TiffImagePlugin, while JpegImagePlugin
# reads the DPI from EXIF) escaped the decoder, and with warnings as errors the photo became a 422.
def test_a_valid_jpeg_with_broken_exif_decodes_without_warnings():
    photo = _encode(Image.fromarray(np.zeros((24, 32, 3), np.uint8)), "JPEG")
    data = photo[:2] + b"\xff\xe1" + len(_SHORT_EXIF + b"..").to_bytes(2, "big") + _SHORT_EXIF + photo[2:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = _decode(data)
    assert decoded.rgb.shape == (24, 32, 3)
