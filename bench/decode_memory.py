"""Peak memory and time of decoding large photos, each in a fresh process (Linux), and how many
pixels per byte real photos carry (`../shared/data/photos`).

    .venv/bin/python bench/decode_memory.py

For 36-megapixel photos that compress to almost nothing (the decompression bombs the service
refuses) and a few that carry their bytes, it reports what `quality.image.decode.decode_image`
costs as shipped, with the bomb check off (what those files would cost if decoded), and with
the bomb check off and no strip conversion (the decoder before strips). The peak is VmHWM over
VmRSS just before the decode, after /proc/self/clear_refs reset it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_images import encode, zero_png  # noqa: E402

SIDE = 6000  # 36 Mpx, under the 40 Mpx pixel limit

_ONE = r"""
import json, re, sys, time
import quality.image.decode as d
from quality.errors import QualityError
mode = sys.argv[2]
if mode != "shipped":
    d.MAX_PIXELS_PER_BYTE = 10**12  # bomb check off
if mode == "whole":
    d.STRIP_MIN_PIXELS = 10**12     # no strips
def status(key):
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024
data = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")
before, start = status("VmRSS"), time.perf_counter()
try:
    d.decode_image(data, max_bytes=10 << 20, max_pixels=40_000_000)
    outcome = "decoded"
except QualityError as error:
    outcome = f"{error.status_code} {error.code}"
print(json.dumps({"ms": 1000 * (time.perf_counter() - start), "peak_mb": status("VmHWM") - before,
                  "outcome": outcome}))
"""


def cases() -> dict[str, bytes]:
    rgba = Image.new("RGBA", (SIDE, SIDE), (10, 20, 30, 128))
    rgba.putalpha(Image.linear_gradient("L").resize((SIDE, SIDE)))
    return {
        "1-bit PNG, one colour": zero_png(SIDE, SIDE),
        "palette GIF, one colour": encode(Image.new("P", (SIDE, SIDE)), "GIF"),
        "lossless WebP, one colour": encode(Image.new("RGB", (SIDE, SIDE), (1, 2, 3)), "WEBP", lossless=True),
        "RGBA PNG, alpha gradient": encode(rgba, "PNG"),
        "16-bit PNG, flat": encode(Image.fromarray(np.full((SIDE, SIDE), 30000, np.uint16)), "PNG"),
        "JPEG, one colour": encode(Image.new("RGB", (SIDE, SIDE), (1, 2, 3)), "JPEG"),
    }


def photo_density(folder: Path) -> str:
    """Pixels per byte over the real photos in `folder` (what the bomb check's threshold is set against)."""
    ratios = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
            with Image.open(path) as image:
                ratios.append(image.width * image.height / path.stat().st_size)
    if not ratios:
        return f"no photos under {folder}"
    return (f"{len(ratios)} photos under {folder}: {min(ratios):.1f}-{max(ratios):.1f} pixels per byte "
            f"(median {float(np.median(ratios)):.1f}); the bomb check refuses > 500 over 4 Mpx")


def main() -> int:
    print(photo_density(ROOT.parent / "shared" / "data" / "photos"))
    print(f"{SIDE}x{SIDE} photos; each cell: peak MB over the process before the decode, ms, outcome")
    print(f"{'photo':28s} {'bytes':>8s}  {'shipped':>26s}  {'no bomb check':>26s}  {'no bomb check, no strips':>26s}")
    with tempfile.TemporaryDirectory() as folder:
        for name, data in cases().items():
            path = Path(folder) / "photo"
            path.write_bytes(data)
            cells = []
            for mode in ("shipped", "no-check", "whole"):
                run = subprocess.run([sys.executable, "-c", _ONE, str(path), mode], cwd=ROOT, capture_output=True,
                                     text=True, check=True)
                r = json.loads(run.stdout.strip().splitlines()[-1])
                cells.append(f"{r['peak_mb']:6.0f} MB {r['ms']:6.0f} ms {r['outcome'][:10]:>10s}")
            print(f"{name:28s} {len(data):>8d}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
