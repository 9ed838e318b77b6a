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
