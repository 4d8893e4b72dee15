"""The page in a real headless browser (Debian's chromium, driven by Playwright) against the real API.

Load the page, run a query: its junctions drawn as arcs (one per row of the
answer, on the side of their strand, coloured by annotation, taller for more
samples), the hover text, zoom and pan, a click showing that junction's
samples grouped by tissue, the table (key statistics first, sortable), the
count and a download link whose TSV is the whole answer; a shared link that
restores every field; empty answers explained; every shard's status; an
error shown as the API words it. The page must need nothing from the
internet. A screenshot of the picture is saved in build/test-artifacts/.
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
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
PAGE_ROWS = 1000
REGION = "chr1:1000000-1030000"          # ~100 junctions at the test scale: all drawn
WIDE_REGION = "chr1:1000000-1300000"     # more than PAGE_ROWS

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="no chromium binary: install it with `apt-get install -y chromium`")


@pytest.fixture
def browser(api_environment):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        outside: list[str] = []
        try:
            def new_page(path: str = "/"):
                opened = launched.new_page(viewport={"width": 1400, "height": 1000})
                opened.on("request", lambda request: outside.append(request.url)
                          if not request.url.startswith(api_environment.api_url) else None)
                opened.goto(api_environment.api_url + path)
                return opened
            yield new_page
            assert not outside, f"the page reached outside the API: {outside}"
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    return browser()


def rows_of(reference, text: str) -> list[dict[str, str]]:
    """The reference's answer to `text` as one dict per row."""
    header, *lines = expected_tsv(reference, text).splitlines()
    names = header.split("\t")
    return [dict(zip(names, line.split("\t"))) for line in lines]


def click_arc(page, snaptron_id: str) -> None:
    """A real mouse click on the arc's apex (its box's centre is usually off the curve)."""
    x, y = page.eval_on_selector(f'#sashimi path.arc[data-id="{snaptron_id}"]', """arc => {
        const point = arc.getPointAtLength(arc.getTotalLength() / 2).matrixTransform(arc.getScreenCTM());
        return [point.x, point.y];
    }""")
    page.mouse.click(x, y)


def best_inside(reference, region: str) -> dict[str, str]:
    """The junction inside `region` (so its whole arc is in view) that most samples have."""
    return max(rows_of(reference, f"regions={region}&contains=1"), key=lambda row: int(row["samples_count"]))


def run(page, regions: str, filters: str = "", mode: str = "") -> None:
    page.fill("#regions", regions)
    page.fill("#filters", filters)
    page.select_option("#mode", mode)
    page.click("#run")
    page.wait_for_function("document.getElementById('summary').textContent.includes('junctions')"
                           " || document.getElementById('error').textContent.length > 0")


def test_the_arcs_are_the_answers_rows_by_strand_annotation_and_height(page, api_dataset):
    run(page, REGION)
    expected = rows_of(api_dataset.reference, f"regions={REGION}")
    assert 20 < len(expected) < PAGE_ROWS
    arcs = page.eval_on_selector_all("#sashimi path.arc", """arcs => arcs.map(arc => {
        const box = arc.getBBox();
        return {id: arc.dataset.id, classes: arc.getAttribute('class'), top: box.y, bottom: box.y + box.height,
                height: +arc.dataset.height};
    })""")
    axis = page.eval_on_selector("#sashimi .axis line", "line => +line.getAttribute('y1')")
    by_id = {arc["id"]: arc for arc in arcs}
    assert sorted(by_id) == sorted(row["snaptron_id"] for row in expected) and len(arcs) == len(expected)
    for row in expected:
        arc = by_id[row["snaptron_id"]]
        assert ("annotated" if row["annotated"] != "0" else "novel") in arc["classes"]
        assert {"+": "plus", "-": "minus", "?": "unknown"}[row["strand"]] in arc["classes"]
        if row["strand"] == "-":
            assert arc["top"] >= axis - 1, "− strand arcs hang below the axis"
        else:
            assert arc["bottom"] <= axis + 1, "+ and ? strand arcs rise above it"
    counts = {row["snaptron_id"]: int(row["samples_count"]) for row in expected}
    ranked = sorted(counts, key=counts.get)
    assert by_id[ranked[-1]]["height"] > by_id[ranked[0]]["height"]
    assert all(by_id[a]["height"] <= by_id[b]["height"] for a, b in zip(ranked, ranked[1:]))
    page.select_option("#arc", "coverage_sum")
    coverage = {row["snaptron_id"]: int(row["coverage_sum"]) for row in expected}
    heights = dict(page.eval_on_selector_all("#sashimi path.arc", "arcs => arcs.map(a => [a.dataset.id, +a.dataset.height])"))
    by_coverage = sorted(coverage, key=coverage.get)
    assert all(heights[a] <= heights[b] for a, b in zip(by_coverage, by_coverage[1:]))
    assert "arc=coverage_sum" in page.url


