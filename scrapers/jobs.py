"""What the pool sends to a worker and what comes back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from scrapeline.records import ScrapedRecord
from scrapers.plugin import Request


@dataclass(frozen=True)
class Job:
    """Render one page with one plugin, as part of one round."""

    plugin: str
    request: Request
    round_id: int = 0
    # How many times the pool has handed this job out (a dead or hung worker costs one).
    dispatches: int = 1
    # Loads tried on earlier dispatches (a page sent back for its Retry-After keeps its count).
    earlier_attempts: int = 0

    def again(self, attempts: int = 0) -> "Job":
        return dataclasses.replace(self, dispatches=self.dispatches + 1, earlier_attempts=self.earlier_attempts + attempts)


@dataclass
class JobResult:
    job: Job
    records: list[ScrapedRecord] = field(default_factory=list)
    follow: list[Request] = field(default_factory=list)
    # Records the plugin yielded that broke its schema: (reason, record).
    invalid: list[tuple[str, dict]] = field(default_factory=list)
    error: str | None = None
    attempts: int = 1
    seconds: float = 0.0
    # Seconds per phase: navigate, wait (readiness and interact), html, parse; the pool adds publish.
    timings: dict[str, float] = field(default_factory=dict)
    # Seconds the site asked us to wait (Retry-After of a 429/503), when it said.
    retry_after: float | None = None
    # The worker's Selenium Grid session, so the pool can end it if the worker has to be killed.
    browser_session: str | None = None
    # The folder of the page's failure snapshot (scrapers/snapshots.py), when one was taken.
    snapshot: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def sent_back(self, retries: int) -> bool:
        """Whether the pool queues the page again for its Retry-After instead of counting it as failed."""
        return self.error is not None and self.retry_after is not None and self.job.dispatches <= retries


@dataclass(frozen=True)
class FailedPage:
    """A page that still failed after every retry: what goes to the failed-pages topic."""

    plugin: str
    url: str
    attempts: int
    error: str
    # Where the page's snapshot is (html, screenshot, console, status), when one was taken.
    snapshot: str | None = None
