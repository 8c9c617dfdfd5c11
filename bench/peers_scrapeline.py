"""The Selenium-based variants of bench/peers.py, run in the project's venv.

    .venv/bin/python bench/peers_scrapeline.py raw_selenium|scrapeline SPEC.json

- ``raw_selenium``: N processes, each one Chromium through ChromeDriver with scrapeline's
  ``CHROMIUM_FLAGS`` (passed in SPEC) started by bench/raw_chrome.py: ``eager`` page loads
  (DOMContentLoaded, as the Playwright peers' ``wait_until``), ``get`` + a 50 ms poll for the item
  selector + ``page_source`` + the parse;
- ``scrapeline``: ``ScrapePool`` with N workers and a bench plugin (``wait_for`` the item
  selector, ``parse`` counts the items), records to a sink that only counts them.

The last line printed is JSON: ``{"seconds": ..., "counts": {url: items}, "errors": [...]}``,
timed from before the first browser starts until the last page is parsed.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A plugin file in a folder of its own, found through [pool] plugin_paths (the workers discover
# plugins themselves, so the class must live in a file they can import).
BENCH_PLUGIN = """
from scrapers import Plugin, Request, Schema

ITEMS = SELECTOR


class ListingBench(Plugin):
    name = "listing_bench"
    kind = "bench_listing"
    schema = Schema(fields={"page": "str", "items": "int"}, id_fields=("page",))
    wait_for = ITEMS
    default_settings = {"base_url": "", "pages": 100}

    def start_requests(self):
        for page in range(1, self.settings["pages"] + 1):
            yield Request(f"{self.settings['base_url']}/list/{page}.html")

    def parse(self, page):
        yield {"page": page.url, "items": len(page.soup.select(ITEMS))}
"""


def count_items(html: str, selector: str) -> int:
    return len(BeautifulSoup(html, "lxml").select(selector))


def _selenium_worker(spec: dict[str, Any], urls: "multiprocessing.Queue[str | None]", results: "multiprocessing.Queue[tuple]") -> None:
    from raw_chrome import start_chrome

    browser = start_chrome(spec["flags"], spec["chromium"], spec["chromedriver"])
    try:
        while (url := urls.get()) is not None:
            try:
                html, timing = browser.render(url, spec["selector"])
                started = time.perf_counter()
                items = count_items(html, spec["selector"])
                results.put((url, items, None, (*timing, time.perf_counter() - started)))
            except Exception as exc:  # reported, and the page counts as missing
                results.put((url, None, f"{url}: {type(exc).__name__}: {exc}", None))
    finally:
        browser.quit()


def raw_selenium(spec: dict[str, Any]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    urls, results = context.Queue(), context.Queue()
    for url in spec["urls"]:
        urls.put(url)
    for _ in range(spec["concurrency"]):
        urls.put(None)
    started = time.perf_counter()
    workers = [context.Process(target=_selenium_worker, args=(spec, urls, results)) for _ in range(spec["concurrency"])]
    for worker in workers:
        worker.start()
    counts: dict[str, int] = {}
    errors: list[str] = []
    phases = [0.0, 0.0, 0.0, 0.0]
    for _ in spec["urls"]:
        url, items, error, timing = results.get()
        if error:
            errors.append(error)
        else:
            counts[url] = items
            phases = [a + b for a, b in zip(phases, timing)]
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join()
    done = max(1, len(counts))
    per_page_ms = {name: round(1000 * total / done, 1) for name, total in zip(("get", "wait", "page_source", "parse"), phases)}
    return {"seconds": seconds, "counts": counts, "errors": errors, "per_page_ms": per_page_ms}


def scrapeline(spec: dict[str, Any]) -> dict[str, Any]:
    from scrapeline.settings import Settings
    from scrapers.pool import ScrapePool

    folder = Path(tempfile.mkdtemp(prefix="bench-plugin-"))
    (folder / "listing_bench.py").write_text(BENCH_PLUGIN.replace("SELECTOR", repr(spec["selector"]), 1))
    base_url = spec["urls"][0].rsplit("/list/", 1)[0]
    settings = Settings().replace(
        "pool", workers=spec["concurrency"], plugin_paths=(str(folder),), domain_concurrency=spec["concurrency"]
    )
    settings = settings.replace("browser", binary_path=spec["chromium"], driver_path=spec["chromedriver"])
    settings = settings.with_plugin_values(
        "listing_bench", base_url=base_url, pages=str(len(spec["urls"])), max_pages=str(len(spec["urls"])), obey_robots="false"
    )
    counts: dict[str, int] = {}

    def sink(record: Any) -> None:
        counts[record.url] = record.record["items"]

    phases: dict[str, float] = {}

    def on_result(_round: Any, result: Any) -> None:
        # The worker's per-phase timings of each page (navigate, wait, html, parse, publish).
        for phase, seconds in (getattr(result, "timings", None) or {}).items():
            phases[phase] = phases.get(phase, 0.0) + seconds

    started = time.perf_counter()
    with ScrapePool(settings, sink, on_result=on_result) as pool:
        report = pool.run_round(["listing_bench"])
        seconds = time.perf_counter() - started
    stats = report.plugins.get("listing_bench")
    errors = [*report.problems, *([f"{stats.errors} pages failed"] if stats and stats.errors else [])]
    done = max(1, len(counts))
    per_page_ms = {phase: round(1000 * total / done, 1) for phase, total in phases.items()}
    return {"seconds": seconds, "counts": counts, "errors": errors, "per_page_ms": per_page_ms}


def main() -> None:
    variant, spec_path = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(spec_path).read_text())
    if variant == "raw_selenium":
        result = raw_selenium(spec)
    elif variant == "scrapeline":
        result = scrapeline(spec)
    else:
        raise SystemExit(f"unknown variant {variant!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
