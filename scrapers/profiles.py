"""Chromium profile folders whose browser is gone: a SIGKILL leaves the worker no time to remove them.

A browser's folder (``<tmp>/scrapeline-chromium-*``, made by :func:`scrapers.browser.start_browser`)
is in use while a process runs with it as ``--user-data-dir``, or while the process that
Chromium's own ``SingletonLock`` names (``<host>-<pid>``) is alive. Any other such folder is
left over and removed when a pool starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import psutil

log = logging.getLogger("scrapeline.profiles")
PROFILE_PREFIX = "scrapeline-chromium-"
# A folder this young may belong to a browser still starting (no Chromium running with it yet).
STARTUP_GRACE_S = 120.0


def remove_orphaned_profiles(folder: str | Path | None = None) -> list[Path]:
    """Remove the profile folders in ``folder`` (default: the temporary folder) that no live browser uses."""
    root = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    candidates = [path for path in root.glob(f"{PROFILE_PREFIX}*") if path.is_dir() and not path.is_symlink()]
    if not candidates:
        return []
    in_use = _user_data_dirs()
    removed = []
    for path in candidates:
        if os.path.realpath(path) in in_use or _locked_by_live_process(path) or _young(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    if removed:
        log.info("removed %d Chromium profile folders left by browsers that were killed", len(removed))
    return removed


def _user_data_dirs() -> set[str]:
    """The ``--user-data-dir`` of every process we may look at."""
    found = set()
    for process in psutil.process_iter(["cmdline"]):
        for arg in process.info["cmdline"] or ():
            if arg.startswith("--user-data-dir="):
                found.add(os.path.realpath(arg.split("=", 1)[1]))
    return found


def _locked_by_live_process(path: Path) -> bool:
    try:
        host, _, pid = os.readlink(path / "SingletonLock").rpartition("-")
    except OSError:
        return False
    if host != socket.gethostname():
        return True  # another machine's browser (a shared folder): not ours to judge
    return pid.isdigit() and _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a killed browser not reaped yet is gone
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # not ours to look at: not ours to remove either


def _young(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < STARTUP_GRACE_S
    except OSError:
        return True  # gone already, or not ours to read
