"""A pool of worker processes, each with its own browser, fed page jobs by the parent.

The parent keeps one pipe per worker, so it always knows which job a worker
holds: a worker that dies or hangs is replaced and its job handed out again
(up to ``[pool] retries`` more times) instead of stalling the round.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Callable, Iterable

from scrapeline.records import ScrapedRecord
from scrapeline.settings import Settings
from scrapers.jobs import Job, JobResult
from scrapers.plugin import Plugin
from scrapers.registry import Registry, discover
from scrapers.stats import RoundReport
from scrapers.worker import worker_main

log = logging.getLogger("scrapeline.pool")

RecordSink = Callable[[ScrapedRecord], None]
# Spawned, not forked: the parent runs Kafka client threads, and a fork would copy their locks.
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class _WorkerHandle:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    job: Job | None = None
    since: float = 0.0


class ScrapePool:
    """Run scrape rounds on ``[pool] workers`` processes; records go to ``sink`` as they arrive."""

    def __init__(self, settings: Settings, sink: RecordSink, *, registry: Registry | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.registry = registry if registry is not None else discover(settings.pool.plugin_paths)
        self._workers: list[_WorkerHandle] = []
        self._plugins: dict[str, Plugin] = {}
        # (plugin, rate bucket) -> earliest monotonic time the next page of that bucket may start.
        self._next_slot: dict[tuple[str, str], float] = {}

    def __enter__(self) -> "ScrapePool":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        while len(self._workers) < max(1, self.settings.pool.workers):
            self._workers.append(self._spawn())

    def close(self, timeout: float = 10.0) -> None:
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                _kill_group(worker.process)
                worker.process.join()
            worker.conn.close()
        self._workers.clear()

    def run_round(self, plugin_names: Iterable[str]) -> RoundReport:
        """Visit every start page of the named plugins and the links they follow; return the counts."""
        report = RoundReport()
        pending: deque[Job] = deque()
        seen: dict[str, set[str]] = {}
        budget: dict[str, int] = {}
        for name in plugin_names:
            try:
                plugin = self.registry.create(name, self.settings)
                requests = list(plugin.start_requests())
                self._plugins[name] = plugin
            except Exception as exc:  # one plugin's bad setup must not stop the others
                report.problems.append(f"{name}: {exc}")
                log.error("plugin %s cannot start: %s", name, exc)
                continue
            report.stats(name)
            seen[name] = set()
            budget[name] = int(plugin.settings["max_pages"])
            for request in requests:
                self._enqueue(pending, seen, budget, Job(name, request))
        started = {name: time.monotonic() for name in seen}

        self.start()
        while pending or any(w.job for w in self._workers):
            self._dispatch(pending)
            if not any(w.job for w in self._workers):
                time.sleep(0.05)  # every pending page waits for its rate limit
                continue
            for result in self._collect(pending, report):
                self._account(result, report, pending, seen, budget)
        for name, t0 in started.items():
            report.stats(name).seconds = time.monotonic() - t0
        return report

    @staticmethod
    def _enqueue(pending: deque[Job], seen: dict[str, set[str]], budget: dict[str, int], job: Job) -> None:
        url = job.request.url
        if url in seen[job.plugin] or budget[job.plugin] <= 0:
            return
        seen[job.plugin].add(url)
        budget[job.plugin] -= 1
        pending.append(job)

    def _dispatch(self, pending: deque[Job]) -> None:
        for index, worker in enumerate(self._workers):
            if not pending:
                return
            if worker.job is not None:
                continue
            job = self._next_allowed(pending)
            if job is None:
                return
            if not worker.process.is_alive():
                worker = self._replace(index)
            try:
                worker.conn.send(job)
            except (OSError, BrokenPipeError):
                pending.appendleft(job)
                self._replace(index)
                continue
            worker.job, worker.since = job, time.monotonic()

    def _next_allowed(self, pending: deque[Job]) -> Job | None:
        """The first pending job whose rate bucket has a free slot now, taken out of ``pending``."""
        now = time.monotonic()
        for position, job in enumerate(pending):
            bucket, per_minute = self._plugins[job.plugin].rate_limit(job.request)
            key = (job.plugin, bucket)
            if per_minute > 0 and now < self._next_slot.get(key, 0.0):
                continue
            if per_minute > 0:
                self._next_slot[key] = now + 60.0 / per_minute
            del pending[position]
            return job
        return None

    def _collect(self, pending: deque[Job], report: RoundReport) -> list[JobResult]:
        busy = [w for w in self._workers if w.job is not None]
        waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(waitables, timeout=1.0))
        results: list[JobResult] = []
        now = time.monotonic()
        for worker in busy:
            job = worker.job
            assert job is not None
            if worker.conn in ready:
                try:
                    results.append(worker.conn.recv())
                    worker.job = None
                    continue
                except (EOFError, OSError):
                    pass  # died while answering: handled as a dead worker below
            died = worker.process.sentinel in ready or not worker.process.is_alive()
            hung = now - worker.since > self.settings.pool.job_timeout
            if not (died or hung):
                continue
            reason = "worker process died" if died else f"no answer within [pool] job_timeout {self.settings.pool.job_timeout:g} s"
            log.warning("%s on %s (%s); replacing the worker", reason, job.request.url, job.plugin)
            self._replace(self._workers.index(worker))
            if job.dispatches <= self.settings.pool.retries:
                report.stats(job.plugin).retries += 1
                pending.appendleft(Job(job.plugin, job.request, job.dispatches + 1))
            else:
                results.append(JobResult(job, error=f"{job.request.url}: {reason} after {job.dispatches} tries", attempts=job.dispatches))
        return results

    def _account(self, result: JobResult, report: RoundReport, pending: deque[Job], seen: dict[str, set[str]], budget: dict[str, int]) -> None:
        stats = report.stats(result.job.plugin)
        stats.pages += 1
        stats.retries += result.attempts - 1
        for reason, record in result.invalid:
            stats.invalid_records += 1
            log.error("%s: invalid record from %s: %s %s", result.job.plugin, result.job.request.url, reason, record)
        if result.error:
            stats.errors += 1
            log.error("%s: %s", result.job.plugin, result.error)
        for record in result.records:
            self.sink(record)
            stats.records += 1
        for request in result.follow:
            self._enqueue(pending, seen, budget, Job(result.job.plugin, request))

    def _spawn(self) -> _WorkerHandle:
        parent_conn, child_conn = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=worker_main,
            args=(self.settings, child_conn, logging.getLogger().getEffectiveLevel()),
            name="scrapeline-worker",
            daemon=True,
        )
        process.start()
        child_conn.close()
        return _WorkerHandle(process, parent_conn)

    def _replace(self, index: int) -> _WorkerHandle:
        old = self._workers[index]
        _kill_group(old.process)
        old.process.join(5)
        old.conn.close()
        self._workers[index] = self._spawn()
        return self._workers[index]


def _kill_group(process: multiprocessing.process.BaseProcess) -> None:
    """Kill a worker with its ChromeDriver and Chromium (each worker leads its own process group)."""
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
