"""The monotonicity check's photos and their degraded copies, and blind sheets to judge the copies.

`tests/test_photo_monotone.py` asserts that a worse copy never scores above its photo. Its copies
come from `quality.image.degrade`: each family is *meant* to make a photo worse, but a crop of a
photo that is itself badly framed can be the better photo (a crop that drops a half-cut armchair
from a room's foreground). Whether a copy is worse is a person's judgement, so the team judged
every copy the test makes, blind: this module renders each (photo, copy) pair with the two sides
in an order fixed by a hash and unlabelled, and the judge's verdicts are
`data/photos/worse_copies.csv` (how they were made: data/photos/README.md).

    python -m train.worse_copies sheets --out /tmp/worse_copies   # sheets/*.png + key.csv beside them
    python -m train.worse_copies merge --key /tmp/worse_copies/key.csv --judge ONE.csv --judge TWO.csv
    python -m train.worse_copies scores     # every pair's photo score and parts, smallest margin first

Two judges; a pair's verdict is theirs where they agree and `no_clear_difference` where they do not
(a copy two careful judges do not both find worse is not clearly worse).

The photos, the copies and their order are fixed (hashes of the names, the degrade generator's
seeds), so the sheets are the same on every machine with the shared photos.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from quality.image.degrade import FAMILIES, degrade
from train.composition import (CONTENT_CLASSES, CONTENT_LABELS, content_class, list_photos, load_photo, photo_path,
                               photo_rng, photo_split, read_content_labels, resized)

PER_CLASS = 2
SIZES = (320, 640)  # long side; a photo smaller than a size is kept as it is (never enlarged)
VERDICTS = ("copy_worse", "no_clear_difference", "copy_better")
JUDGED = Path(__file__).resolve().parents[1] / "data" / "photos" / "worse_copies.csv"


def monotone_photos(data_dir: Path) -> list[tuple[str, str]]:
    """PER_CLASS held-out photos of each content class, chosen by a hash of the name (not picked for
    passing); drawings the labels mark `synthetic` are not photos and are left out."""
    labels = read_content_labels()
    with open(CONTENT_LABELS, encoding="utf-8") as handle:
        drawings = {row["photo"] for row in csv.DictReader(handle) if row["note"] == "synthetic"}
    names = sorted((n for n in list_photos(data_dir / "photos", data_dir / "photos_mos" / "clive_mos.csv")
                    if photo_split(n) == "held_out" and n not in drawings),
                   key=lambda n: hashlib.sha256(f"monotone:{n}".encode()).hexdigest())
    chosen = []
    for cls in CONTENT_CLASSES:
        chosen += [(n, cls) for n in names if content_class(n, labels) == cls][:PER_CLASS]
    return chosen


def sized_photo(data_dir: Path, name: str, size: int) -> Image.Image:
    return resized(load_photo(photo_path(name, data_dir / "photos", data_dir / "photos_mos" / "clive_mos.csv")), size)


def copies(image: Image.Image, name: str, subject_box) -> list[tuple[str, Image.Image]]:
    """One degraded copy of `image` per family, with the generator's fixed seeds."""
    return [(family, degrade(image, family, subject_box, photo_rng(name, family, 0))[0]) for family in FAMILIES]


@dataclass(frozen=True)
class Pair:
    size: int
    photo: str
    family: str

    @property
    def key(self) -> str:
        return f"{self.size}|{self.photo}|{self.family}"

    @property
    def copy_on_left(self) -> bool:  # the side each is shown on, fixed by a hash: the judge cannot tell
        return int(hashlib.sha256(f"worse-copies:{self.key}".encode()).hexdigest(), 16) % 2 == 0


def read_judged(path: Path = JUDGED) -> dict[str, str]:
    """{Pair.key: verdict} from the team's judgements."""
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"{path}: verdict {row['verdict']!r} is not one of {VERDICTS}")
    return {Pair(int(row["size"]), row["photo"], row["family"]).key: row["verdict"] for row in rows}


DISPLAY = 360  # both sides of a pair are shown at this long side: the judge compares them as a screen would


