"""The worker process: its entry point, and how it dies with the pool and takes its browser along."""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import signal
from multiprocessing.connection import Connection

from scrapeline.settings import Settings
from scrapers.browser import end_remote_session
from scrapers.jobs import JobResult
from scrapers.worker import PageWorker


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the pool process dies, however it dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the pipe closing still stops the worker


# The running worker, so that a SIGTERM can free its Grid session before the group dies.
_current_worker: PageWorker | None = None


def _kill_own_group(signum: int, frame: object) -> None:
    worker = _current_worker
    if worker is not None and worker._browser is not None and worker.settings.browser.remote_url:
        end_remote_session(worker.settings.browser.remote_url, worker._browser.driver.session_id, timeout=2.0)
    # The browser's processes share this group: none outlives the worker.
    os.killpg(0, signal.SIGKILL)


def worker_main(settings: Settings, conn: Connection, log_level: int) -> None:
    """Entry point of a worker process: answer jobs until told to stop or the pool goes away."""
    parent = os.getppid()
    os.setpgrp()  # so the pool can kill this worker together with its browser
    _die_with_parent()
    signal.signal(signal.SIGTERM, _kill_own_group)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when workers stop
    if os.getppid() != parent:
        return  # the pool died before the death signal was armed
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    global _current_worker
    worker = _current_worker = PageWorker(settings)
    try:
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                break  # the pool process is gone
            if job is None:
                break
            result = worker.run(job)
            try:
                conn.send(result)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                # Whatever slipped through still ends as this page's error, not as a dead worker.
                conn.send(JobResult(job, error=f"{job.plugin}: the result of {job.request.url} cannot be sent: {exc}", attempts=result.attempts))
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()
