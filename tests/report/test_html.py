"""The HTML page: self-contained, every run text escaped; in headless Chromium it renders, filters,
sorts, and opens a failure's details."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qconform.cli import main
from tests.report.browser import Browser, chromium_path
from tests.report.conftest import ATTR_PAYLOAD, H100, PAYLOAD, malicious_doc, record, run_doc, write

CHROMIUM = chromium_path()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install -y chromium)"
)


def _report(tmp_path: Path, *docs_or_paths) -> Path:
    paths = []
    for i, item in enumerate(docs_or_paths):
        paths.append(str(item if isinstance(item, Path) else write(tmp_path / f"run{i}.json", item)))
    out = tmp_path / "out"
    assert main(["report", *paths, "--out", str(out)]) == 0
    return out / "report.html"


def test_every_text_from_a_run_is_escaped(tmp_path):
    page = _report(tmp_path, malicious_doc()).read_text()
    assert PAYLOAD not in page and ATTR_PAYLOAD not in page
    assert page.count("<script") == 1  # the page's own
    assert "<iframe" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    tags, attributes = _structure(page)
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert attributes <= ALLOWED_ATTRIBUTES, attributes - ALLOWED_ATTRIBUTES


ALLOWED_TAGS = set(
    [
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "header",
        "h1",
        "h2",
        "h3",
        "h4",
        "p",
        "nav",
        "a",
        "span",
        "label",
        "input",
        "select",
        "option",
        "section",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "details",
        "summary",
        "pre",
        "figure",
        "img",
        "figcaption",
        "div",
        "script",
        "br",
        "code",
        "dl",
        "dt",
        "dd",
    ]
)
ALLOWED_ATTRIBUTES = set(
    [
        "lang",
        "charset",
        "http-equiv",
        "content",
        "name",
        "href",
        "class",
        "id",
        "type",
        "placeholder",
        "value",
        "src",
        "alt",
        "scope",
        "title",
        "aria-live",
        "data-sort",
        "data-target",
        "data-column",
        "data-family",
        "data-method",
        "data-outcome",
        "data-text",
        "tabindex",
    ]
)


def _structure(page: str) -> tuple[set[str], set[str]]:
    """The tags and attribute names a browser's parser sees: injected markup would add to them."""
    tags, attributes = set(), set()

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.add(tag)
            attributes.update(name for name, _ in attrs)

    Parser().feed(page)
    return tags, attributes


def test_page_is_self_contained_and_its_script_is_the_only_one_allowed(tmp_path):
    docs = [run_doc([record(measured={"rel_error": 0.1})]), run_doc([record(measured={"rel_error": 0.2})], H100)]
    page = _report(tmp_path, *docs).read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from a network
    assert 'src="data:image/png;base64,' in page
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1))
    assert policy.startswith("default-src 'none';") and f"script-src 'sha256-{digest}'" in policy


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium)")
    with Browser(CHROMIUM, width=1280, height=900) as b:
        yield b


def _count(browser) -> str:
    return browser.evaluate("document.getElementById('filter-count').textContent")


def _visible_rows(browser) -> list[dict]:
    return browser.evaluate(
        "Array.from(document.querySelectorAll('#records-table tbody tr')).filter(r => !r.hidden)"
        ".map(r => Object.assign({}, r.dataset))"
    )


