"""The Playwright-based peers of bench/peers.py, run in the peers' own venv (see `make bench-peers-venv`).

    .bench-venv/bin/python bench/peers_playwright.py crawlee|scrapy_playwright|raw_playwright SPEC.json

SPEC holds the URLs, the item selector, the concurrency, the Chromium binary and its flags.
Every variant navigates until DOMContentLoaded, waits for the item selector, takes the page's HTML,
parses it with BeautifulSoup on lxml and counts the items; the last line printed is JSON:
``{"seconds": ..., "counts": {url: items}, "errors": [...]}``, timed from just before the browser
starts until the last page is parsed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta
from typing import Any

from bs4 import BeautifulSoup


def count_items(html: str, selector: str) -> int:
    return len(BeautifulSoup(html, "lxml").select(selector))


def launch_options(spec: dict[str, Any]) -> dict[str, Any]:
    return {"executable_path": spec["chromium"], "args": spec["playwright_flags"], "headless": True}


async def raw_playwright(spec: dict[str, Any]) -> dict[str, Any]:
    """One browser, one context and page per slot of concurrency, each taking URLs from a shared queue."""
    from playwright.async_api import async_playwright

    counts: dict[str, int] = {}
    errors: list[str] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in spec["urls"]:
        queue.put_nowait(url)
    async with async_playwright() as playwright:
        started = time.perf_counter()
        browser = await playwright.chromium.launch(**launch_options(spec))

        async def slot() -> None:
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            page = await context.new_page()
            while not queue.empty():
                url = queue.get_nowait()
                try:
                    await page.goto(url, wait_until="domcontentloaded")
                    await page.wait_for_selector(spec["selector"], state="attached", timeout=20000)
                    counts[url] = count_items(await page.content(), spec["selector"])
                except Exception as exc:  # reported, and the page counts as missing
                    errors.append(f"{url}: {exc}")
            await context.close()

        await asyncio.gather(*(slot() for _ in range(spec["concurrency"])))
        seconds = time.perf_counter() - started
        await browser.close()
    return {"seconds": seconds, "counts": counts, "errors": errors}


async def crawlee(spec: dict[str, Any]) -> dict[str, Any]:
    """Crawlee's PlaywrightCrawler as its guide shows it, with the concurrency pinned and the same navigation."""
    from crawlee import ConcurrencySettings
    from crawlee.crawlers import PlaywrightCrawler, PlaywrightCrawlingContext
    from crawlee.storage_clients import MemoryStorageClient

    counts: dict[str, int] = {}
    errors: list[str] = []
    finished = [0.0]
    n = spec["concurrency"]
    crawler = PlaywrightCrawler(
        headless=True,
        browser_type="chromium",
        browser_launch_options={"executable_path": spec["chromium"], "args": spec["playwright_flags"]},
        goto_options={"wait_until": "domcontentloaded"},
        concurrency_settings=ConcurrencySettings(min_concurrency=n, max_concurrency=n, desired_concurrency=n),
        storage_client=MemoryStorageClient(),
        request_handler_timeout=timedelta(seconds=30),
        max_request_retries=2,
    )

    @crawler.router.default_handler
    async def handler(context: PlaywrightCrawlingContext) -> None:
        await context.page.wait_for_selector(spec["selector"], state="attached", timeout=20000)
        counts[context.request.url] = count_items(await context.page.content(), spec["selector"])
        finished[0] = time.perf_counter()

    @crawler.failed_request_handler
    async def failed(context: Any, error: Exception) -> None:
        errors.append(f"{context.request.url}: {error}")

    started = time.perf_counter()
    await crawler.run(spec["urls"])
    return {"seconds": (finished[0] or time.perf_counter()) - started, "counts": counts, "errors": errors}


def scrapy_playwright(spec: dict[str, Any]) -> dict[str, Any]:
    """A Scrapy spider whose requests scrapy-playwright renders; the wait is a PageMethod, as its README shows."""
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy_playwright.page import PageMethod

    counts: dict[str, int] = {}
    errors: list[str] = []
    finished = [0.0]

    class Listing(scrapy.Spider):
        name = "listing"

        async def start(self):
            for url in spec["urls"]:
                yield scrapy.Request(
                    url,
                    meta={
                        "playwright": True,
                        "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"},
                        "playwright_page_methods": [PageMethod("wait_for_selector", spec["selector"], state="attached", timeout=20000)],
                    },
                    errback=self.failed,
                )

        def parse(self, response):
            counts[response.url] = count_items(response.text, spec["selector"])
            finished[0] = time.perf_counter()

        def failed(self, failure):
            errors.append(f"{failure.request.url}: {failure.value}")

    process = CrawlerProcess(
        {
            "CONCURRENT_REQUESTS": spec["concurrency"],
            "CONCURRENT_REQUESTS_PER_DOMAIN": spec["concurrency"],
            "DOWNLOAD_HANDLERS": {
                "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
                "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            },
            "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(spec),
            "ROBOTSTXT_OBEY": False,
            "TELNETCONSOLE_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "RETRY_TIMES": 2,
        }
    )
    process.crawl(Listing)
    started = time.perf_counter()
    process.start()
    return {"seconds": (finished[0] or time.perf_counter()) - started, "counts": counts, "errors": errors}


def main() -> None:
    variant, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as file:
        spec = json.load(file)
    if variant == "scrapy_playwright":
        result = scrapy_playwright(spec)
    elif variant == "crawlee":
        result = asyncio.run(crawlee(spec))
    elif variant == "raw_playwright":
        result = asyncio.run(raw_playwright(spec))
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
