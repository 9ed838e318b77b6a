"""The store of photos seen before: near-duplicate search, persistence, concurrency, the
`duplicate_image` flag it adds when scoring, and `quality photos import`. Photos made here."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from api.cli import main
from quality.errors import InvalidInput
from quality.image import decode_image
from quality.image.duplicates import NEAR_DUPLICATE_BITS, hamming, photo_phash
from quality.image.photo_store import PhotoHashStore, hashes_within
from quality.schemas import Post
from quality.service import QualityService
from quality.settings import Settings
from tests.conftest import b64, encode_image, synthetic_photo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def scene(seed: int, width: int = 640, height: int = 480) -> Image.Image:
    """Smooth random colour blobs: a photo whose pHash is far (>= 12 bits) from every other
    seed's and from `synthetic_photo` (whose seeds differ only in texture: ~4 bits apart)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (4, 5, 3)).astype(np.float32)
    pixels = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    pixels += rng.normal(0, 4, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def phash_of(image: Image.Image, fmt: str = "JPEG", **save_args) -> str:
    data = encode_image(image, fmt, **save_args)
    return photo_phash(decode_image(data, max_bytes=len(data), max_pixels=image.width * image.height))


def random_hashes(n: int, seed: int) -> list[str]:
    values = np.random.default_rng(seed).integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    return [f"{value:016x}" for value in values.tolist()]


@pytest.fixture
def store(tmp_path):
    with PhotoHashStore(tmp_path / "photos.sqlite") as opened:
        yield opened


# --- the pHash -------------------------------------------------------------------------------


def test_photo_phash_is_the_phash_the_scorer_reports(store_service, monkeypatch):
    """`quality photos import` must hash exactly as scoring does, or imports never match."""
    monkeypatch.setattr(store_service, "settings", store_service.settings.model_copy(update={"photo_store": None}))
    photos = [
        encode_image(synthetic_photo(seed=1), quality=90),  # 640 px: shrunk to the 512 px working copy
        encode_image(scene(1, 2000, 1500), "PNG"),  # decoded at 768 px, then 512
        encode_image(scene(2, 300, 200), "PNG"),  # under every size limit: no resize at all
        encode_image(scene(3, 480, 900).convert("P"), "GIF"),  # palette, portrait
    ]
    result = store_service.score(Post(text="随手拍", images=[{"data": b64(data)} for data in photos]))
    limits = store_service.settings.limits
    expected = [photo_phash(decode_image(data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels))
                for data in photos]
    assert [image.phash for image in result.dimensions.composition.images] == expected


# --- search ----------------------------------------------------------------------------------


def test_finds_the_same_photo_re_encoded_cropped_or_brightened_but_not_another(store):
    original = synthetic_photo(seed=1)
    store.add([phash_of(original, quality=90)], post_id="a")
    width, height = original.size
    variants = {
        "smaller, recompressed": phash_of(original.resize((400, 300)), quality=60),
        "bigger PNG": phash_of(original.resize((1280, 960)), "PNG"),
        "cropped 3% a side, brighter": phash_of(
            ImageEnhance.Brightness(original.crop((int(width * .03), int(height * .03),
                                                   int(width * .97), int(height * .97)))).enhance(1.15),
            quality=80),
    }
    for name, phash in variants.items():
        matches = store.find(phash)
        assert [m.post_id for m in matches] == ["a"], name
        assert matches[0].distance <= NEAR_DUPLICATE_BITS and matches[0].source == "scored", name
    assert store.find(phash_of(scene(1))) == []
    assert store.find(phash_of(original.transpose(Image.Transpose.FLIP_TOP_BOTTOM))) == []


def test_nearest_first_within_max_bits(store):
    base = 0x92926D6D92F66D12
    flips = {"d5": 0b11111, "d0": 0, "d3": 0b111 << 60, "d7": 0b1111111 << 20}
    for post_id, mask in flips.items():
        store.add([f"{base ^ mask:016x}"], post_id=post_id)
    matches = store.find(f"{base:016X}")  # upper case is the same hash
    assert [(m.post_id, m.distance) for m in matches] == [("d0", 0), ("d3", 3), ("d5", 5)]
    assert [m.post_id for m in store.find(f"{base:016x}", max_bits=7)][-1] == "d7"
    assert [m.post_id for m in store.find(f"{base:016x}", max_bits=0)] == ["d0"]


def test_exclude_post_id_leaves_out_only_that_post(store):
    phash = "92926d6d92f66d12"
    store.add([phash], post_id="a")
    assert store.find(phash, exclude_post_id="a") == []
    assert [m.post_id for m in store.find(phash, exclude_post_id="b")] == ["a"]
    store.add([phash], post_id=None, source="imported:/photos/x.jpg")
    store.add([phash], post_id="b")
    found = store.find(phash, exclude_post_id="a")
    assert [(m.post_id, m.source) for m in found] == [(None, "imported:/photos/x.jpg"), ("b", "scored")]


def test_the_same_phash_and_post_are_stored_once(store, tmp_path):
    assert store.add(["92926d6d92f66d12", "92926D6D92F66D12"], post_id="a") == 1
    assert store.add(["92926d6d92f66d12"], post_id="a") == 0
    assert store.add(["92926d6d92f66d12"], post_id="b") == 1
    assert store.add(["92926d6d92f66d12"], source="imported:1.jpg") == 1
    assert store.add(["92926d6d92f66d12"], source="imported:2.jpg") == 0  # no post: one row per photo
    assert len(store) == 3
    assert len(store.find("92926d6d92f66d12")) == 3
    rows = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    assert rows == 3


def test_rows_survive_reopening(tmp_path):
    path = tmp_path / "nested" / "photos.sqlite"
    hashes = ["ffffffffffffffff", "8000000000000001", "0000000000000000", "92926d6d92f66d12"]
    with PhotoHashStore(path) as store:
        store.add(hashes[:2], post_id="a")
        store.add(hashes[2:], post_id=None, source="imported:/x")
    with PhotoHashStore(path) as reopened:
        assert len(reopened) == 4
        for phash in hashes:
            assert [m.phash for m in reopened.find(phash, max_bits=0)] == [phash]
        assert reopened.find("ffffffffffffffff", max_bits=0)[0].post_id == "a"
        assert reopened.add(hashes[:2], post_id="a") == 0


def test_wal_journal(store):
    assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("bad", ["xyz", "92926d6d92f66d1", "92926d6d92f66d123", "0x926d6d92f66d12",
                                 "9292_d6d92f66d12", " 92926d6d92f66d1", "９２９２６ｄ６ｄ９２ｆ６６ｄ１２", None])
def test_bad_hex_is_invalid_input(store, bad):
    with pytest.raises(InvalidInput) as raised:
        store.find(bad)
    assert raised.value.code == "invalid_phash"
    with pytest.raises(InvalidInput):
        store.add(["92926d6d92f66d12", bad], post_id="a")
    assert len(store) == 0  # checked before anything is written


def test_a_million_hashes_are_searched_correctly():
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**64, 1_000_000, dtype=np.uint64, endpoint=False)
    query = int(hashes[123_456])
    planted = {10: 0b1, 500_000: 0b111 << 61, 999_999: 0b111111 << 29, 42: 0b1111111}  # 1, 3, 6, 7 bits
    for position, mask in planted.items():
        hashes[position] = query ^ mask
    positions, distances = hashes_within(hashes, query, NEAR_DUPLICATE_BITS)
    assert positions.tolist() == [123_456, 10, 500_000, 999_999]
    assert distances.tolist() == [0, 1, 3, 6]
    # Against an independent popcount over every hash (unpacked bits), not just the planted ones.
    reference = np.unpackbits((hashes ^ np.uint64(query)).view(np.uint8)).reshape(-1, 64).sum(axis=1)
    _, all_distances = hashes_within(hashes, query, 64)
    assert np.array_equal(np.sort(reference), all_distances)
    assert hamming(f"{query:016x}", f"{int(hashes[42]):016x}") == 7


