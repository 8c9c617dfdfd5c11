"""Failure snapshots: what a page looked like when it failed, gave nothing, or gave records that broke the schema.

A snapshot is a folder ``<[pool] data_dir>/snapshots/<plugin>/<UTC date>/<time>-<page>/`` holding

- ``page.html``: the HTML the parser saw (browser pages: the DOM; HTTP pages: the body);
- ``screenshot.png``: the tab as it was (browser pages);
- ``console.log``: the browser's console for that document, one JSON entry a line (warnings and
  errors: ChromeDriver's default level, which holds script errors and failed resources);
- ``status.json``: the URL, the HTTP status, why the snapshot was taken and when.

The worker takes it (it has the browser) and calls :meth:`Snapshots.write`; the folder's total is
kept under ``[pool] snapshots_max_mb`` by removing the oldest snapshots first.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver

from scrapeline.settings import Settings
from scrapers.jobs import JobResult

log = logging.getLogger("scrapeline.snapshots")

FILES = ("page.html", "screenshot.png", "console.log", "status.json")
# The document as it is, without stopping it: a snapshot is taken before any abort.
_DOCUMENT_SCRIPT = """
const navigation = performance.getEntriesByType('navigation')[0];
return [document.documentElement ? document.documentElement.outerHTML : '', location.href,
        navigation && navigation.responseStatus ? navigation.responseStatus : null, performance.timeOrigin];
