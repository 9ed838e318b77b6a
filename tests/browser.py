"""Headless Chromium for the page tests (tests/test_judges_page.py, tests/test_member_page.py):
Debian's `chromium` driven by Playwright, and a page that records what it did."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def launched_chromium(page_name: str) -> Iterator:
    """A launched browser for a module-scoped fixture; the test is skipped, saying why, without one."""
    if CHROMIUM is None:
        pytest.skip(f"no system Chromium (Debian package `chromium`): {page_name} is not opened in a browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"the `playwright` package is not installed: {page_name} is not opened in a browser")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


class WatchedPage:
    """A page with every request (and POST), dialog, console error and page error it caused."""

    def __init__(self, browser, base: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.base = base
        self.requests: list[str] = []
        self.posts: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)

    def _request(self, request) -> None:
        self.requests.append(request.url)
        if request.method == "POST":
            self.posts.append(request.url)

    def close(self) -> None:
        self.context.close()


def served(app, name: str, headers: dict | None = None) -> Iterator:
    """`app` on a real uvicorn server on a free port of 127.0.0.1, in a thread; yields an httpx
    client on it (sending `headers`) once /health answers, and stops the server after."""
    import threading
    import time

    import httpx
    import uvicorn

    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=instance.run, name=f"uvicorn-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not instance.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = instance.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers=headers or {}) as client:
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "no answer from /health"
            time.sleep(0.05)
        yield client
    instance.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "uvicorn did not stop"