def _shown(image: Image.Image) -> Image.Image:
    scale = DISPLAY / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def _sheet(rows: list[tuple[int, Image.Image, Image.Image]]) -> Image.Image:
    """Pairs one under another, each as `<number> A | B`, both sides at the same display size."""
    gap, label = 24, 26
    heights = [max(_shown(left).height, _shown(right).height) + label for _, left, right in rows]
    sheet = Image.new("RGB", (2 * DISPLAY + gap, sum(heights) + gap * (len(rows) - 1)), "white")
    draw, y = ImageDraw.Draw(sheet), 0
    for (number, left, right), height in zip(rows, heights):
        draw.text((4, y + 6), f"pair {number:03d}   A", fill="black")
        draw.text((DISPLAY + gap + 4, y + 6), "B", fill="black")
        sheet.paste(_shown(left), (0, y + label))
        sheet.paste(_shown(right), (DISPLAY + gap, y + label))
        y += height + gap
    return sheet


def jpeg_b64(image: Image.Image) -> str:
    """The photo as the test and the sheets send it: JPEG quality 92, base64."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Scored:
    photo: float
    copy: float
    why: str  # the pair, both scores and their parts, for a failure message or a report


def score_copies(service, data_dir: Path) -> dict[Pair, Scored]:
    """The photo score (`composition.images[i].score`) of every photo the test uses and of its copies,
    at every size, through `service` (a `quality.service.QualityService`)."""
    from quality.schemas import ImageInput, Post

    def scored(images: list[Image.Image]):
        post = Post(images=[ImageInput(data=jpeg_b64(image)) for image in images])
        return service.score(post).dimensions.composition.images

    found = {}
    for size in SIZES:
        for name, cls in monotone_photos(data_dir):
            image = sized_photo(data_dir, name, size)
            original = scored([image])[0]
            made = copies(image, name, original.subject_box)
            for (family, _), copy in zip(made, scored([copy for _, copy in made])):
                found[Pair(size, name, family)] = Scored(
                    original.score, copy.score,
                    f"{name} ({cls}, {size} px) {family}: {copy.score:.4f} vs {original.score:.4f} "
                    f"(quality {copy.perceived_quality} vs {original.perceived_quality}, "
                    f"composition {copy.learned_score} vs {original.learned_score})")
    return found


def print_scores(data_dir: Path) -> None:
    """Every pair, the smallest margin (photo score minus copy score) first, with the judges' verdict."""
    from quality.service import QualityService
    from quality.settings import Settings

    judged = read_judged()
    found = sorted(score_copies(QualityService(Settings()), data_dir).items(),
                   key=lambda item: item[1].photo - item[1].copy)
    for pair, result in found:
        print(f"{result.photo - result.copy:+.4f}  {judged.get(pair.key, 'not judged'):20s}  {result.why}")
    higher = sum(result.copy > result.photo for _, result in found)
    print(f"{higher} of {len(found)} copies score above their photo")


def write_sheets(out: Path, data_dir: Path, per_sheet: int = 2) -> None:
    """The pairs, numbered in a hashed order, `per_sheet` to a PNG, sides unlabelled; key.csv says which
    side is the copy (kept beside the sheets, not in them: the judge reads only sheets/)."""
    from quality.schemas import ImageInput, Post
    from quality.service import QualityService
    from quality.settings import Settings

    service = QualityService(Settings())
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    pairs = []
    for size in SIZES:
        for name, _ in monotone_photos(data_dir):
            image = sized_photo(data_dir, name, size)
            # The subject box the test uses: the service's, read off the JPEG it scores.
            subject = service.score(Post(images=[ImageInput(data=jpeg_b64(image))])).dimensions.composition.images[0].subject_box
            for family, copy in copies(image, name, subject):
                pair = Pair(size, name, family)
                left, right = (copy, image) if pair.copy_on_left else (image, copy)
                pairs.append((hashlib.sha256(f"sheet:{pair.key}".encode()).hexdigest(), pair, left, right))
    pairs.sort(key=lambda item: item[0])
    with open(out / "key.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pair", "size", "photo", "family", "copy_side"])
        for number, (_, pair, _, _) in enumerate(pairs, start=1):
            writer.writerow([f"{number:03d}", pair.size, pair.photo, pair.family, "A" if pair.copy_on_left else "B"])
    for start in range(0, len(pairs), per_sheet):
        rows = [(start + i + 1, left, right) for i, (_, _, left, right) in enumerate(pairs[start:start + per_sheet])]
        _sheet(rows).save(out / "sheets" / f"{start // per_sheet + 1:03d}.png")
    print(f"wrote {len(pairs)} pairs on {-(-len(pairs) // per_sheet)} sheets to {out / 'sheets'}, "
          f"the key to {out / 'key.csv'}")


