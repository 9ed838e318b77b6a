"""Shared fixtures: one service per test session (models load once), and inputs the tests make."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from quality.service import QualityService
from quality.settings import Settings


def synthetic_photo(width: int = 640, height: int = 480, seed: int = 0, tilt_degrees: float = 0.0) -> Image.Image:
    """A sky-over-ground scene with a textured subject on a thirds point."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = np.array([120, 170, 230]) * (1 - 0.3 * y)
    ground = np.array([70, 110, 60]) * (0.8 + 0.2 * y)
    pixels = np.where(y < 0.55, sky, ground) * np.ones((1, width, 1))
    x0, y0 = int(width * 0.58), int(height * 0.35)
    w, h = int(width * 0.18), int(height * 0.25)
    pixels[y0:y0 + h, x0:x0 + w] = rng.integers(150, 255, size=(h, w, 3))
    pixels += rng.normal(0, 3, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if tilt_degrees:
        image = image.rotate(tilt_degrees, resample=Image.BICUBIC, expand=False, fillcolor=(120, 170, 230))
    return image


def encode_image(image: Image.Image, fmt: str = "JPEG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="session")
def service() -> QualityService:
    return QualityService(Settings())


@pytest.fixture(scope="session")
def photo_b64() -> str:
    return b64(encode_image(synthetic_photo(seed=1), quality=90))


@pytest.fixture(scope="session")
def other_photo_b64() -> str:
    return b64(encode_image(synthetic_photo(seed=2, tilt_degrees=6), quality=90))


NEWCOMER_QUESTION = "新手提问：刚提车，第一次保养应该什么时候做？要去4S店吗？"
PATIENT_REPLY = "新手问题也别嫌烦，我来说下：保养周期看手册，一般首保是5000公里或者6个月，先到为准，去4S店做首保比较稳妥。"
DISMISSIVE_REPLY = "这都不知道？自己去搜，别在这问"


# --- PostgreSQL (tests/postgres.py): a given server or a throwaway cluster for the session ------


@pytest.fixture(scope="session")
def postgres_server_url():
    """A PostgreSQL URL for the session (`QUALITY_TEST_POSTGRES_URL`, else a throwaway cluster,
    fsync off), or a skip that says why there is none."""
    import os

    from tests.postgres import POSTGRES_URL_ENV, PostgresUnavailable, ThrowawayCluster

    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        yield given
        return
    try:
        cluster = ThrowawayCluster()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL: {error}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server_url):
    """The session's server with a fresh schema first on the search path (dropped after)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from quality.contests.tables import new_id

    schema = f"t_{new_id()[:16]}"
    admin = create_engine(postgres_server_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(postgres_server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def durable_postgres():
    """A throwaway cluster of its own with fsync, synchronous_commit and full-page writes on,
    for the crash tests (they may SIGKILL its postmaster and start it again); a skip when the
    PostgreSQL binaries (or psycopg) are missing. A given `QUALITY_TEST_POSTGRES_URL` is not
    used: these tests must own the server."""
    from tests.postgres import PostgresUnavailable, ThrowawayCluster

    try:
        cluster = ThrowawayCluster(durable=True)
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()
