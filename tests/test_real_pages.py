"""Both built-in plugins on the saved real pages, served on loopback with every other host hanging.

The pages are the ones in ../shared/fixtures/real (never committed; SOURCES.md says where each
comes from). They load in real Chromium through the worker that `plugins check` and the pool use,
with the plugins' default blocking: every item must come out, and no request may reach a
third-party host. Without the pages the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest

from scrapeline.mirror import MirrorServer
from scrapeline.settings import Settings
from scrapers.jobs import Job
from scrapers.plugin import Request
from scrapers.worker import PageWorker

# page -> (plugin, records, links to follow)
BROWSER_PAGES = {
    "coinmarketcap/currency-bitcoin-2026-07-13.html": ("coinmarketcap", 1, 0),
    "coinmarketcap/listing-all-views-2023-09-27.html": ("coinmarketcap", 200, 0),
    "coinmarketcap/listing-home-2025-06-24.html": ("coinmarketcap", 100, 0),
    "coinmarketcap/listing-home-2026-07-12.html": ("coinmarketcap", 101, 0),
    "openfoodfacts/listing-facet-brand-bel-2025-06-15.html": ("openfoodfacts", 0, 50),
    "openfoodfacts/listing-facet-nutrition-grade-c-2025-06-15.html": ("openfoodfacts", 0, 50),
    "openfoodfacts/listing-state-photos-uploaded-2015-05-23.html": ("openfoodfacts", 0, 20),
}
API_PAGES = {
    "openfoodfacts/api-v2-product-3029330003533-2025-06-15.json": 1,
    "openfoodfacts/api-v0-product-3029330003533-2015-05-23.json": 1,
    "openfoodfacts/search-json-coca-page1-2025-06-15.json": 20,
}


@pytest.fixture(scope="module")
def real_site(real_pages):
    with MirrorServer(real_pages) as server:
        yield server


def offline_settings(offline, tmp_path, **browser) -> Settings:
    settings = Settings().replace("browser", extra_args=offline.args, **browser)
    return settings.replace("pool", retries=0, data_dir=str(tmp_path / "data"))


def browser_processes() -> list[int]:
    return [p.pid for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]


@pytest.fixture(scope="module")
def worker(chromium, offline, tmp_path_factory):
    page_worker = PageWorker(offline_settings(offline, tmp_path_factory.mktemp("real")))
    yield page_worker
    page_worker.close()


@pytest.mark.parametrize("page", list(BROWSER_PAGES))
def test_every_item_of_a_real_page_with_no_third_party_request(worker, real_site, offline, page):
    plugin, records, links = BROWSER_PAGES[page]
    before = offline.connections
    result = worker.run(Job(plugin, Request(f"{real_site.url}/{page}")))
    assert result.error is None and result.invalid == []
    assert len(result.records) == len({r.id for r in result.records}) == records
    assert len(result.follow) == len({r.url for r in result.follow}) == links
    assert all("/product/" in r.url and r.label == "product" for r in result.follow)
    assert offline.connections == before, "a third-party host was contacted despite the blocking"
    assert set(result.timings) == {"navigate", "wait", "html", "parse"}


def test_the_coin_page_gives_its_coin_with_exact_figures(worker, real_site):
    result = worker.run(Job("coinmarketcap", Request(f"{real_site.url}/coinmarketcap/currency-bitcoin-2026-07-13.html")))
    (coin,) = result.records
    assert coin.record["slug"] == "bitcoin" and coin.record["rank"] == 1 and coin.record["symbol"] == "BTC"
    assert coin.record["price_usd"] == pytest.approx(63024.52, abs=0.01)
    assert coin.record["circulating_supply"] == 20055712


def test_openfoodfacts_api_source_reads_every_product_over_http_without_a_browser(real_site, offline, tmp_path, real_pages):
    settings = offline_settings(offline, tmp_path).with_plugin_values("openfoodfacts", source="api")
    api_worker = PageWorker(settings)
    browsers_before = set(browser_processes())
    try:
        for page, count in API_PAGES.items():
            result = api_worker.run(Job("openfoodfacts", Request(f"{real_site.url}/{page}")))
            assert result.error is None and result.invalid == [], page
            assert len(result.records) == count, page
            assert set(result.timings) == {"navigate", "parse"}
        assert set(browser_processes()) == browsers_before, "an HTTP-only plugin started a browser"
    finally:
        api_worker.close()
    product = json.loads((real_pages / "openfoodfacts/api-v2-product-3029330003533-2025-06-15.json").read_text())["product"]
    assert result.records[0].record["code"] != product["code"]  # the search page's first product, not the sample
    assert all(r.record["code"] for r in result.records)


def test_plugins_check_on_a_real_page_prints_every_record_and_the_phases(chromium, real_site, offline):
    environ = {**os.environ, "SCRAPELINE_BROWSER__EXTRA_ARGS": offline.args[0]}
    url = f"{real_site.url}/coinmarketcap/listing-home-2026-07-12.html"
    done = subprocess.run(
        [sys.executable, "-m", "scrapeline.cli", "plugins", "check", "coinmarketcap", "--url", url],
        capture_output=True, text=True, env=environ, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 101
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("101 records, 0 links to follow, 0 invalid")
    for phase in ("navigate", "wait", "html", "parse"):
        assert phase in summary
