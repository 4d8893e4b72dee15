"""The page in a real headless browser (Debian's chromium, driven by Playwright) against the real API.

Load the page, run a query, see its first rows, its count and a download
link whose TSV is the whole answer; see every shard's status; see an error
shown as the API words it. The page must need nothing from the internet.
"""

from __future__ import annotations

import re
import shutil
import urllib.request
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, expected_tsv, typed  # noqa: E402 (registered first)

pytest_plugins = ["tests.api_fixtures"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_ROWS = 100

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="no chromium binary: install it with `apt-get install -y chromium`")


@pytest.fixture
def page(api_environment):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            browser_page = browser.new_page()
            outside = []
            browser_page.on("request", lambda request: outside.append(request.url)
                            if not request.url.startswith(api_environment.api_url) else None)
            browser_page.goto(api_environment.api_url + "/")
            yield browser_page
            assert not outside, f"the page reached outside the API: {outside}"
        finally:
            browser.close()


def test_a_query_on_the_page_shows_rows_the_count_and_the_full_download(page, api_environment, api_dataset):
    page.fill("#regions", "chr1:1000000-1300000")
    page.fill("#filters", "samples_count>:2")
    page.click("#run")
    page.wait_for_selector("#download")
    expected = expected_tsv(api_dataset.reference, "regions=chr1:1000000-1300000&rfilter=samples_count>:2")
    expected_rows = expected.splitlines()[1:]
    assert len(expected_rows) > PAGE_ROWS
    assert page.locator("#rows tbody tr").count() == PAGE_ROWS
    assert page.locator("#rows thead th").first.text_content() == "DataSource:Type"
    names = expected.splitlines()[0].split("\t")
    first_cells = [cell.text_content() for cell in page.locator("#rows tbody tr").first.locator("td").all()]
    assert [typed(name, text) for name, text in zip(names, first_cells)] == [
        typed(name, text) for name, text in zip(names, expected_rows[0].split("\t"))]
    summary = page.text_content("#summary")
    assert f"{len(expected_rows):,} junctions" in summary and f"first {PAGE_ROWS}" in summary
    link = page.get_attribute("#download", "href")
    with urllib.request.urlopen(api_environment.api_url + link) as response:
        assert response.read().decode() == expected
    assert re.search(r"\?regions=chr1%3A1000000-1300000&rfilter=samples_count%3E%3A2$", page.url)


def test_the_page_shows_every_shards_status(page, api_environment):
    page.wait_for_selector("#shards tbody tr")
    rows = page.locator("#shards tbody tr")
    assert rows.count() == len(api_environment.shards)
    assert all(rows.nth(index).locator("td.up").count() == 1 for index in range(rows.count()))
    assert page.text_content("#shards").count("shard-") == len(api_environment.shards)


def test_a_bad_query_shows_the_apis_message(page):
    page.fill("#regions", "chr1:500-100")
    page.click("#run")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert page.text_content("#error") == "regions: 'chr1:500-100': start is after end"
    assert page.locator("#rows tr").count() == 0


def test_the_page_has_no_outside_scripts_styles_or_fonts(api_environment):
    with urllib.request.urlopen(api_environment.api_url + "/") as response:
        html = response.read().decode()
    assert COMPILATION in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "<link" not in html
