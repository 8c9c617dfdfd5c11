"""The saved real pages, served on loopback with every other host hanging: records and seconds,
with the plugins' resource blocking on and off, and `plugins check` on the real CoinMarketCap page
against the authored fixture.

    python bench/realpages.py [--runs 3] [--off-timeout 30] [--real DIR]

Modes alternate run by run and the medians are reported. "off" waits at most --off-timeout
seconds for a page (its third-party scripts hang, as they do on a closed network, and hold the
parser). The last line is one JSON object of the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scrapeline.mirror import MirrorServer  # noqa: E402
from scrapeline.offline import Tarpit, offline_browser_args  # noqa: E402
from scrapeline.settings import Settings  # noqa: E402
from scrapers.jobs import Job  # noqa: E402
from scrapers.plugin import Request  # noqa: E402
from scrapers.worker import PageWorker  # noqa: E402

PAGES = {
    "coinmarketcap/currency-bitcoin-2026-07-13.html": "coinmarketcap",
    "coinmarketcap/listing-all-views-2023-09-27.html": "coinmarketcap",
    "coinmarketcap/listing-home-2025-06-24.html": "coinmarketcap",
    "coinmarketcap/listing-home-2026-07-12.html": "coinmarketcap",
    "openfoodfacts/listing-facet-brand-bel-2025-06-15.html": "openfoodfacts",
    "openfoodfacts/listing-facet-nutrition-grade-c-2025-06-15.html": "openfoodfacts",
    "openfoodfacts/listing-state-photos-uploaded-2015-05-23.html": "openfoodfacts",
}
CHECK_REAL = "coinmarketcap/listing-home-2026-07-12.html"
FIXTURE_SITES = ROOT / "tests" / "fixtures" / "sites"


def measure_pages(mirror: MirrorServer, tarpit: Tarpit, blocking: bool, wait_timeout: float) -> dict[str, tuple[int, float]]:
    """page -> (items found: records + links to follow, seconds) with one browser for all pages."""
    settings = Settings().replace("browser", extra_args=offline_browser_args(tarpit), blocking=blocking, page_load_timeout=wait_timeout)
    settings = settings.replace("pool", retries=0)
    for plugin in set(PAGES.values()):
        settings = settings.with_plugin_values(plugin, wait_timeout=str(wait_timeout))
    worker = PageWorker(settings)
    found = {}
    try:
        worker.run(Job("coinmarketcap", Request(f"{mirror.url}/coinmarketcap/missing.html")))  # start the browser
        for page, plugin in PAGES.items():
            result = worker.run(Job(plugin, Request(f"{mirror.url}/{page}")))
            found[page] = (len(result.records) + len(result.follow), result.seconds)
    finally:
        worker.close()
    return found


def plugins_check_seconds(url: str, tarpit: Tarpit) -> float:
    """Wall time of `scrapeline plugins check coinmarketcap --url URL`, browser start included."""
    environ = {**os.environ, "SCRAPELINE_BROWSER__EXTRA_ARGS": offline_browser_args(tarpit)[0]}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "scrapeline.cli", "plugins", "check", "coinmarketcap", "--url", url],
        capture_output=True, text=True, env=environ, cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"plugins check failed on {url}:\n{done.stderr}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--off-timeout", type=float, default=30.0)
    parser.add_argument("--real", type=Path, default=Path(os.environ.get("SCRAPELINE_REAL_PAGES") or ROOT.parent / "shared" / "fixtures" / "real"))
    args = parser.parse_args()
    if not (args.real / "SOURCES.md").is_file():
        raise SystemExit(f"no saved real pages at {args.real} (--real DIR or SCRAPELINE_REAL_PAGES)")

    seconds: dict[str, dict[str, list[float]]] = {mode: {page: [] for page in PAGES} for mode in ("on", "off")}
    items: dict[str, dict[str, int]] = {"on": {}, "off": {}}
    check: dict[str, list[float]] = {"real": [], "fixture": []}
    with Tarpit() as tarpit, MirrorServer(args.real) as real, MirrorServer(FIXTURE_SITES) as fixtures:
        for run in range(args.runs):
            for mode in (("on", "off") if run % 2 == 0 else ("off", "on")):
                if mode == "off" and run > 0:
                    continue  # every page of "off" waits for its timeout: once is enough to show it
                for page, (found, took) in measure_pages(real, tarpit, mode == "on", args.off_timeout).items():
                    seconds[mode][page].append(took)
                    items[mode][page] = found
            for which in (("real", "fixture") if run % 2 == 0 else ("fixture", "real")):
                url = f"{real.url}/{CHECK_REAL}" if which == "real" else f"{fixtures.url}/coinmarketcap/"
                check[which].append(plugins_check_seconds(url, tarpit))
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    median = {mode: {page: statistics.median(values) for page, values in pages.items() if values} for mode, pages in seconds.items()}
    print(f"{'page':55s} {'items':>6s} {'on s':>7s} {'off items':>9s} {'off s':>7s}")
    for page in PAGES:
        print(f"{page:55s} {items['on'][page]:6d} {median['on'][page]:7.2f} {items['off'][page]:9d} {median['off'][page]:7.2f}")
    check_median = {which: statistics.median(values) for which, values in check.items()}
    ratio = check_median["real"] / check_median["fixture"]
    print(f"plugins check coinmarketcap: real page {check_median['real']:.2f} s, fixture {check_median['fixture']:.2f} s, "
          f"real/fixture {ratio:.2f} (median of {args.runs})")
    headline = {
        "items": items["on"],
        "seconds_blocking_on": {page: round(value, 2) for page, value in median["on"].items()},
        "seconds_blocking_off": {page: round(value, 2) for page, value in median["off"].items()},
        "items_blocking_off": items["off"],
        "total_seconds_on": round(sum(median["on"].values()), 2),
        "total_seconds_off": round(sum(median["off"].values()), 2),
        "cmc_check_real_over_fixture": round(ratio, 2),
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
