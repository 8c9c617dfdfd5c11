"""What the daemon needs from a crawl frontier shared by several daemons.

The frontier is a queue of page requests that outlives any one daemon (the Kafka
one is ``pipeline.frontier.KafkaFrontier``; the application wires it in). This
module only says its shape, so the scrapers need not know Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Iterable, Mapping, Protocol

from scrapers.jobs import Job


class FrontierEntry(Protocol):
    """One thing to do: a round to start (``url`` is None) or a page to visit.

    ``ticket`` goes back to :meth:`Frontier.done` once it is done.
    """

    @property
    def plugin(self) -> str: ...
    @property
    def round(self) -> str: ...
    @property
    def ticket(self) -> int: ...
    @property
    def url(self) -> str | None: ...
    @property
    def meta(self) -> Mapping[str, Any]: ...


class Frontier(Protocol):
    def start_round(self, plugin: str, round_key: str, max_pages: int) -> None:
        """Ask for ``round_key`` to start; however many daemons ask, it starts once."""

    def put(self, plugin: str, round_key: str, max_pages: int, requests: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Queue pages (url, meta) of a round; pages already queued in that round are dropped."""

    def poll(self, timeout: float, max_entries: int) -> list[FrontierEntry]:
        """Up to ``max_entries`` entries that this daemon holds now (0: none, but stay in the cluster)."""

    def done(self, ticket: int) -> None:
        """The entry is finished: its records are published and its links put back."""

    def released(self) -> Collection[int]:
        """Tickets handed out earlier that another daemon now holds (since the last call)."""

    def caught_up(self, plugin: str) -> bool:
        """Every entry of ``plugin`` this daemon holds has been handed out (nothing more waits for it now)."""

    def sync(self, *, now: bool = False) -> None:
        """Make what was put durable and remember what is done, so a restart resumes from here
        (at most once a second unless ``now``)."""

    def assignment(self) -> Mapping[str, list[int]]:
        """The partitions this daemon holds, by plugin."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class FrontierJob(Job):
    """A page job that came from the frontier: its ticket travels with it to the worker and back."""

    ticket: int = 0
