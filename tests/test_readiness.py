"""wait_for as a selector, a list, a JS predicate or a callable; the HTML is taken the moment it holds,
never at the load event; the page-load and wait timeouts hold, even against a server that never answers."""

from __future__ import annotations

import pytest

from page_lab import run_lab as run
from scrapeline.settings import Settings
from scrapers import js
from scrapers.readiness import readiness

# Items appear one by one, 150 ms apart, after the page has loaded; window.done marks the last.
LATE_ITEMS = """<html><body><div id="list"></div><script>
let shown = 0;
const timer = setInterval(() => {
  const item = document.createElement('div'); item.className = 'item'; item.textContent = 'item ' + (++shown);
  document.getElementById('list').appendChild(item);
  if (shown === 3) { clearInterval(timer); window.done = true; }
}, 150);
</script></body></html>"""


@pytest.fixture
def settings(chromium, tmp_path) -> Settings:
    return Settings().replace("pool", retries=0, data_dir=str(tmp_path / "data")).replace("browser", page_load_timeout=3.0)


def texts(result) -> list[str]:
    return sorted(r.record["text"] for r in result.records)


def at_least_three_items(tab) -> bool:
    return tab.count(".item") >= 3


@pytest.mark.parametrize(
    "wait_for, least",
    [
        (".item", 1),  # a selector: ready at the first item
        (["#never-there", "#list .item:nth-child(2)"], 2),  # a list: any one suffices
        (js("window.done === true"), 3),  # a JavaScript predicate
        ([at_least_three_items], 3),  # a Python callable on the Tab
        (lambda self, tab: tab.count(".item") >= 3, 3),  # ... or the plugin's own method
    ],
    ids=["selector", "list", "js", "callable", "method"],
)
def test_each_form_of_wait_for_takes_the_html_once_it_holds(settings, site, wait_for, least):
    (result,) = run(settings, site.page("/late", LATE_ITEMS), wait_for=wait_for)
    assert result.error is None
    assert least <= len(result.records) <= 3
    assert texts(result)[:least] == [f"item {n}" for n in range(1, least + 1)]


def test_the_html_is_taken_before_the_load_event(settings, site):
    site.held = {"/slow.png"}
    url = site.page("/product", '<html><body><div class="item">here</div><img src="/slow.png"></body></html>')
    # The image never arrives while the test runs, so the load event never fires; the page is read anyway.
    (result,) = run(settings, url, wait_for=".item")
    assert result.error is None and texts(result) == ["here"]
    assert "/slow.png" in site.requests


def test_not_ready_in_time_is_an_error_naming_what_was_awaited(settings, site):
    (result,) = run(settings.with_plugin_values("lab", wait_timeout="1"), site.page("/late", LATE_ITEMS), wait_for="#never-there")
    assert result.records == []
    assert result.error.endswith('not ready within 1 s: waited for document.querySelector("#never-there") !== null')


def test_a_server_that_never_answers_fails_at_the_page_load_timeout_and_the_browser_goes_on(settings, site):
    site.held = {"/hang"}
    hang, fine = site.url + "/hang", site.page("/fine", '<div class="item">fine</div>')
    hung, after = run(settings, hang, fine, wait_for=".item")
    assert hung.error == f"{hang}: no response within the page-load timeout (3 s)"
    assert after.error is None and texts(after) == ["fine"]


def test_an_error_status_fails_at_once_not_at_the_wait_timeout(settings, site):
    (result,) = run(settings.with_plugin_values("lab", wait_timeout="60"), site.url + "/missing", wait_for=".item")
    assert result.error == f"{site.url}/missing: HTTP 404"


def test_a_malformed_wait_for_is_refused_when_the_plugin_loads():
    with pytest.raises(TypeError, match="expected a CSS selector, js"):
        readiness([".item", 42])
    with pytest.raises(ValueError):
        js("   ")