"""


@dataclass
class Evidence:
    """What could be read of a page: each part None when it could not."""

    url: str
    html: str | None = None
    status: int | None = None
    png: bytes | None = None
    console: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def from_browser(driver: WebDriver, url: str, html: str | None = None, status: int | None = None) -> Evidence:
    """Read the tab: screenshot first (before anything changes it), then its console and its document.
    Best effort: a part the browser cannot give is left out, and nothing here raises."""
    evidence = Evidence(url, html, status)
    try:
        evidence.png = driver.get_screenshot_as_png()
    except WebDriverException as exc:
        evidence.extra["screenshot_error"] = _first_line(exc)
    since = 0.0
    try:
        document, shown_url, shown_status, since = driver.execute_script(_DOCUMENT_SCRIPT)
        evidence.html = evidence.html if evidence.html is not None else document
        evidence.status = evidence.status if evidence.status is not None else shown_status
        evidence.extra["shown_url"] = shown_url
    except (WebDriverException, TypeError, ValueError) as exc:
        evidence.extra["document_error"] = _first_line(exc)
    try:
        # Entries of earlier pages of this browser are still buffered: keep this document's.
        # The WebDriver command, not driver.get_log: a Remote WebDriver (a Grid) has no get_log method.
        entries = driver.execute("getLog", {"type": "browser"})["value"]
        evidence.console = [entry for entry in entries if float(entry.get("timestamp") or 0) >= float(since or 0) - 1]
    except (WebDriverException, KeyError, TypeError, ValueError) as exc:  # a Grid may not relay the log endpoint
        evidence.extra["console_error"] = _first_line(exc)
    return evidence


def evidence_of(url: str, page: Any, driver: WebDriver | None, kept: Evidence | None) -> Evidence:
    """What to save of a page: what was kept when it was given up (``kept``), else what the browser
    (``driver``, browser pages) or the parsed ``page`` shows now."""
    if kept is not None and page is None:
        return kept
    if driver is not None:
        return from_browser(driver, page.url if page else url, page.html if page else None, page.status if page else None)
    if page is not None:
        return Evidence(page.url, page.html, page.status)
    return Evidence(url)


def reason_for(result: JobResult, retries: int, expects_records: bool, always: bool = False) -> str | None:
    """Why this page's result deserves a snapshot, or None: it failed for good, some of its records
    broke the schema, or it gave neither records nor links where the plugin ``expects_records``."""
    if result.error is not None:
        return None if result.sent_back(retries) and not always else f"failed: {result.error}"
    if result.invalid:
        return f"{len(result.invalid)} records broke the schema: {result.invalid[0][0]}"
    if expects_records and not result.records and not result.follow:
        return "no records and no links"
    return "saved on request" if always else None


class Snapshots:
    """Writes snapshots under ``<data_dir>/snapshots`` within ``[pool] snapshots_max_mb`` (0: none),
    or, given ``folder``, every page's into that one folder (``plugins check --save``)."""

    def __init__(self, settings: Settings, folder: Path | None = None) -> None:
        self.root = settings.data_dir / "snapshots"
        self.max_bytes = settings.pool.snapshots_max_mb * 2**20
        self.folder = folder

    @property
    def enabled(self) -> bool:
        return self.folder is not None or self.max_bytes > 0

    def write(self, plugin: str, evidence: Evidence, reason: str) -> Path | None:
        """Save ``evidence`` and return its folder; None when snapshots are off or the disk refused."""
        if not self.enabled:
            return None
        try:
            folder = self.folder or self._new_folder(plugin, evidence.url)
            _write_files(folder, plugin, evidence, reason)
            if self.folder is None:
                self.prune(keep=folder)
        except OSError as exc:  # a full or read-only disk costs the snapshot, never the page
            log.warning("%s: no snapshot of %s: %s", plugin, evidence.url, exc)
            return None
        log.warning("%s: %s: %s; snapshot in %s", plugin, evidence.url, reason, folder)
        return folder

    def prune(self, keep: Path | None = None) -> int:
        """Remove the oldest snapshots until the rest fit in the cap; returns how many went."""
        snapshots = sorted(self._all(), key=lambda item: item[0])
        total = sum(size for _, _, size in snapshots)
        removed = 0
        for _, folder, size in snapshots:
            if total <= self.max_bytes:
                break
            if keep is not None and folder == keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            total -= size
            removed += 1
            _remove_empty_parents(folder.parent, self.root)
        return removed

    def _all(self) -> Iterator[tuple[tuple[str, str], Path, int]]:
        """(date, time) name, folder and bytes of every snapshot, whatever the plugin."""
        for day in self.root.glob("*/*"):
            for folder in _subfolders(day):
                yield (day.name, folder.name), folder, _size(folder)

    def _new_folder(self, plugin: str, url: str) -> Path:
        now = datetime.now(timezone.utc)
        day = self.root / plugin / now.strftime("%Y-%m-%d")
        day.mkdir(parents=True, exist_ok=True)
        base = f"{now.strftime('%H%M%S.%f')}-{_slug(url)}"
        for number in range(100):
            folder = day / (base if number == 0 else f"{base}-{number}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue  # another worker, the same microsecond and page
        raise OSError(f"cannot make a snapshot folder under {day}")


def _write_files(folder: Path, plugin: str, evidence: Evidence, reason: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if evidence.html is not None:
        (folder / "page.html").write_text(evidence.html, encoding="utf-8", errors="replace")
    if evidence.png is not None:
        (folder / "screenshot.png").write_bytes(evidence.png)
    if evidence.console is not None:
        (folder / "console.log").write_text("".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in evidence.console), encoding="utf-8")
    status = {
        "plugin": plugin, "url": evidence.url, "status": evidence.status, "reason": reason,
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **evidence.extra,
    }  # fmt: skip
    (folder / "status.json").write_text(json.dumps(status, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _subfolders(path: Path) -> list[Path]:
    try:
        return [child for child in path.iterdir() if child.is_dir()]
    except OSError:
        return []  # pruned by another worker meanwhile


def _size(folder: Path) -> int:
    total = 0
    for entry in os.scandir(folder) if folder.is_dir() else ():
        try:
            total += entry.stat().st_size
        except OSError:
            pass
    return total


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty, or gone
        folder = folder.parent


def _slug(url: str) -> str:
    """A short, safe name for the page: its path and query without the scheme and host."""
    rest = re.sub(r"^[a-z]+://[^/]*", "", url) or "/"
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", rest).strip("_") or "root")[:60]


def _first_line(exc: BaseException) -> str:
    text = (getattr(exc, "msg", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
