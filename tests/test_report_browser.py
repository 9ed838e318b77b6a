"""The HTML evaluation report opened in headless Chromium (Debian's `chromium`, driven by the
`playwright` package; never a browser download): every plot is an image that really renders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_eval import eval_with_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PLOTS = ("roc", "pr", "reliability", "confusion", "histograms", "groups")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no system Chromium (Debian package `chromium`; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


def test_report_plots_render_as_images_in_chromium(tmp_path, capsys, browser):
    _, out = eval_with_report(tmp_path, capsys)
    page = browser.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((out / "index.html").as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    for plot in PLOTS:
        size = page.evaluate(f"""() => {{
            const img = document.querySelector('figure#{plot} img');
            return img && img.complete ? [img.naturalWidth, img.naturalHeight] : null; }}""")
        assert size and size[0] > 100 and size[1] > 100, (plot, size)
    assert page.locator("table#errors tr").count() > 1 or "errors" not in page.content()
    assert all(url.startswith(("file:", "data:")) for url in requests), requests  # opens offline
    page.screenshot(path=str(out / "report.png"), full_page=True)
    shutil.copy(out / "report.png", ARTIFACTS / "report.png")  # kept as a test artifact
    assert (out / "report.png").stat().st_size > 10_000
    page.close()