@needs_chromium
def test_real_run_renders_filters_and_opens_a_failure_in_chromium(browser, real_run, tmp_path):
    extra = run_doc(
        [record("eetq", "test_error", family="numerics", measured={"rel_error": v}) for v in (0.01, 0.03)], H100
    )
    page = _report(tmp_path, real_run, extra)
    browser.open(page)
    # renders, and the script ran under the page's Content-Security-Policy
    assert browser.evaluate("document.title") == "qconform compatibility report"
    total = browser.evaluate("document.querySelectorAll('#records-table tbody tr').length")
    assert total > 10
    assert re.fullmatch(rf"\d+ of {total} records shown", _count(browser))
    methods = browser.evaluate("Array.from(document.querySelectorAll('#hardware tbody th')).map(t => t.textContent)")
    assert {"eetq", "report-missing-backend", "planted-config-from-dict-drops-field"} <= set(methods)
    assert browser.evaluate("document.querySelector('#figures img').naturalWidth") > 300  # the plot decoded

    # default filter: all but passed; typing narrows it to matching records
    assert {r["outcome"] for r in _visible_rows(browser)} >= {"failed", "skipped"}
    assert "passed" not in {r["outcome"] for r in _visible_rows(browser)}
    browser.type("#filter-text", "report-missing")
    rows = _visible_rows(browser)
    assert rows and {r["target"] for r in rows} == {"report-missing-backend"}
    assert _count(browser) == f"{len(rows)} of {total} records shown"

    # a matrix cell filters the records to its method and environment, every outcome
    browser.click('#hardware td.cell[data-target="eetq"]')
    rows = _visible_rows(browser)
    assert {r["target"] for r in rows} == {"eetq"} and len({r["column"] for r in rows}) == 1
    assert "passed" in {r["outcome"] for r in rows}

    # and so does Enter on a focused cell, for keyboard users
    browser.press_enter('#hardware td.cell[data-target="report-missing-backend"]')
    assert {r["target"] for r in _visible_rows(browser)} == {"report-missing-backend"}

    # the method filter hides matrix rows
    browser.type("#filter-methods", "planted")
    shown = browser.evaluate(
        "Array.from(document.querySelectorAll('#hardware tbody tr')).filter(r => !r.hidden).length"
    )
    assert shown == 1

    # a failure's details open with its counterexample, reproduce command and environment
    browser.click('#hardware td.cell[data-target="planted-config-from-dict-drops-field"]')
    selector = "#records-table tr.outcome-failed:not([hidden]) details.failure"
    assert browser.evaluate(f"document.querySelector('{selector}').open") is False
    assert browser.evaluate(f"document.querySelector('{selector} pre.counterexample').checkVisibility()") is False
    browser.click(f"{selector} summary")
    assert browser.evaluate(f"document.querySelector('{selector}').open") is True
    assert browser.evaluate(f"document.querySelector('{selector} pre.counterexample').checkVisibility()") is True
    reproduce = browser.evaluate(f"document.querySelector('{selector} pre.reproduce').textContent")
    assert reproduce.startswith("pytest --quantizer=planted-config-from-dict-drops-field -k ")
    environment = browser.evaluate(f"document.querySelector('{selector} p.environment').textContent")
    assert environment.startswith("cpu ") and "transformers " in environment
    shot = browser.screenshot(tmp_path / "report.png", full_page=False)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@needs_chromium
def test_sorting_by_a_header_click(browser, tmp_path):
    records = [record(t, outcome=o) for t, o in (("b", "passed"), ("a", "failed"), ("c", "skipped"))]
    browser.open(_report(tmp_path, run_doc(records)))
    order = "Array.from(document.querySelectorAll('#hardware tbody th')).map(t => t.textContent)"
    assert browser.evaluate(order) == ["a", "b", "c"]
    browser.click("#hardware thead th:nth-child(3)")  # the environment column: by share passed
    assert browser.evaluate(order) == ["c", "a", "b"]  # not supported, 0/1, 1/1
    browser.click("#hardware thead th:nth-child(3)")
    assert browser.evaluate(order) == ["b", "a", "c"]
    browser.click("#hardware thead th:nth-child(1)")
    assert browser.evaluate(order) == ["a", "b", "c"]


@needs_chromium
def test_malicious_run_runs_nothing_in_chromium(browser, tmp_path):
    browser.open(_report(tmp_path, malicious_doc()))
    browser.click("#records-table details.failure summary")
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('img[src=x], iframe, #records-table script').length") == 0
    texts = browser.evaluate("document.querySelector('#records-table').textContent")
    assert PAYLOAD in texts  # shown as text
    assert browser.evaluate("document.querySelectorAll('script').length") == 1
