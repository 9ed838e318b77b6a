"""The HTTP API against the contract: shapes, ranges, order, batch independence, errors."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from quality.settings import Limits
from tests.conftest import DISMISSIVE_REPLY, NEWCOMER_QUESTION, PATIENT_REPLY, b64, encode_image, synthetic_photo

DIMENSIONS = ("clarity", "sincerity", "helpfulness", "civility", "composition", "theme_relevance")
POST_TEXT = (
    "第一次自驾长途，从成都到稻城亚丁，全程1200公里。首先说油耗：高速百公里6.8L，山路8.5L。"
    "其次是底盘和刹车，连续下坡时建议用低挡，刹车片要提前检查。总之这趟很值，照片附上。"
)


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(service.settings, service=service)) as test_client:
        yield test_client


def assert_unit(value):
    assert value is not None and 0.0 <= value <= 1.0


def assert_complete_result(result: dict, *, with_images: bool, with_text: bool = True):
    assert set(result) >= {"id", "versions", "dimensions", "audition", "civility_signal", "flags"}
    assert result["versions"]["models"] and result["versions"]["rubric"]
    dims = result["dimensions"]
    assert set(dims) == set(DIMENSIONS)
    for name in ("clarity", "sincerity", "helpfulness", "civility"):
        assert (dims[name] is not None) == with_text
        if with_text:
            assert_unit(dims[name]["score"])
            assert_unit(dims[name]["confidence"])
    assert (dims["composition"] is not None) == with_images
    if with_images:
        assert_unit(dims["composition"]["score"])
        for image in dims["composition"]["images"]:
            assert_unit(image["score"])
            x0, y0, x1, y1 = image["suggested_crop"]
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
            assert all(isinstance(issue, str) for issue in image["issues"])
    assert 0 <= result["audition"]["score"] <= 100
    assert result["audition"]["band"] in ("featured", "promising", "ordinary", "low")
    assert_unit(result["civility_signal"]["score"])
    assert result["civility_signal"]["label"] in ("constructive", "neutral", "uncivil")
    assert isinstance(result["civility_signal"]["needs_review"], bool)


def test_post_with_two_photos(client, photo_b64, other_photo_b64):
    body = {"id": "trip-1", "kind": "post", "title": "我的第一次长途旅行", "text": POST_TEXT,
            "images": [{"data": photo_b64}, {"data": other_photo_b64}], "theme": "我的第一次长途旅行"}
    response = client.post("/score", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == "trip-1"
    assert_complete_result(result, with_images=True)
    assert len(result["dimensions"]["composition"]["images"]) == 2
    assert result["dimensions"]["helpfulness"]["evidence"], "a concrete post says why it helps"


def test_reply_with_parent_is_judged_in_context(client):
    def signal(text):
        body = {"kind": "reply", "text": text, "parent": {"text": NEWCOMER_QUESTION, "author_is_newcomer": True}}
        response = client.post("/score", json=body)
        assert response.status_code == 200, response.text
        assert_complete_result(response.json(), with_images=False)
        return response.json()

    patient, dismissive = signal(PATIENT_REPLY), signal(DISMISSIVE_REPLY)
    assert "parent_relevance" in patient["dimensions"]["civility"]["context"]
    assert patient["civility_signal"]["score"] > dismissive["civility_signal"]["score"] + 0.2
    assert "dismissive_to_newcomer" in dismissive["civility_signal"]["reason_codes"]
    spans = dismissive["dimensions"]["civility"]["spans"]
    assert [DISMISSIVE_REPLY[s["start"]:s["end"]] for s in spans] == ["这都不知道", "自己去搜", "别在这问"]


def test_images_only_post(client, photo_b64):
    response = client.post("/score", json={"images": [{"data": photo_b64}]})
    assert response.status_code == 200, response.text
    assert_complete_result(response.json(), with_images=True, with_text=False)


def test_batch_keeps_order(client, photo_b64):
    items = [{"id": f"p{i}", "text": f"第{i}条：保养周期看手册，一般{5000 + i}公里一次。"} for i in range(5)]
    items.insert(2, {"id": "with-photo", "text": "夜景", "images": [{"data": photo_b64}]})
    response = client.post("/score/batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == [item["id"] for item in items]
    for result, item in zip(results, items):
        assert_complete_result(result, with_images=bool(item.get("images")))


def numbers(result: dict) -> list[float]:
    """Every number in a result, in a fixed order, for exact comparison."""
    out = []

    def walk(value):
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            out.append(float(value))
        elif isinstance(value, dict):
            for key in sorted(value):
                walk(value[key])
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(result)
    return out


def test_same_post_alone_and_in_a_batch_of_32(client, photo_b64):
    target = {"id": "target", "title": "提车一个月", "text": POST_TEXT, "images": [{"data": photo_b64}]}
    others = [{"id": f"o{i}", "text": ("随便聊聊，" * (i + 1)) + f"车子开了{i}千公里，感觉还行。"} for i in range(31)]
    alone = client.post("/score", json=target).json()
    batch = client.post("/score/batch", json={"items": others[:13] + [target] + others[13:]}).json()["results"]
    in_batch = batch[13]
    assert in_batch["id"] == "target"
    a, b = numbers(alone), numbers(in_batch)
    assert len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-6


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    return error


def png_bomb(width=30000, height=30000) -> bytes:
    """A PNG declaring 900 megapixels whose file is a few KB (only the header matters)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + width // 8) * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "body, status, code, field",
    [
        ({"text": ""}, 422, "empty_post", "text"),
        ({"text": "   ", "images": []}, 422, "empty_post", "text"),
        ({"text": "好" * 20_001}, 413, "text_too_long", "text"),
        ({"text": "hi", "kind": "story"}, 422, "invalid_input", "kind"),
        ({"text": "hi", "colour": "red"}, 422, "invalid_input", "colour"),
        ({"text": "hi", "parent": {"text": "问"}}, 422, "parent_on_post", "parent"),
        ({"text": "hi", "images": [{"data": "not base64!!"}]}, 422, "invalid_base64", "images[0].data"),
        ({"text": "hi", "images": [{"data": b64(b"%PDF-1.4 hello")}]}, 415, "unsupported_image", "images[0].data"),
        ({"text": "hi", "images": [{"data": ""}]}, 415, "unsupported_image", "images[0].data"),
        ({"text": "hi", "images": [{"data": b64(png_bomb())}]}, 413, None, "images[0].data"),
    ],
)
def test_bad_posts_get_the_contract_error(client, body, status, code, field):
    error = error_of(client.post("/score", json=body), status)
    if code:
        assert error["code"] == code
    assert error["field"] == field


