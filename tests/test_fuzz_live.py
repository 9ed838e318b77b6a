"""Schemathesis' own command line (`st run`) against a live server, every check on (issue 21).

The app is served by a real uvicorn on a free port of 127.0.0.1 (tests/browser.py `served`), once
as configured without keys and once with QUALITY_API_KEYS set (`st` sending an admin key), and
`st run --checks all` runs every phase against its `/openapi.json`, with the repository's
`schemathesis.toml` (what the document cannot say: 413 past a limit, photo bytes, state). The
test passes only when `st` reports no failure.

Every run keeps a few examples per operation with a fixed seed; the long run (`-m fuzz`) makes
`QUALITY_FUZZ_LIVE_EXAMPLES` (default 600) per operation and phase with a fresh seed, over 10,000
cases per configuration:

    .venv/bin/python -m pytest -m fuzz tests/test_fuzz_live.py -q -s
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.app import create_app
from api.auth import new_key
from tests.browser import served

ROOT = Path(__file__).resolve().parents[1]
ST = Path(sys.executable).with_name("st")
DEFAULT_EXAMPLES, DEFAULT_SEED = 4, 20261206
LONG_EXAMPLES = int(os.environ.get("QUALITY_FUZZ_LIVE_EXAMPLES", "600"))

pytestmark = pytest.mark.skipif(not ST.exists(), reason="schemathesis' `st` is not installed")


@pytest.fixture(params=["no-keys", "keys"])
def live(service, tmp_path, request):
    """(base URL, headers for `st`) of a live server, without keys or with an admin key."""
    key, entry = new_key("admin", "st") if request.param == "keys" else (None, None)
    settings = service.settings.model_copy(update={"state_dir": tmp_path / "state", "api_keys": entry})
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    yield from ((str(client.base_url), headers) for client in served(create_app(settings, service=service),
                                                                      request.param, headers))


def run_st(base: str, headers: dict, examples: int, seed: int | None, scratch: Path) -> tuple[int, str]:
    command = [str(ST), "--config-file", str(ROOT / "schemathesis.toml"), "run", f"{base}/openapi.json",
               "--checks", "all", "--max-examples", str(examples), "--workers", "1", "--no-color",
               "--request-timeout", "120"]
    if seed is not None:
        command += ["--seed", str(seed)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    # Run from a scratch folder: `st` keeps a `.schemathesis/` cache where it runs.
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=scratch,
                          env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    return done.returncode, done.stdout + done.stderr


def summary(output: str) -> str:
    tail = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-3000:]
    return tail.strip()


def cases(output: str) -> int:
    found = re.search(r"(\d+) generated", output)
    return int(found.group(1)) if found else 0


def test_st_run_with_every_check_finds_nothing(live, tmp_path):
    base, headers = live
    code, output = run_st(base, headers, DEFAULT_EXAMPLES, DEFAULT_SEED, tmp_path)
    assert code == 0, output[-12000:]
    assert cases(output) > 300, summary(output)  # every operation was reached, in every phase
    assert "Bearer" not in output or "[Filtered]" in output  # the key is never printed


@pytest.mark.fuzz
def test_st_run_long(live, request, tmp_path):
    # Marked, and skipped unless the marker is asked for, so `make test` leaves it out.
    if "fuzz" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the long `st run`: select it with `-m fuzz`")
    base, headers = live
    code, output = run_st(base, headers, LONG_EXAMPLES, None, tmp_path)
    print(f"\n{summary(output)}")
    assert code == 0, output[-12000:]
    assert cases(output) >= 10_000, summary(output)
