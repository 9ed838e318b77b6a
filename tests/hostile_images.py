"""A catalogue of hostile and awkward photos, made here from numpy / PIL / zlib (nothing read from disk).

Each entry is (bytes, the statuses `POST /score` may answer with). Used by tests/test_hostile_images.py
(through the API: status, time, and memory in a separate process) and by tests/test_image_decode.py
(its byte-level builders). Kept small: the whole catalogue is built in about a second.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

SCORED = frozenset({200})
TOO_LARGE = frozenset({413})
UNSUPPORTED = frozenset({415})
CORRUPT = frozenset({422})


@dataclass(frozen=True)
class Hostile:
    data: bytes
    statuses: frozenset[int]
    what: str
    upright_size: tuple[int, int] | None = None  # (width, height) the service must report, if scored


def encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def photo(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """Smooth colour gradients plus a few blocks: compresses like a photo, decodes fast."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1)
    for _ in range(6):
        x0, y0 = rng.integers(0, max(width - 20, 1)), rng.integers(0, max(height - 20, 1))
        pixels[y0 : y0 + 20, x0 : x0 + 20] = rng.integers(0, 255, 3)
    return Image.fromarray(pixels.astype(np.uint8))


# --- byte-level builders ---------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def zero_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of zeros, compressed as a stream (never held in memory)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    rows_per_chunk = 256
    chunk = row * rows_per_chunk
    parts = [compressor.compress(chunk) for _ in range(height // rows_per_chunk)]
    parts.append(compressor.compress(row * (height % rows_per_chunk)))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b"")


def with_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame header (SOF0) of a baseline JPEG to declare another size."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def with_gif_size(gif: bytes, width: int, height: int) -> bytes:
    """Rewrite the logical screen and first image descriptor of a GIF to declare another size."""
    out = bytearray(gif)
    out[6:10] = struct.pack("<HH", width, height)
    descriptor = out.index(b",", 13)
    out[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(out)


def with_webp_canvas(webp: bytes, width: int, height: int) -> bytes:
    """Rewrite the canvas size of an extended (VP8X) WebP: 24-bit fields holding size - 1."""
    assert webp[12:16] == b"VP8X", "needs an extended-format WebP"
    out = bytearray(webp)
    out[24:27] = (width - 1).to_bytes(3, "little")
    out[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(out)


def with_vp8l_size(webp: bytes, width: int, height: int) -> bytes:
    """Rewrite the 14-bit width / height of a simple lossless (VP8L) WebP."""
    assert webp[12:16] == b"VP8L", "needs a simple lossless WebP"
    out = bytearray(webp)
    bits = int.from_bytes(out[21:25], "little")
    bits = (bits & ~0x0FFFFFFF) | (width - 1) | ((height - 1) << 14)
    out[21:25] = bits.to_bytes(4, "little")
    return bytes(out)


def with_app_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Insert an APPn / COM segment (payload < 64 KiB) right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def with_idat_noise(png: bytes) -> bytes:
    """Replace the compressed pixel data of a PNG with random bytes, keeping the chunk valid."""
    start = png.index(b"IDAT") - 4
    length = struct.unpack(">I", png[start : start + 4])[0]
    noise = np.random.default_rng(0).integers(0, 256, length, dtype=np.uint8).tobytes()
    return png[:start] + png_chunk(b"IDAT", noise) + png[start + 12 + length :]


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def exif_many_entries(n: int = 5000) -> bytes:
    """An EXIF block whose first IFD claims `n` entries of 4-byte ASCII (bounded by the segment)."""
    entries = b"".join(struct.pack("<HHI4s", 0x010E, 2, 4, b"abc\x00") for _ in range(n))
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", min(n, 0xFFFF)) + entries + b"\x00\x00\x00\x00"
    return b"Exif\x00\x00" + tiff[: 65000]


def png_with_ztxt_bomb() -> bytes:
    """A small PNG with a zTXt chunk that inflates to 64 MiB of zeros (PIL caps text chunks at 1 MiB)."""
    compressor = zlib.compressobj(9)
    block = b"\x00" * (1 << 20)
    payload = b"".join(compressor.compress(block) for _ in range(64)) + compressor.flush()
    png = encode(photo(64, 48), "PNG")
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + png_chunk(b"zTXt", b"Comment\x00\x00" + payload) + png[iend:]


def animated(fmt: str, n_frames: int, size: tuple[int, int] = (32, 24)) -> bytes:
    frames = [Image.new("RGB", size, (i % 256, (7 * i) % 256, 90)) for i in range(n_frames)]
    frames[0] = Image.new("RGB", size, (250, 0, 0))
    save_args = {"save_all": True, "append_images": frames[1:], "duration": 20, "loop": 0}
    if fmt == "WEBP":
        save_args.update(lossless=True, method=0)
    return encode(frames[0], fmt, **save_args)


def gif_js_polyglot() -> bytes:
    """GIF89a whose logical-screen bytes read as `/*` ... so the file is also a JavaScript comment."""
    gif = encode(photo(40, 30), "GIF")
    out = bytearray(gif)
    out[6:8] = b"/*"  # screen width 0x2A2F = 10,799; the image descriptor keeps 40 x 30
    return bytes(out) + b"*/=1;alert(document.domain);//"


# --- the catalogue --------------------------------------------------------------------------


@cache
def catalogue() -> dict[str, Hostile]:
    jpeg = encode(photo(), "JPEG", quality=90)
    png = encode(photo(), "PNG")
    gif = encode(photo(64, 64), "GIF")
    webp_lossy = encode(photo(), "WEBP", quality=80)
    webp_lossless = encode(photo(), "WEBP", lossless=True)
    webp_extended = encode(photo(), "WEBP", quality=80, exif=exif_with_orientation(1))  # EXIF -> VP8X
    with_alpha = photo().convert("RGBA")
    with_alpha.putalpha(Image.linear_gradient("L").resize(with_alpha.size))
    sideways = Image.new("RGB", (240, 120), (20, 20, 220))
    sideways.paste((220, 20, 20), (0, 0, 120, 120))
    zip_payload = b"PK\x03\x04" + b"\x14\x00" * 20 + b"evil.jsp" + b"<% Runtime.exec(request.getParameter(\"c\")); %>"
    html = b"<html><script>alert(1)</script></html>"
    items = {
        # decompression bombs and headers that lie about the size: 413 before any pixel is decoded
        "png_bomb_8000x8000": Hostile(zero_png(8000, 8000), TOO_LARGE, "64 Mpx PNG of zeros, ~8 KB"),
        "png_bomb_20000x20000": Hostile(zero_png(20000, 20000), TOO_LARGE, "400 Mpx PNG, past PIL's own bomb error"),
        "png_bomb_6000x6000": Hostile(zero_png(6000, 6000), TOO_LARGE, "36 Mpx PNG in 4 KB, under the pixel limit"),
        "gif_bomb_6000x6000": Hostile(encode(Image.new("P", (6000, 6000)), "GIF"), TOO_LARGE,
                                      "36 Mpx GIF of one colour in 27 KB"),
        "webp_bomb_6000x6000": Hostile(encode(Image.new("RGB", (6000, 6000), (1, 2, 3)), "WEBP", lossless=True),
                                       TOO_LARGE, "36 Mpx lossless WebP in 1.4 KB"),
        "jpeg_declares_60000x60000": Hostile(with_jpeg_size(jpeg, 60000, 60000), TOO_LARGE, "SOF0 says 3.6 Gpx"),
        "gif_declares_65000x65000": Hostile(with_gif_size(gif, 65000, 65000), TOO_LARGE, "screen and frame 4.2 Gpx"),
        "webp_canvas_16384x16384": Hostile(with_webp_canvas(webp_extended, 16384, 16384), TOO_LARGE | CORRUPT,
                                           "VP8X canvas 268 Mpx over a 320x240 bitstream"),
        "webp_vp8l_16384x16384": Hostile(with_vp8l_size(webp_lossless, 16384, 16384), TOO_LARGE | CORRUPT,
                                         "lossless header 268 Mpx"),
        "png_ztxt_bomb": Hostile(png_with_ztxt_bomb(), SCORED | CORRUPT, "zTXt chunk inflating to 64 MiB"),
        # truncated and corrupt: 422
        "jpeg_truncated": Hostile(jpeg[: len(jpeg) // 2], CORRUPT, "half a JPEG"),
        "png_truncated": Hostile(png[: len(png) // 2], CORRUPT, "half a PNG"),
        "gif_truncated": Hostile(gif[: len(gif) // 3], CORRUPT, "a third of a GIF"),
        "webp_truncated": Hostile(webp_lossy[: len(webp_lossy) // 2], CORRUPT, "half a WebP"),
        "png_signature_then_noise": Hostile(png[:8] + bytes(range(256)) * 4, CORRUPT, "PNG magic, then junk"),
        "jpeg_soi_only": Hostile(b"\xff\xd8\xff", CORRUPT, "three bytes of JPEG"),
        "png_bad_idat": Hostile(with_idat_noise(png), CORRUPT, "IDAT of random bytes (valid CRC)"),
        # not an image we read: 415
        "html": Hostile(html, UNSUPPORTED, "an HTML page"),
        "html_then_png": Hostile(html + png, UNSUPPORTED, "HTML with a PNG appended"),
        "svg": Hostile(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", UNSUPPORTED, "SVG with script"),
        "pdf": Hostile(b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF", UNSUPPORTED, "a PDF"),
        "zip": Hostile(zip_payload, UNSUPPORTED, "a ZIP"),
        "bmp": Hostile(encode(photo(), "BMP"), UNSUPPORTED, "BMP"),
        "tiff": Hostile(encode(photo(), "TIFF"), UNSUPPORTED, "TIFF"),
        "ico": Hostile(encode(photo(64, 64), "ICO"), UNSUPPORTED, "ICO"),
        "one_byte": Hostile(b"\x00", UNSUPPORTED, "one byte"),
        # awkward but real photos: scored
        "cmyk_jpeg": Hostile(encode(Image.new("CMYK", (320, 240), (0, 255, 255, 0)), "JPEG"), SCORED, "CMYK JPEG"),
        "png_16_bit": Hostile(encode(Image.fromarray(np.tile(np.arange(0, 65536, 256, dtype=np.uint16), (120, 1))), "PNG"),
                              SCORED, "16-bit greyscale PNG"),
        "png_palette_transparent": Hostile(encode(photo().convert("P"), "PNG", transparency=0), SCORED,
                                           "palette PNG with a transparent index"),
        "png_rgba": Hostile(encode(photo().convert("RGBA"), "PNG"), SCORED, "RGBA PNG"),
        "png_la": Hostile(encode(photo().convert("LA"), "PNG"), SCORED, "grey + alpha PNG"),
        "png_1_bit": Hostile(encode(photo().convert("1"), "PNG"), SCORED, "1-bit PNG"),
        "webp_alpha": Hostile(encode(with_alpha, "WEBP", quality=80), SCORED, "WebP with alpha"),
        "jpeg_progressive": Hostile(encode(photo(), "JPEG", progressive=True), SCORED, "progressive JPEG"),
        "png_1x1": Hostile(encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), SCORED, "1x1 PNG", upright_size=(1, 1)),
        "jpeg_1x1": Hostile(encode(Image.new("RGB", (1, 1), (9, 9, 9)), "JPEG"), SCORED, "1x1 JPEG"),
        "gif_1x1": Hostile(encode(Image.new("P", (1, 1)), "GIF"), SCORED, "1x1 GIF"),
        "png_20000x10": Hostile(encode(Image.new("L", (20000, 10), 128), "PNG"), SCORED, "20000x10 PNG",
                               upright_size=(20000, 10)),
        "jpeg_10x20000": Hostile(encode(Image.new("RGB", (10, 20000), (50, 90, 130)), "JPEG"), SCORED, "10x20000 JPEG"),
        "jpeg_exif_rotated": Hostile(encode(sideways, "JPEG", quality=95, exif=exif_with_orientation(6)), SCORED,
                                     "stored sideways, EXIF orientation 6", upright_size=(120, 240)),
        "png_exif_rotated": Hostile(encode(sideways, "PNG", exif=exif_with_orientation(8)), SCORED,
                                    "PNG with an eXIf chunk, orientation 8", upright_size=(120, 240)),
        "webp_exif_rotated": Hostile(encode(sideways, "WEBP", quality=90, exif=exif_with_orientation(6)), SCORED,
                                     "WebP with EXIF orientation 6", upright_size=(120, 240)),
        "jpeg_exif_5000_entries": Hostile(with_app_segment(jpeg, 0xE1, exif_many_entries()), SCORED,
                                          "EXIF IFD claiming 5,000 entries"),
        "jpeg_exif_garbage": Hostile(with_app_segment(jpeg, 0xE1, b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"), SCORED,
                                     "EXIF pointing past its end"),
        "gif_2000_frames": Hostile(animated("GIF", 2000), SCORED, "animated GIF, 2,000 frames"),
        "webp_2000_frames": Hostile(animated("WEBP", 2000), SCORED, "animated WebP, 2,000 frames"),
        "apng_2000_frames": Hostile(animated("PNG", 2000), SCORED, "APNG, 2,000 frames"),
        # polyglots: read as the image they start with; only pixels are kept (thumbnails are re-encoded)
        "jpeg_then_zip": Hostile(jpeg + zip_payload, SCORED, "JPEG with a ZIP appended (GIFAR-style)"),
        "jpeg_with_pdf_comment": Hostile(with_app_segment(jpeg, 0xFE, b"%PDF-1.4\n" + html), SCORED,
                                         "a PDF header and HTML in a JPEG comment"),
        "png_with_script_text_and_tail": Hostile(
            png[:-12] + png_chunk(b"tEXt", b"Comment\x00" + html) + png[-12:] + b"<?php system($_GET['c']); ?>",
            SCORED, "script in a tEXt chunk, PHP after IEND"),
        "gif_js_polyglot": Hostile(gif_js_polyglot(), SCORED | TOO_LARGE | CORRUPT,
                                   "GIF89a/* ... */ also valid JavaScript"),
    }
    return items
