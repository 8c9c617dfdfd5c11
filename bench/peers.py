"""scrapeline against its peers: the same pages, concurrency, wait and parse through five scrapers
(not a test: nothing is asserted).

  (a) raw_selenium       N processes, one Chromium each through ChromeDriver, scrapeline's flags
  (b) scrapeline         ScrapePool with N workers and a bench plugin, records to a counting sink
  (c) crawlee            Crawlee for Python's PlaywrightCrawler, max_concurrency N
  (d) scrapy_playwright  Scrapy with scrapy-playwright, CONCURRENT_REQUESTS N
  (e) raw_playwright     one Playwright browser with N contexts of one page each

The site (bench/peers_site.py) serves P listing pages on loopback whose script renders 40-60
items after the document is parsed, plus slow third-party resources on a second loopback server.
Every variant loads each page once, waits for the item selector, parses the HTML with
BeautifulSoup on lxml and counts the items; each count is checked against the page's. The peers
run from their own venv (`make bench-peers-venv`, made on first use) against /usr/bin/chromium
with the same flags as scrapeline's browsers (but for --disable-features, where Playwright's list
stays). Each variant runs as a subprocess, alternating, for
--rounds rounds; medians are reported, and each ratio to (a) is the median of the ratios within a
round. Memory: the PSS of every Chromium process of the variant
(driver and Python not included), sampled every 0.5 s; the peak divided by N is the memory per
page in flight. CPU: user + system seconds of the variant's every process (Python, drivers,
Chromium), sampled as often; it depends less than pages/s on what else the machine runs. The last
line printed is JSON with the headline figures. Usage:

    .venv/bin/python bench/peers.py [--pages 100] [--concurrency 2] [--rounds 3] [--variants a,b,...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from browser_memory import Sampler, browser_pss_mb, descendants  # noqa: E402
from peers_site import ITEM_SELECTOR, item_count, serve  # noqa: E402
from raw_chrome import CHROMEDRIVER, CHROMIUM  # noqa: E402
from scrapers.browser import CHROMIUM_FLAGS  # noqa: E402

VARIANTS = {
    "raw_selenium": "peers_scrapeline.py",
    "scrapeline": "peers_scrapeline.py",
    "crawlee": "peers_playwright.py",
    "scrapy_playwright": "peers_playwright.py",
    "raw_playwright": "peers_playwright.py",
}
PEERS_VENV = ROOT / ".bench-venv"
PEER_CHECK = "import crawlee, scrapy, scrapy_playwright, playwright, bs4, lxml"


def ensure_peers_venv() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not (python.exists() and subprocess.run([str(python), "-c", PEER_CHECK], capture_output=True).returncode == 0):
        print("installing the peers into .bench-venv (make bench-peers-venv)", file=sys.stderr)
        subprocess.run(["make", "-C", str(ROOT), "bench-peers-venv"], check=True)
    return python


def run_variant(name: str, python: Path, spec_path: Path, workdir: Path) -> dict[str, Any]:
    """One run of one variant as a subprocess, its Chromium processes sampled while it runs."""
    command = [str(python), str(BENCH / VARIANTS[name]), name, str(spec_path)]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(process.pid)
    cpu = CpuSeconds(root)

    def measure() -> float:
        cpu.sample()
        return browser_pss_mb(root)

    with Sampler(measure) as memory:
        try:
            out, err = process.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    else:
        tail = " | ".join(err.strip().splitlines()[-5:])
        result = {"seconds": 0.0, "counts": {}, "errors": [f"exit {process.returncode}: {tail}"]}
    result["peak_pss_mb"] = memory.peak
    result["cpu_s"] = cpu.total
    return result


class CpuSeconds:
    """CPU time (user + system) of a process and all its descendants, as last seen by sample()."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.seen: dict[int, float] = {}

    def sample(self) -> None:
        for process in [self.root, *descendants(self.root)]:
            try:
                times = process.cpu_times()
                self.seen[process.pid] = times.user + times.system
            except psutil.Error:
                pass  # ended since it was listed; its last sample counts

    @property
    def total(self) -> float:
        return sum(self.seen.values())


