"""Browser memory as the benches report it: proportional set size (PSS), sampled while a variant runs.

PSS counts a page shared by several processes once, split among them, so the PSS of a set of
processes adds up to what they really hold together; summed RSS counts shared pages (the Chromium
binary, fonts, shared memory between browser and renderers) once per process and overstates a
browser severalfold.
"""

from __future__ import annotations

import statistics
import threading
from typing import Callable, Iterable

import psutil

BROWSER_NAMES = frozenset({"chromium", "chrome", "chrome-headless-shell", "headless_shell"})
DRIVER_NAMES = frozenset({"chromedriver"})


def memory_mb(processes: Iterable[psutil.Process]) -> tuple[float, float]:
    """Summed PSS and USS (pages no other process maps) of ``processes``, in MB."""
    pss = uss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue  # it ended between listing and reading
        pss += info.pss
        uss += info.uss
    return pss / 1e6, uss / 1e6


def descendants(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.Error:
        return []


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def browser_pss_mb(root: psutil.Process) -> float:
    """PSS of every Chromium process under ``root`` (drivers and Python not included)."""
    return memory_mb(p for p in descendants(root) if _name(p) in BROWSER_NAMES)[0]


def per_browser_mb(root: psutil.Process) -> list[tuple[float, float]]:
    """PSS and USS of each ChromeDriver under ``root`` together with its Chromium processes: one pair per browser."""
    return [memory_mb([driver, *descendants(driver)]) for driver in descendants(root) if _name(driver) in DRIVER_NAMES]


class Sampler:
    """Calls ``measure`` every ``interval`` seconds on a thread while in the ``with`` block."""

    def __init__(self, measure: Callable[[], float | None], interval: float = 0.5) -> None:
        self.samples: list[float] = []
        self._measure = measure
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            value = self._measure()
            if value:
                self.samples.append(value)

    @property
    def peak(self) -> float:
        return max(self.samples, default=0.0)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0
