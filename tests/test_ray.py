"""The scorer on Ray (ray_apps): Ray Data jobs give the local engine's results, resume
after an interruption, and Ray Serve answers /score as the local API does.

The Ray tests start one local Ray instance (2 CPUs, loopback only) and are skipped, saying why,
when the `ray` extra is not installed (pip install '.[ray]') or Ray cannot start here. The part
reading tests need no Ray.
"""

from __future__ import annotations

import json
import math
import socket
import time

import pytest

from api.cli import main, read_posts
from quality.records import score_rows
from ray_apps.parts import plan_parts, read_part
from quality.schemas import Post
from quality.settings import Settings

N_POSTS = 2000
TOLERANCE = 1e-6
# Ray Serve's own models use a pydantic 1 idiom when ray.serve is first imported.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")


# -- inputs --------------------------------------------------------------------------------
SUBJECTS = ["保养", "油耗", "轮胎", "自驾游", "充电", "座椅", "车机", "刹车", "空调", "底盘"]
OPENINGS = ["提车三个月了，说说", "请教一下", "分享一下我的", "吐槽一下", "新手问一句，"]
DETAILS = ["跑了{n}公里，机油换的是全合成，4S店收了{p}元。", "高速上百公里{k}升，市区大概{m}升。",
           "感觉还行，就是有点贵。", "这都不知道？自己去搜。", "谢谢楼主，学到了！",
           "建议按手册来，别听销售忽悠，首保{n}公里或者6个月先到为准。"]


def make_posts(n: int) -> list[dict]:
    """Short posts and replies, some with titles, all different; two rows that cannot be scored."""
    rows = []
    for i in range(n):
        text = (OPENINGS[i % 5] + SUBJECTS[i % 10] + "：" + DETAILS[i % 6].format(n=1000 + i, p=300 + i % 400,
                                                                                     k=5 + i % 4, m=7 + i % 5))
        row: dict = {"id": f"p{i}", "text": text}
        if i % 7 == 0:
            row["title"] = f"{SUBJECTS[i % 10]}经验第{i}帖"
        if i % 5 == 3:
            row.update(kind="reply", parent={"text": "刚提车，第一次保养什么时候做？", "author_is_newcomer": i % 2 == 0})
        rows.append(row)
    rows[n * 2 // 5] = {"id": "empty", "text": ""}
    rows[n * 3 // 4] = {"id": "bad-kind", "kind": "poem", "text": "床前明月光"}
    return rows


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def local_lines(service, path) -> list[str]:
    """What `quality score --engine local` writes for `path` (its read_posts, chunks of 64, score_rows)."""
    rows, lines = list(read_posts(path)), []
    for start in range(0, len(rows), 64):
        lines += [json.dumps(record, ensure_ascii=False) for record in score_rows(service, rows[start:start + 64])]
    return lines


def assert_close(a, b, path="") -> None:
    """Equal, numbers within TOLERANCE."""
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        assert type(a) is type(b) or (a is None) == (b is None), f"{path}: {a!r} != {b!r}"
        if isinstance(a, dict):
            assert a.keys() == b.keys(), f"{path}: keys {sorted(a)} != {sorted(b)}"
            for key in a:
                assert_close(a[key], b[key], f"{path}.{key}")
        elif isinstance(a, list):
            assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
            for i, (x, y) in enumerate(zip(a, b)):
                assert_close(x, y, f"{path}[{i}]")
        else:
            assert a == b, f"{path}: {a!r} != {b!r}"
    else:
        assert math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE), f"{path}: {a} != {b}"


# -- parts, without Ray --------------------------------------------------------------------
def test_parts_read_exactly_what_read_posts_reads(tmp_path):
    lines = [json.dumps({"id": str(i), "text": f"帖子{i}\u2028第二行"}, ensure_ascii=False) for i in range(300)]
    lines[10:10] = ["   ", "{not json", "\u3000", ""]
    body = "\n".join(lines[:150]) + "\r\n" + "\r\n".join(lines[150:250]) + "\r" + "\r".join(lines[250:])
    source = tmp_path / "posts.jsonl"
    source.write_bytes(body.encode("utf-8"))
    expected = [row if isinstance(row, dict) else str(row) for row in read_posts(source)]
    for part_rows in (64, 128, 4096):
        parts = plan_parts(source, part_rows)
        got = [row if isinstance(row, dict) else str(row) for part in parts for row in read_part(part)]
        assert got == expected
        assert [part.first_row for part in parts] == [sum(p.n_rows for p in parts[:i]) for i in range(len(parts))]
    assert "line 12: not JSON" in str(next(row for row in expected if isinstance(row, str)))


def test_parquet_parts_across_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(1000)], "text": [f"第{i}帖" for i in range(1000)]}),
                   source, row_group_size=300)
    expected = list(read_posts(source))
    for part_rows in (64, 256, 5000):
        assert [row for part in plan_parts(source, part_rows) for row in read_part(part)] == expected


