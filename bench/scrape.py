"""Scrape throughput and memory, three ways, side by side in one run (not a test: nothing is asserted).

  (a) scrapeline's pool with W workers (one reused browser each, plugin parse, schema checks)
  (b) a raw loop: W processes, each one browser doing get + wait + page_source + the same parse
  (c) naive: W processes starting a new browser for every page

Every variant loads the same P distinct URLs of a 100-row CoinMarketCap listing served on loopback,
and pays for starting its browsers inside the timing. Usage:

    .venv/bin/python bench/scrape.py [--pages 60] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plugins.coinmarketcap import CoinMarketCap  # noqa: E402
from scrapeline.mirror import MirrorServer  # noqa: E402
from scrapeline.settings import BrowserSettings, Settings  # noqa: E402
from scrapers import Page  # noqa: E402
from scrapers.pool import ScrapePool  # noqa: E402

LISTING = ROOT / "tests" / "fixtures" / "sites" / "coinmarketcap" / "index.html"
WAIT_FOR = CoinMarketCap.wait_for


class PeakMemory:
    """Samples the resident memory of each child process tree of this process (one per worker)."""

    def __init__(self) -> None:
        self.peak_total = 0.0
        self.peak_per_worker = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.1):
            trees = []
            for child in me.children():
                try:
                    processes = [child, *child.children(recursive=True)]
                    trees.append(sum(p.memory_info().rss for p in processes if p.is_running()) / 1e6)
                except psutil.Error:
                    continue
            if trees:
                self.peak_total = max(self.peak_total, sum(trees))
                self.peak_per_worker = max(self.peak_per_worker, max(trees))


def _parse(url: str, html: str) -> int:
    return sum(1 for _ in CoinMarketCap({"base_url": url}).parse(Page(url, html)))


def _raw_worker(urls: "multiprocessing.Queue[str | None]", counts: "multiprocessing.Queue[int]", fresh_browser_per_page: bool) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from scrapers.browser import start_browser

    browser = None
    while (url := urls.get()) is not None:
        if browser is None:
            browser = start_browser(BrowserSettings())
        browser.driver.get(url)
        WebDriverWait(browser.driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, WAIT_FOR)))
        counts.put(_parse(url, browser.driver.page_source))
        if fresh_browser_per_page:
            browser.quit()
            browser = None
    if browser is not None:
        browser.quit()


def run_raw(urls: list[str], workers: int, fresh_browser_per_page: bool) -> tuple[float, int]:
    context = multiprocessing.get_context("spawn")
    queue, counts = context.Queue(), context.Queue()
    for url in urls:
        queue.put(url)
    for _ in range(workers):
        queue.put(None)
    started = time.perf_counter()
    processes = [context.Process(target=_raw_worker, args=(queue, counts, fresh_browser_per_page)) for _ in range(workers)]
    for process in processes:
        process.start()
    records = sum(counts.get() for _ in urls)
    for process in processes:
        process.join()
    return time.perf_counter() - started, records


def run_pool(base_url: str, pages: int, workers: int) -> tuple[float, int]:
    settings = Settings().replace("pool", workers=workers, retries=0)
    settings = settings.with_plugin_values("coinmarketcap", base_url=base_url, pages=str(pages), max_pages=str(pages), obey_robots="false")
    records: list = []
    started = time.perf_counter()
    with ScrapePool(settings, records.append) as pool:
        report = pool.run_round(["coinmarketcap"])
    elapsed = time.perf_counter() - started
    assert report.plugins["coinmarketcap"].errors == 0, report
    return elapsed, len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant, alternating; the best counts")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="scrapeline-bench-"))
    shutil.copy(LISTING, folder / "index.html")
    for page in range(2, args.pages + 1):
        shutil.copy(LISTING, folder / f"index@page={page}.html")
    with MirrorServer(folder) as site:
        plugin = CoinMarketCap({"base_url": site.url, "pages": args.pages})
        urls = [request.url for request in plugin.start_requests()]
        variants = {
            "(a) scrapeline pool": lambda: run_pool(site.url, args.pages, args.workers),
            "(b) raw loop, reused browsers": lambda: run_raw(urls, args.workers, fresh_browser_per_page=False),
            "(c) naive, a browser per page": lambda: run_raw(urls, args.workers, fresh_browser_per_page=True),
        }
        # Alternating runs, best of each: on a small machine one run can be slowed by anything else.
        results: dict[str, tuple[float, int, float, float]] = {}
        for _ in range(args.repeat):
            for name, run in variants.items():
                with PeakMemory() as memory:
                    seconds, records = run()
                best = results.get(name, (0.0, 0, 0.0, 0.0))
                results[name] = (
                    max(best[0], args.pages / seconds), records, max(best[2], memory.peak_total), max(best[3], memory.peak_per_worker)
                )
    shutil.rmtree(folder, ignore_errors=True)

    print(f"{args.pages} pages of a 100-row listing on loopback, {args.workers} workers, {psutil.cpu_count()} CPUs, "
          f"best of {args.repeat} alternating runs (peak memory: the highest seen)\n")
    print(f"{'variant':34} {'pages/s':>8} {'records':>8} {'peak RSS MB':>12} {'per worker MB':>14}")
    for name, (rate, records, total, per_worker) in results.items():
        print(f"{name:34} {rate:8.2f} {records:8d} {total:12.0f} {per_worker:14.0f}")
    a, b, c = (results[name][0] for name in variants)
    print(f"\n(a)/(b) = {a / b:.2f}   (target >= 0.85)")
    print(f"(a)/(c) = {a / c:.2f}   (target >= 5)")


if __name__ == "__main__":
    main()
