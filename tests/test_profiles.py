"""Chromium profile folders left by a SIGKILL are removed when the next pool starts; live ones stay."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dev_env import ROOT
from scrapeline.settings import BrowserSettings, Settings
from scrapers.browser import start_browser
from scrapers.pool import ScrapePool

pytestmark = pytest.mark.usefixtures("chromium")

KILLED_WORKER = """
import os, sys, time
os.setpgrp()  # a worker leads its own process group, as in the pool
from scrapeline.settings import BrowserSettings
from scrapers.browser import start_browser
browser = start_browser(BrowserSettings())
print(browser.profile_dir, flush=True)
time.sleep(600)
"""


def age(path: Path) -> None:
    """As old as a folder an earlier run left (a young one may belong to a browser still starting)."""
    old = time.time() - 3600
    os.utime(path, (old, old))


def test_a_killed_browsers_profile_is_removed_at_the_next_pool_start_and_a_live_one_kept():
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    killed = Path(worker.stdout.readline().strip())
    live = start_browser(BrowserSettings())
    try:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker with its ChromeDriver and Chromium, as the pool kills a hung one
        worker.wait(30)
        deadline = time.monotonic() + 30
        while any(f"--user-data-dir={killed}" in " ".join(p) for p in _cmdlines()) and time.monotonic() < deadline:
            time.sleep(0.2)  # the killed Chromium's last processes go away
        assert killed.is_dir()
        age(killed)
        age(Path(live.profile_dir))

        ScrapePool(Settings(), lambda record: None)

        assert not killed.exists()
        assert Path(live.profile_dir).is_dir()
        live.driver.get("about:blank")  # and the live browser still works
    finally:
        live.quit()


def _cmdlines():
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        yield process.info["cmdline"] or []