def test_hover_shows_the_numbers_and_zoom_and_pan_move_the_view(page, api_dataset):
    run(page, REGION)
    row = best_inside(api_dataset.reference, REGION)
    page.dispatch_event(f'#sashimi path.arc[data-id="{row["snaptron_id"]}"]', "mouseenter")
    hover = page.text_content("#hover")
    assert f"samples_count {int(row['samples_count']):,}" in hover
    assert f"coverage_sum {int(row['coverage_sum']):,}" in hover and f"snaptron_id {row['snaptron_id']}" in hover
    assert page.text_content("#view") == "chr1:1,000,000-1,030,000 (30,000 bp)"
    page.click("#zoom-in")
    assert page.text_content("#view") == "chr1:1,005,000-1,025,000 (20,000 bp)"
    box = page.locator("#sashimi").bounding_box()
    page.mouse.move(box["x"] + 400, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 600, box["y"] + 20, steps=5)
    page.mouse.up()
    start = int(re.match(r"chr1:([\d,]+)-", page.text_content("#view")).group(1).replace(",", ""))
    assert start < 1_005_000, "dragging right shows what lies to the left"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 100)
    page.mouse.wheel(0, 300)
    assert int(page.text_content("#view").split("(")[1].split()[0].replace(",", "")) > 20_000, "the wheel zooms out"
    page.click("#zoom-reset")
    assert page.text_content("#view") == "chr1:1,000,000-1,030,000 (30,000 bp)"


def test_clicking_an_arc_shows_its_samples_grouped_by_tissue(page, api_dataset):
    run(page, REGION)
    row = best_inside(api_dataset.reference, REGION)
    click_arc(page, row["snaptron_id"])
    page.wait_for_selector("#samples-plot circle.sample-point")
    samples = dict(tuple(map(int, item.split(":"))) for item in row["samples"][1:].split(","))
    points = page.eval_on_selector_all("circle.sample-point", "dots => dots.map(d => [+d.dataset.sample, +d.dataset.count])")
    assert dict(points) == samples and len(points) == len(samples)
    assert page.input_value("#group-by") == "smts"
    tissues: dict[str, int] = {}
    for sample in samples:
        tissue = api_dataset.sample_lines[sample].split("\t")[2]
        tissues[tissue] = tissues.get(tissue, 0) + 1
    groups = page.eval_on_selector_all("#samples-plot g.group", "groups => groups.map(g => [g.dataset.group, +g.dataset.samples])")
    assert dict(groups) == tissues
    assert page.locator(f'#rows tbody tr.selected[data-id="{row["snaptron_id"]}"]').count() == 1
    assert f"junction={row['snaptron_id']}" in page.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)


def test_the_table_puts_the_key_statistics_first_and_sorts(page, api_dataset):
    run(page, REGION)
    names = page.eval_on_selector_all("#rows thead th", "cells => cells.map(c => c.dataset.field)")
    assert names[:4] == ["samples_count", "coverage_sum", "coverage_avg", "coverage_median"]
    assert "samples" not in names
    expected = rows_of(api_dataset.reference, f"regions={REGION}")
    column = lambda name: [cell.text_content() for cell in
                           page.locator(f"#rows tbody tr td:nth-child({names.index(name) + 1})").all()]
    assert column("snaptron_id") == [row["snaptron_id"] for row in expected], "the answer's order at first"
    page.click('#rows th[data-field="samples_count"]')
    assert [int(text) for text in column("samples_count")] == sorted((int(r["samples_count"]) for r in expected), reverse=True)
    page.click('#rows th[data-field="samples_count"]')
    assert [int(text) for text in column("samples_count")] == sorted(int(r["samples_count"]) for r in expected)
    assert "sort=samples_count" in page.url
    first = page.locator("#rows tbody tr").first.locator("td").all()
    row = next(r for r in expected if r["snaptron_id"] == first[names.index("snaptron_id")].text_content())
    assert [typed(name, cell.text_content()) for name, cell in zip(names, first)] == [typed(n, row[n]) for n in names]