# --- concurrency -----------------------------------------------------------------------------


def test_concurrent_adds_from_threads_and_a_second_connection_lose_nothing(tmp_path):
    path = tmp_path / "photos.sqlite"
    first, second = PhotoHashStore(path), PhotoHashStore(path)
    batches = [random_hashes(150, seed) for seed in range(8)]

    def add(store: PhotoHashStore, seed: int) -> None:
        for i in range(0, 150, 10):  # many small commits, interleaved with the other threads
            store.add(batches[seed][i:i + 10], post_id=f"post-{seed}")

    threads = [threading.Thread(target=add, args=(first if seed % 2 else second, seed)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(first) == len(second) == 600
    first.close()
    second.close()
    with PhotoHashStore(path) as reopened:
        assert len(reopened) == 1200
        for seed, batch in enumerate(batches):
            assert all(m.post_id == f"post-{seed}" for h in batch[::15] for m in reopened.find(h, max_bits=0))


def test_two_processes_writing_the_same_file_lose_nothing(tmp_path):
    path = tmp_path / "photos.sqlite"
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from quality.image.photo_store import PhotoHashStore
        seed = int(sys.argv[2])
        values = np.random.default_rng(seed).integers(0, 2**64, 200, dtype=np.uint64, endpoint=False)
        with PhotoHashStore(sys.argv[1]) as store:
            for value in values.tolist():
                store.add([f"{value:016x}"], post_id=f"process-{seed}")  # one commit each
    """)
    workers = [subprocess.Popen([sys.executable, "-c", code, str(path), str(seed)], cwd=PROJECT_ROOT)
               for seed in (101, 102)]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    with PhotoHashStore(path) as store:
        assert len(store) == 400
        assert store.find(random_hashes(200, 102)[-1], max_bits=0)[0].post_id == "process-102"
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- scoring with a store --------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_service(tmp_path_factory) -> QualityService:
    """The one service of this module: a photo store that records what it scores."""
    path = tmp_path_factory.mktemp("photo-store") / "photos.sqlite"
    return QualityService(Settings(photo_store=path, photo_store_record=True))


def photo_post(post_id: str | None, image: Image.Image, **save_args) -> Post:
    return Post(id=post_id, text="提车一周，随手拍几张", images=[{"data": b64(encode_image(image, **save_args))}])


def test_a_repost_by_another_post_is_flagged_and_the_original_is_not(store_service):
    original = synthetic_photo(seed=1)
    first = store_service.score(photo_post("A", original, quality=90))
    assert "duplicate_image" not in first.flags
    repost = store_service.score(photo_post("B", original.resize((400, 300)), quality=60))
    assert repost.flags.count("duplicate_image") == 1
    assert any(line.startswith("图1 / photo 1: 与已有照片重复 (post A, ") for line in repost.dimensions.composition.evidence)
    again = store_service.score(photo_post("A", original, quality=90))
    assert "duplicate_image" not in again.flags  # B's copy was not recorded: A stays the owner
    anonymous = store_service.score(photo_post(None, original, quality=75))
    assert "duplicate_image" in anonymous.flags


def test_in_one_batch_the_later_post_with_the_same_photo_is_flagged(store_service):
    photo = scene(3)
    results = store_service.score_batch([photo_post("C", photo, quality=90), photo_post("D", photo, quality=70)])
    assert ["duplicate_image" in r.flags for r in results] == [False, True]
    assert "(post C, " in results[1].dimensions.composition.evidence[-1]


def test_without_recording_a_post_scores_the_same_alone_or_in_any_batch(store_service, monkeypatch):
    monkeypatch.setattr(store_service, "settings",
                        store_service.settings.model_copy(update={"photo_store_record": False}))
    known, fresh = scene(5), scene(7)
    store_service.photo_store.add([phash_of(known, quality=90)], post_id="E")
    size = len(store_service.photo_store)
    posts = [photo_post("P", known, quality=80), photo_post("Q", fresh, quality=80), photo_post("R", fresh, quality=70)]
    alone = [store_service.score(post) for post in posts]
    batched = store_service.score_batch(posts[::-1])[::-1]
    assert [r.flags for r in alone] == [r.flags for r in batched]
    assert [r.dimensions.composition.evidence for r in alone] == [r.dimensions.composition.evidence for r in batched]
    assert ["duplicate_image" in r.flags for r in alone] == [True, False, False]
    assert len(store_service.photo_store) == size


# --- command line ----------------------------------------------------------------------------


def test_cli_imports_photos_and_skips_bad_files(tmp_path, capsys):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    synthetic_photo(seed=1).save(photos / "one.jpg", quality=90)
    scene(1).save(photos / "sub" / "two.PNG")
    scene(2).save(photos / "sub" / "three.webp")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (photos / "notes.txt").write_text("not a photo")
    db = tmp_path / "store.sqlite"

    assert main(["photos", "import", str(photos), "--store", str(db), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "imported 3 photos (0 already stored), 1 skipped" in err
    assert f"skipped {photos / 'broken.jpg'}: " in err and "notes.txt" not in err
    assert main(["photos", "stats", "--store", str(db)]) == 0
    assert capsys.readouterr().out.strip() == f"3 photos in {db}"
    assert main(["photos", "import", str(photos / "one.jpg"), "--store", str(db), "--quiet"]) == 0
    assert "imported 0 photos (1 already stored), 0 skipped" in capsys.readouterr().err

    with PhotoHashStore(db) as store:
        match = store.find(phash_of(scene(1), "PNG"), max_bits=0)
        assert match[0].post_id is None and match[0].source == f"imported:{(photos / 'sub' / 'two.PNG').resolve()}"


def test_cli_needs_a_store_and_existing_paths(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QUALITY_PHOTO_STORE", raising=False)
    assert main(["photos", "stats"]) == 2
    assert "QUALITY_PHOTO_STORE" in capsys.readouterr().err
    assert main(["photos", "import", str(tmp_path / "nope"), "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err