def _copy_relative(side_verdict: str, copy_side: str) -> str:
    """A judge's `A_better` / `B_better` / `no_clear_difference` as a verdict on the copy."""
    if side_verdict == "no_clear_difference":
        return side_verdict
    if side_verdict not in ("A_better", "B_better"):
        raise ValueError(f"verdict {side_verdict!r} is not A_better, B_better or no_clear_difference")
    return "copy_better" if side_verdict[0] == copy_side else "copy_worse"


def merge(key: Path, judges: list[Path], out: Path = JUDGED) -> None:
    """The judges' verdicts on each pair, unblinded with the key, and the pair's verdict (module doc);
    `copy_side` says which side (A, B) the judges saw the copy on, for reading their reasons."""
    with open(key, encoding="utf-8") as handle:
        pairs = {row["pair"]: row for row in csv.DictReader(handle)}
    votes: list[dict[str, tuple[str, str]]] = []
    for path in judges:
        with open(path, encoding="utf-8") as handle:
            rows = {row["pair"].zfill(3): row for row in csv.DictReader(handle)}
        if sorted(rows) != sorted(pairs):
            raise ValueError(f"{path} judges {len(rows)} pairs; the key has {len(pairs)}")
        votes.append({number: (_copy_relative(row["verdict"].strip(), pairs[number]["copy_side"]),
                               row["reason"].strip()) for number, row in rows.items()})
    ordered = sorted(pairs.values(), key=lambda r: (int(r["size"]), r["photo"], FAMILIES.index(r["family"])))
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["size", "photo", "family", "verdict", "copy_side"]
                        + [f"{what}_{i}" for i in range(1, len(judges) + 1) for what in ("judge", "reason")])
        for row in ordered:
            said = [vote[row["pair"]] for vote in votes]
            verdicts = {verdict for verdict, _ in said}
            verdict = verdicts.pop() if len(verdicts) == 1 else "no_clear_difference"
            writer.writerow([row["size"], row["photo"], row["family"], verdict, row["copy_side"]]
                            + [part for pair in said for part in pair])
    print(f"wrote {len(ordered)} verdicts to {out}")


def main(argv: list[str] | None = None) -> None:
    from quality.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sheets = commands.add_parser("sheets", help="render the blind (photo, copy) sheets and their key")
    sheets.add_argument("--out", type=Path, required=True)
    sheets.add_argument("--data", type=Path, default=get_settings().data_dir)
    merged = commands.add_parser("merge", help="unblind the judges' verdicts and write data/photos/worse_copies.csv")
    merged.add_argument("--key", type=Path, required=True)
    merged.add_argument("--judge", type=Path, action="append", required=True, help="a judge's verdicts.csv")
    merged.add_argument("--out", type=Path, default=JUDGED)
    scores = commands.add_parser("scores", help="every pair's photo score and parts through the service, smallest "
                                                "margin first (what tests/test_photo_monotone.py asserts)")
    scores.add_argument("--data", type=Path, default=get_settings().data_dir)
    args = parser.parse_args(argv)
    if args.command == "sheets":
        write_sheets(args.out, args.data)
    elif args.command == "scores":
        print_scores(args.data)
    else:
        merge(args.key, args.judge, args.out)


if __name__ == "__main__":
    main()
