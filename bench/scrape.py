"""Scrape throughput and browser memory, three ways, side by side in one run (not a test: nothing is asserted).

  (a) pool:  scrapeline's pool with W workers (one reused browser each, plugin wait_for, interact,
             parse, schema checks, records back to the parent)
  (b) raw:   W processes, each one reused browser doing get + wait + page_source + the same parse
  (c) naive: W processes starting a new browser for every page

Every variant loads P distinct URLs of the 100-row CoinMarketCap fixture listing served on loopback
(the naive one the first --naive-pages of them: it is slow, and pages/s is what counts), and pays
for starting its browsers inside the timing. For each W in --workers the three variants run
alternately, --repeat times each; medians are reported. Memory is the proportional set size (PSS:
pages shared between processes counted once) of each browser, ChromeDriver and its Chromium
processes together, sampled every 0.5 s; a run's figure is its highest sample. PSS splits a shared
page among every process that maps it, other Chromiums on the machine included, so it is also shown
as USS (the browser's private memory, which nothing else changes). The last line printed is JSON
with the headline figures (pool/raw, pool/naive and memory per browser at W = 2). Usage:

    .venv/bin/python bench/scrape.py [--pages 100] [--workers 1,2,4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from browser_memory import Sampler, per_browser_mb  # noqa: E402
from plugins.coinmarketcap import CoinMarketCap  # noqa: E402
from scrapeline.mirror import MirrorServer  # noqa: E402
from scrapeline.settings import Settings  # noqa: E402
from scrapers import Page  # noqa: E402
from scrapers.browser import CHROMIUM_FLAGS  # noqa: E402
from scrapers.pool import ScrapePool  # noqa: E402

LISTING = ROOT / "tests" / "fixtures" / "sites" / "coinmarketcap" / "index.html"
# What the plugin's readiness predicate amounts to on this static page once it is parsed (the raw
# loops' `get` returns at DOMContentLoaded): the embedded listing is there.
RAW_WAIT = "script#__NEXT_DATA__"
VARIANTS = ("pool", "raw", "naive")


def one_browser_pss(me: psutil.Process, uss_samples: list[float]) -> float:
    """The highest PSS of one browser now; the highest USS goes to ``uss_samples``."""
    browsers = per_browser_mb(me)
    if not browsers:
        return 0.0
    uss_samples.append(max(uss for _, uss in browsers))
    return max(pss for pss, _ in browsers)


def _parse(url: str, html: str) -> int:
    return sum(1 for _ in CoinMarketCap({"base_url": url}).parse(Page(url, html)))


def _raw_worker(urls: "multiprocessing.Queue[str | None]", counts: "multiprocessing.Queue[int]", fresh_browser_per_page: bool) -> None:
    from raw_chrome import start_chrome

    browser = None
    try:
        while (url := urls.get()) is not None:
            if browser is None:
                browser = start_chrome(CHROMIUM_FLAGS)
            html, _ = browser.render(url, RAW_WAIT)
            counts.put(_parse(url, html))
            if fresh_browser_per_page:
                browser.quit()
                browser = None
    finally:
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
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return elapsed, records


def run_pool(base_url: str, pages: int, workers: int) -> tuple[float, int]:
    settings = Settings().replace("pool", workers=workers, retries=0, domain_concurrency=workers)
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
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--naive-pages", type=int, default=20, help="pages of the naive variant (a browser start each)")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant, alternating; medians are reported")
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]

    folder = Path(tempfile.mkdtemp(prefix="scrapeline-bench-"))
    shutil.copy(LISTING, folder / "index.html")
    for page in range(2, args.pages + 1):
        shutil.copy(LISTING, folder / f"index@page={page}.html")
    me = psutil.Process()
    # workers -> variant -> [(pages/s, records per page, PSS of one browser: peak, median; USS: peak)]
    runs: dict[int, dict[str, list[tuple[float, ...]]]] = {w: {v: [] for v in VARIANTS} for w in worker_counts}
    with MirrorServer(folder) as site:
        plugin = CoinMarketCap({"base_url": site.url, "pages": args.pages})
        urls = [request.url for request in plugin.start_requests()]
        variants = {
            "pool": lambda w: (args.pages, run_pool(site.url, args.pages, w)),
            "raw": lambda w: (args.pages, run_raw(urls, w, fresh_browser_per_page=False)),
            "naive": lambda w: (args.naive_pages, run_raw(urls[: args.naive_pages], w, fresh_browser_per_page=True)),
        }
        for repeat in range(args.repeat):
            for workers in worker_counts:
                # Alternate, and rotate the order between repeats: a slow spell of a busy machine
                # then falls on different variants.
                order = VARIANTS[repeat % 3:] + VARIANTS[: repeat % 3]
                for name in order:
                    private: list[float] = []
                    with Sampler(lambda: one_browser_pss(me, private)) as memory:
                        pages, (seconds, records) = variants[name](workers)
                    runs[workers][name].append((pages / seconds, records / pages, memory.peak, memory.median, max(private, default=0.0)))
                    print(f"repeat {repeat + 1} W={workers} {name:6} {pages / seconds:6.2f} pages/s, {records / pages:.0f} records a page, "
                          f"one browser {memory.peak:.0f} MB PSS at most", file=sys.stderr)
    shutil.rmtree(folder, ignore_errors=True)
    report(args, worker_counts, runs)


def report(args: argparse.Namespace, worker_counts: list[int], runs: dict[int, dict[str, list[tuple[float, ...]]]]) -> None:
    def median(workers: int, variant: str, index: int) -> float:
        return statistics.median(run[index] for run in runs[workers][variant])

    print(f"\n{args.pages} pages ({args.naive_pages} for naive) of a 100-row listing on loopback, {psutil.cpu_count()} CPUs, "
          f"median of {args.repeat} alternating runs; PSS of one browser (ChromeDriver + Chromium), highest sample of a run\n")
    print(f"{'W':>2} {'variant':6} {'pages/s':>8} {'records/page':>13} {'PSS MB, peak':>13} {'PSS MB, median':>15} {'USS MB, peak':>13}")
    by_workers = {}
    for workers in worker_counts:
        for name in VARIANTS:
            print(f"{workers:2d} {name:6} {median(workers, name, 0):8.2f} {median(workers, name, 1):13.0f} "
                  f"{median(workers, name, 2):13.0f} {median(workers, name, 3):15.0f} {median(workers, name, 4):13.0f}")
        pool, raw, naive = (median(workers, name, 0) for name in VARIANTS)
        # Ratios of runs made back to back in the same repeat, then their median: a busy spell of the
        # machine slows both sides of a pair, where it would move one median alone.
        over_raw = statistics.median(p[0] / r[0] for p, r in zip(runs[workers]["pool"], runs[workers]["raw"]))
        over_naive = statistics.median(p[0] / n[0] for p, n in zip(runs[workers]["pool"], runs[workers]["naive"]))
        by_workers[str(workers)] = {
            "pool_pages_per_s": round(pool, 2),
            "raw_pages_per_s": round(raw, 2),
            "naive_pages_per_s": round(naive, 2),
            "pool_over_raw": round(over_raw, 3),
            "pool_over_naive": round(over_naive, 2),
            "pss_mb_per_browser": round(median(workers, "pool", 2)),
            "uss_mb_per_browser": round(median(workers, "pool", 4)),
        }
        print(f"   pool/raw = {over_raw:.2f}   pool/naive = {over_naive:.2f}   (medians of the ratios within a repeat)\n")
    headline = by_workers.get("2") or by_workers[str(worker_counts[0])]
    print(json.dumps({
        "pool_over_raw": headline["pool_over_raw"],
        "pool_over_naive": headline["pool_over_naive"],
        "pss_mb_per_browser": headline["pss_mb_per_browser"],
        "uss_mb_per_browser": headline["uss_mb_per_browser"],
        "by_workers": by_workers,
    }))


if __name__ == "__main__":
    main()