def test_worker_writes_a_part_like_quality_score(tmp_path, service):
    """The Ray Data callable, run in-process: a Parquet part scored as the local CLI scores it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ray_apps.parts import part_file
    from ray_apps.worker import ScoreParts

    rows = make_posts(130)
    source = tmp_path / "posts.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "text": r["text"]} for r in rows]), source)
    worker = ScoreParts({}, str(tmp_path), service=service)
    parts = plan_parts(source, 64)
    out = worker(pa.table({"spec": [part.to_json() for part in parts]}))
    assert out.column("rows").to_pylist() == [64, 64, 2]
    written = [line for part in parts for line in part_file(tmp_path, part.index).read_text("utf-8").splitlines()]
    assert written == local_lines(service, source)


# -- on a local Ray instance ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_instance():
    try:
        import ray
    except ImportError as error:  # not installed, or installed but broken
        pytest.skip(f"ray cannot be imported ({error}): Ray tests skipped; pip install '.[ray]' to run them")
    from ray_apps import RayUnavailable
    from ray_apps.cluster import start_local

    if not ray.is_initialized():
        try:
            start_local(num_cpus=2)
        except RayUnavailable as error:
            pytest.skip(f"Ray cannot start here, Ray tests skipped: {error}")
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def posts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ray") / "posts.jsonl"
    write_jsonl(path, make_posts(N_POSTS))
    return path


@pytest.fixture(scope="module")
def local_results(service, posts_file):
    return local_lines(service, posts_file)


@pytest.mark.slow
def test_ray_data_job_equals_local_engine(ray_instance, service, posts_file, local_results, tmp_path_factory):
    from ray_apps.data_jobs import parts_dir_for, score_file

    output = tmp_path_factory.getbasetemp() / "ray" / "scores.jsonl"
    job = score_file(posts_file, output, settings=Settings(ray_part_rows=256), workers=2, keep_parts=True,
                     quiet=True)
    assert (job.n_parts, job.parts_scored, job.workers) == (8, 8, 2)
    assert (job.n_ok, job.n_failed) == (N_POSTS - 2, 2)
    ray_lines = output.read_text(encoding="utf-8").splitlines()
    assert len(ray_lines) == len(local_results) == N_POSTS
    for index, (got, expected) in enumerate(zip(ray_lines, local_results)):
        assert_close(json.loads(got), json.loads(expected), f"post {index}")
    exact = sum(got == expected for got, expected in zip(ray_lines, local_results))
    print(f"\n{N_POSTS} posts on 2 Ray workers in {job.seconds:.1f}s; {exact} results byte-identical to local")
    assert parts_dir_for(output).is_dir()


@pytest.mark.slow
def test_ray_job_resumes_from_its_part_files(ray_instance, posts_file, local_results, tmp_path_factory, monkeypatch,
                                             capsys):
    """An interrupted job (two part files and the output missing) run again through the CLI
    scores only the missing parts and writes the same file; Parquet output holds the same JSON."""
    from ray_apps.data_jobs import parts_dir_for
    from ray_apps.parts import part_file

    output = tmp_path_factory.getbasetemp() / "ray" / "scores.jsonl"
    parts_dir = parts_dir_for(output)
    if not (parts_dir / "job.json").is_file():
        pytest.skip("needs the parts of test_ray_data_job_equals_local_engine")
    output.unlink()
    part_file(parts_dir, 1).unlink()
    part_file(parts_dir, 6).unlink()
    monkeypatch.setenv("QUALITY_RAY_PART_ROWS", "256")
    capsys.readouterr()
    assert main(["score", str(posts_file), "-o", str(output), "--engine", "ray", "--workers", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "resuming: 6 of 8 parts already scored" in err and f"scored {N_POSTS - 2} posts, 2 failed" in err
    lines = output.read_text(encoding="utf-8").splitlines()
    for index, (got, expected) in enumerate(zip(lines, local_results)):
        assert_close(json.loads(got), json.loads(expected), f"post {index}")
    assert not parts_dir.exists()  # joined, then removed


@pytest.mark.slow
def test_eval_on_ray_equals_local(ray_instance, tmp_path, capsys):
    rows = make_posts(300)
    data = tmp_path / "civility.jsonl"
    write_jsonl(data, [{"text": r["text"] or "空", "label": int("搜" in r["text"] or "吐槽" in r["text"])} for r in rows])
    capsys.readouterr()
    assert main(["eval", "--task", "civility", "--data", str(data), "--quiet"]) == 0
    local = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["eval", "--task", "civility", "--data", str(data), "--quiet", "--engine", "ray", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    on_ray = json.loads(captured.out.strip().splitlines()[-1])
    assert "were not used" not in captured.err  # evaluate() read every row from the Ray-filled checkpoint
    assert on_ray["n"] == local["n"] > 100  # the label file's repeated texts are dropped
    assert_close(on_ray["model"], local["model"])
    assert_close(on_ray["diagnostics"], local["diagnostics"])


@pytest.mark.slow
def test_serve_app_answers_score_like_the_local_api(ray_instance, service, photo_b64):
    import httpx
    from ray import serve

    from ray_apps.serve_app import run

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    posts = [
        {"id": "a", "text": "保养周期看手册，一般首保5000公里或者6个月，先到为准。"},
        {"id": "b", "kind": "reply", "text": "这都不知道？自己去搜，别在这问",
         "parent": {"text": "新手提问：第一次保养什么时候做？", "author_is_newcomer": True}},
        {"id": "c", "title": "周末山路", "text": "夕阳下的新车，随手一拍。", "images": [{"data": photo_b64}]},
    ]
    try:
        started = time.perf_counter()
        run(Settings(ray_max_batch_size=4, ray_batch_wait_s=0.05), host="127.0.0.1", port=port, name="quality-test")
        print(f"\nServe app deployed in {time.perf_counter() - started:.1f}s")
        scorer = serve.get_deployment_handle("Scorer", app_name="quality-test")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            assert client.get("/health").json()["ready"] is True
            for post in posts:
                response = client.post("/score", json=post)
                assert response.status_code == 200, response.text
                assert_close(response.json(), service.score(Post.model_validate(post)).model_dump(mode="json"),
                             post["id"])
            # POST /score reached the Scorer replica (one here): it counted each post. An ingress
            # that scored by itself would leave it at 0 (and load every model in the ingress).
            assert scorer.stats.remote().result()["posts_scored"] == len(posts)
            batch = client.post("/score/batch", json={"items": posts[:2]})
            assert batch.status_code == 200
            assert scorer.stats.remote().result()["posts_scored"] == len(posts) + 2
            assert [r["id"] for r in batch.json()["results"]] == ["a", "b"]
            bad = client.post("/score/batch", json={"items": [posts[0], {"id": "x", "text": ""}]})
            assert bad.status_code == 422
            assert bad.json()["error"]["field"] == "items[1].text"
            assert client.get("/info").json()["models_version"] == service.models_version
            # Nothing of the instance listens beyond loopback, the replicas' gRPC servers included
            # (Ray 2.60 binds those to every interface; ray_apps/listeners.py).
            beyond = listening_beyond_loopback()
            assert beyond == [], beyond
    finally:
        serve.shutdown()


def listening_beyond_loopback() -> list[str]:
    """Listening TCP sockets of this user's Ray processes on an address other than loopback."""
    import ipaddress
    import os

    import psutil

    found = []
    for process in psutil.process_iter(["pid", "name", "cmdline", "uids"]):
        try:
            if process.info["uids"] is None or process.info["uids"].real != os.getuid():
                continue
            if "ray" not in " ".join(process.info["cmdline"] or []).lower():
                continue
            for connection in process.net_connections(kind="tcp"):
                address = ipaddress.ip_address(connection.laddr.ip.split("%")[0])
                address = getattr(address, "ipv4_mapped", None) or address  # ::ffff:127.0.0.1
                if connection.status == psutil.CONN_LISTEN and not address.is_loopback:
                    found.append(f"{process.info['name']} ({process.pid}) {connection.laddr.ip}:{connection.laddr.port}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_serve_proxys_own_errors_get_the_contract_body(ray_instance):
    """Ray's proxy answers overload itself (BackPressureError: plain-text 503); through the
    middleware `start_local` installs in it (ray_apps/proxy_errors.py) that answer is the contract's
    body with Retry-After. The messages are the ones Ray's proxy sends, made by Ray's own code."""
    import asyncio
    import os

    from ray.serve._private.http_util import (get_http_response_status, send_http_response_on_exception,
                                              validate_http_proxy_callback_return)
    from ray.serve._private.utils import call_function_from_import_path
    from ray.serve.exceptions import BackPressureError

    from ray_apps.proxy_errors import CALLBACK, ContractErrors

    assert os.environ["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"] == CALLBACK  # what the proxy reads
    [installed] = validate_http_proxy_callback_return(call_function_from_import_path(CALLBACK))
    assert installed.cls is ContractErrors

    status = get_http_response_status(BackPressureError(num_queued_requests=3, max_queued_requests=2),
                                      request_timeout_s=None, request_id="r1")
    proxy_messages = send_http_response_on_exception(status, response_started=False)

    async def proxy(scope, receive, send):
        for message in proxy_messages:
            await send(message)

    async def app_json(scope, receive, send):  # the app's own errors pass untouched
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"7")]})
        await send({"type": "http.response.body", "body": b'{"error": {"code": "timeout"}}'})

    def answer(app) -> list[dict]:
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        asyncio.run(ContractErrors(app)({"type": "http", "method": "POST", "path": "/score"}, None, send))
        return sent

    start, body = answer(proxy)
    headers = dict(start["headers"])
    assert start["status"] == 503 and headers[b"content-type"] == b"application/json"
    assert int(headers[b"retry-after"]) >= 0 and int(headers[b"content-length"]) == len(body["body"])
    error = json.loads(body["body"])["error"]
    assert error["code"] == "overloaded" and error["field"] is None and set(error) == {"code", "message", "field"}
    start, body = answer(app_json)
    assert dict(start["headers"])[b"retry-after"] == b"7" and body["body"] == b'{"error": {"code": "timeout"}}'
