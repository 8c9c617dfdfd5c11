"""What the pool sends to a worker and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field

from scrapeline.records import ScrapedRecord
from scrapers.plugin import Request


@dataclass(frozen=True)
class Job:
    """Render one page with one plugin."""

    plugin: str
    request: Request
    # How many times the pool has handed this job out (a dead or hung worker costs one).
    dispatches: int = 1


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