def test_truncated_jpeg_is_422(client):
    data = encode_image(synthetic_photo(), quality=90)
    error = error_of(client.post("/score", json={"text": "hi", "images": [{"data": b64(data[: len(data) // 2])}]}), 422)
    assert error["code"] == "corrupt_image"


def test_too_many_images_is_413(client, photo_b64):
    error = error_of(client.post("/score", json={"text": "hi", "images": [{"data": photo_b64}] * 10}), 413)
    assert error["code"] == "too_many_images"


def test_batch_limits_and_item_fields(client):
    error = error_of(client.post("/score/batch", json={"items": [{"text": "好"}] * 257}), 413)
    assert error["code"] == "batch_too_large"
    error_of(client.post("/score/batch", json={"items": []}), 422)
    error = error_of(client.post("/score/batch", json={"items": [{"text": "好"}, {"text": ""}]}), 422)
    assert error["field"] == "items[1].text"


def test_malformed_json_and_wrong_types(client):
    response = client.post("/score", content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert error_of(response, 422)["code"] == "invalid_json"
    error_of(client.post("/score", json=["not", "an", "object"]), 422)
    error_of(client.post("/score", json={"text": 42}), 422)


def test_hostile_text_is_scored_not_crashed(client):
    for text in ("\u200b\u200b好\u200b", "\x00\x01控制字符", "😀" * 50, "\ufdfa" * 500, "a" * 20_000, "\ud800孤立代理"):
        response = client.post("/score", content=json.dumps({"text": text}),
                               headers={"content-type": "application/json"})
        assert response.status_code == 200, (text[:10], response.text)
        assert_complete_result(response.json(), with_images=False)


def test_body_over_the_limit_is_413(service):
    settings = service.settings.model_copy(update={"limits": Limits(max_body_bytes=1000)})
    with TestClient(create_app(settings, service=service)) as small:
        error = error_of(small.post("/score", json={"text": "好" * 2000}), 413)
        assert error["code"] == "too_large"


def test_service_endpoints(client, service):
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/info").json()
    names = {m["name"] for m in info["models"]}
    assert {"use-multilingual-v3", "civility-head", "jieba-dictionary"} <= names
    for model in info["models"]:
        assert model["licence"] and model["source"] and model["version"]
    assert info["rubric_version"] == service.rubric.version and len(info["rubric_sha256"]) == 64
    assert info["checksums_verified"] is True
    assert "/score/batch" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    assert "quality_requests_total" in client.get("/metrics").text
    assert error_of(client.get("/nowhere"), 404)["code"] == "not_found"


@pytest.mark.parametrize("method, path, allowed", [
    ("OPTIONS", "/contests", "GET, POST"),  # two routes share the path: both methods are named
    ("DELETE", "/contests/abc/judgements", "GET, POST"),
    ("PUT", "/score", "POST"),
    ("DELETE", "/members/m1", "GET"),
    # a route's literal path is its own: /members/{member_id} does not answer at /members/profile
    ("OPTIONS", "/members/profile", "POST"),
    ("GET", "/members/profile", "POST"),
])
def test_a_405_names_every_method_of_the_path(client, method, path, allowed):
    answer = client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allowed
    assert answer.json()["error"]["code"] == "method_not_allowed"
