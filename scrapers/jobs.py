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

    def again(self) -> "Job":
        return dataclasses.replace(self, dispatches=self.dispatches + 1)


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

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class FailedPage:
    """A page that still failed after every retry: what goes to the failed-pages topic."""

    plugin: str
    url: str
    attempts: int
    error: str