def check_counts(counts: dict[str, int], expected: dict[str, int]) -> list[str]:
    wrong = [url for url, n in expected.items() if counts.get(url) != n]
    return [f"{url}: {counts.get(url)} items, expected {expected[url]}" for url in wrong]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, alternating; medians are reported")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    args = parser.parse_args()
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    peers_python = ensure_peers_venv() if any(VARIANTS[n] == "peers_playwright.py" for n in names) else None

    context = multiprocessing.get_context("spawn")
    parent_conn, child_conn = context.Pipe()
    site = context.Process(target=serve, args=(args.pages, child_conn), daemon=True)
    site.start()
    base_url = parent_conn.recv()
    urls = [f"{base_url}/list/{page}.html" for page in range(1, args.pages + 1)]
    expected = {url: item_count(page) for page, url in enumerate(urls, start=1)}

    workdir = Path(tempfile.mkdtemp(prefix="scrapeline-peers-"))
    spec_path = workdir / "spec.json"
    spec = {
        "urls": urls,
        "selector": ITEM_SELECTOR,
        "concurrency": args.concurrency,
        "chromium": CHROMIUM,
        "chromedriver": CHROMEDRIVER,
        "flags": list(CHROMIUM_FLAGS),
        # Playwright passes a --disable-features list of its own, and Chromium keeps only the last
        # such flag: the Playwright peers keep theirs (it already turns off most of what ours does).
        "playwright_flags": [flag for flag in CHROMIUM_FLAGS if not flag.startswith("--disable-features=")],
    }
    spec_path.write_text(json.dumps(spec))
    env_python = {name: (peers_python if VARIANTS[name] == "peers_playwright.py" else Path(sys.executable)) for name in names}

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    try:
        for round_no in range(args.rounds):
            # Alternate, and start each round with another variant: a slow spell of the machine
            # then falls on different variants.
            order = names[round_no % len(names):] + names[: round_no % len(names)]
            for name in order:
                result = run_variant(name, env_python[name], spec_path, workdir)
                result["wrong"] = check_counts(result["counts"], expected)
                rate = args.pages / result["seconds"] if result["seconds"] and not result["wrong"] else 0.0
                result["pages_per_s"] = rate
                runs[name].append(result)
                extra = f"  per page ms: {result['per_page_ms']}" if "per_page_ms" in result else ""
                print(f"round {round_no + 1} {name:18} {rate:6.2f} pages/s  {result['peak_pss_mb']:6.0f} MB PSS  "
                      f"{1000 * result['cpu_s'] / args.pages:5.0f} CPU ms/page  "
                      f"{len(result['counts'])}/{args.pages} pages, {len(result['wrong'])} wrong{extra}", file=sys.stderr)
                for problem in (result["errors"] + result["wrong"])[:3]:
                    print(f"    {problem}", file=sys.stderr)
    finally:
        parent_conn.send("stop")
        site.join(5)
        shutil.rmtree(workdir, ignore_errors=True)

    report(args, names, runs)


def report(args: argparse.Namespace, names: list[str], runs: dict[str, list[dict[str, Any]]]) -> None:
    rate = {name: statistics.median(r["pages_per_s"] for r in runs[name]) for name in names}
    per_page_mb = {name: statistics.median(r["peak_pss_mb"] for r in runs[name]) / args.concurrency for name in names}
    cpu_ms = {name: statistics.median(1000 * r["cpu_s"] / args.pages for r in runs[name]) for name in names}
    complete = {name: all(not r["wrong"] for r in runs[name]) for name in names}
    # Ratios of runs of the same round, then their median: a busy spell of the machine slows both
    # sides of a pair, where it would move one median alone.
    base = runs.get("raw_selenium")
    ratio = {
        name: statistics.median(r["pages_per_s"] / b["pages_per_s"] if b["pages_per_s"] else 0.0 for r, b in zip(runs[name], base))
        if base else None
        for name in names
    }
    print(f"\n{args.pages} listing pages on loopback, concurrency {args.concurrency}, {psutil.cpu_count()} CPUs, "
          f"median of {args.rounds} alternating runs (the ratio: median of the ratios within a round)\n")
    print(f"{'variant':20} {'pages/s':>8} {'/ raw_selenium':>15} {'MB per page in flight':>22} {'CPU ms per page':>16} {'every item':>11}")
    for name in names:
        shown = f"{ratio[name]:.2f}" if ratio[name] is not None else "-"
        print(f"{name:20} {rate[name]:8.2f} {shown:>15} {per_page_mb[name]:22.0f} {cpu_ms[name]:16.0f} "
              f"{'yes' if complete[name] else 'NO':>11}")
    print(json.dumps({
        "pages_per_s": {name: round(rate[name], 2) for name in names},
        "ratio_to_raw_selenium": {name: (round(ratio[name], 3) if ratio[name] is not None else None) for name in names},
        "mb_per_page_in_flight": {name: round(per_page_mb[name]) for name in names},
        "cpu_ms_per_page": {name: round(cpu_ms[name]) for name in names},
        "every_item_found": complete,
    }))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