def test_a_wide_query_shows_the_first_rows_the_count_and_the_full_download(page, api_environment, api_dataset):
    run(page, WIDE_REGION, "samples_count>:2")
    text = f"regions={WIDE_REGION}&rfilter=samples_count>:2"
    expected = expected_tsv(api_dataset.reference, text)
    assert len(expected.splitlines()) - 1 > PAGE_ROWS
    assert page.locator("#rows tbody tr").count() == PAGE_ROWS
    assert page.locator("#sashimi path.arc").count() == PAGE_ROWS
    summary = page.text_content("#summary")
    assert f"{len(expected.splitlines()) - 1:,} junctions" in summary and f"first {PAGE_ROWS:,}" in summary
    with urllib.request.urlopen(api_environment.api_url + page.get_attribute("#download", "href")) as response:
        assert response.read().decode() == expected


def test_a_shared_link_restores_every_field(page, browser):
    run(page, "chr1:1000000-1100000", "samples_count>:2, strand:+", "contains=1")
    page.select_option("#arc", "coverage_sum")
    page.click('#rows th[data-field="coverage_sum"]')
    shared = page.url
    assert "contains=1" in shared and "rfilter=strand%3A%2B" in shared
    again = browser(shared.split(page.url.split("/?")[0], 1)[1])
    again.wait_for_selector("#rows tbody tr")
    assert again.input_value("#regions") == "chr1:1000000-1100000"
    assert again.input_value("#mode") == "contains=1"
    assert again.input_value("#filters") == "samples_count>:2, strand:+"
    assert again.input_value("#arc") == "coverage_sum"
    assert again.get_attribute('#rows th[data-field="coverage_sum"]', "class") == "sorted-down"
    assert again.locator("#rows tbody tr").count() == page.locator("#rows tbody tr").count()


def test_an_unknown_chromosome_is_explained_with_the_ones_the_compilation_has(page):
    run(page, "chr99:1-100")
    page.wait_for_selector("#explain p")
    explanation = page.text_content("#explain")
    assert "chr99 is not a sequence of this compilation" in explanation
    assert all(name in explanation for name in ("chr1,", "chrX", "chrEBV"))
    run(page, "1:14000-20000")
    page.wait_for_selector("#explain a.suggestion")
    assert page.text_content("#explain a.suggestion") == "chr1:14000-20000"
    page.click("#explain a.suggestion")
    page.wait_for_selector("#sashimi path.arc")
    assert page.input_value("#regions") == "chr1:14000-20000"


def test_an_empty_window_and_commas_in_numbers_are_explained(page):
    run(page, "chr1:14000-14001", mode="exact=1")
    page.wait_for_selector("#explain p")
    assert "No junction passes the mode (exact=1) here" in page.text_content("#explain")
    run(page, "chr1:1,000,000-1,100,000")
    assert "commas separate regions" in page.text_content("#error")
    assert "Write a region as chr1:1000000-1100000" in page.text_content("#explain")


def test_the_page_shows_every_shards_status(page, api_environment):
    page.wait_for_selector("#shards tbody tr")
    rows = page.locator("#shards tbody tr")
    assert rows.count() == len(api_environment.shards)
    assert all(rows.nth(index).locator("td.up").count() == 1 for index in range(rows.count()))
    assert page.text_content("#shards").count("shard-") == len(api_environment.shards)


def test_a_bad_query_shows_the_apis_message(page):
    run(page, "chr1:500-100")
    assert page.text_content("#error") == "regions: 'chr1:500-100': start is after end"
    assert page.locator("#rows tr").count() == 0 and page.is_hidden("#picture")


def test_the_page_links_the_api_reference_it_serves(page, api_environment):
    page.click("#api-docs")
    assert page.url == api_environment.api_url + "/docs/API.md"
    assert page.text_content("body").startswith("# The snapthunder query API")


def test_the_page_has_no_outside_scripts_styles_or_fonts(api_environment):
    with urllib.request.urlopen(api_environment.api_url + "/") as response:
        html = response.read().decode()
    assert COMPILATION in html
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert references and all(reference.startswith("/") and not reference.startswith("//") for reference in references)
    for reference in (reference for reference in references if reference.endswith((".js", ".css"))):
        with urllib.request.urlopen(api_environment.api_url + reference) as response:
            body = response.read().decode()
        assert "@import" not in body and not re.search(r"https?://(?!www\.w3\.org/2000/svg)", body), reference
