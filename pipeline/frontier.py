"""The crawl frontier in Kafka, shared by every scrape daemon started with one config.

Topics ``<prefix>.frontier.<plugin>``, one per plugin, hold JSON messages:

- a round start, keyed by the plugin: ``{"plugin", "round", "max_pages"}``;
- a page, keyed by its host: ``{"plugin", "round", "max_pages", "url", "meta"}``.

The daemons form one consumer group, ``<prefix>.scrapers``. Keyed by host, all pages
of a host are in one partition, so one daemon at a time loads them and its politeness
(rate, concurrency, robots.txt) holds for the whole cluster.

Whoever holds a partition reads it in offset order and keeps the first message of each
round start and of each (round, page fingerprint) while the round has pages left in
``max_pages``; the rest are dropped. The decision depends only on the partition's
messages, so a daemon that takes a partition over (after a rebalance, a crash or a
restart) reads it again from its start up to the committed offset and decides exactly
as its predecessor did: the frontier keeps no state outside Kafka. A round therefore
starts once however many daemons ask for it, and ``max_pages`` counts per host.

Offsets are committed up to the first kept message not done yet; kept messages done
beyond it are listed in the commit's metadata so that a restart does not load them again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Mapping
from urllib.parse import urlsplit

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from w3lib.url import canonicalize_url

from pipeline.clients import kafka_options, make_producer
from pipeline.publisher import ensure_topics
from scrapeline.settings import KafkaSettings

log = logging.getLogger("scrapeline.frontier")
# Brokers keep up to 4096 bytes of metadata per committed offset (offset.metadata.max.bytes).
METADATA_LIMIT = 3500
# Commits at most this often: a page done is committed within it, so a rebalance or a stop loads few again.
COMMIT_INTERVAL = 0.2


def frontier_topic(prefix: str, plugin: str) -> str:
    return f"{prefix}.frontier.{plugin}"


def scrape_group(prefix: str) -> str:
    """The consumer group of the scrape daemons."""
    return f"{prefix}.scrapers"


def fingerprint(url: str) -> str:
    """Scrapy's request fingerprint for a GET: SHA-1 of the canonical URL (query sorted, fragment dropped)."""
    return hashlib.sha1(canonicalize_url(url).encode()).hexdigest()


@dataclass(frozen=True)
class FrontierEntry:
    """A round to start (``url`` None) or a page to load; ``ticket`` goes back to :meth:`KafkaFrontier.done`."""

    plugin: str
    round: str
    ticket: int
    url: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


class _Partition:
    """What the holder of one partition knows: its decisions so far and the offsets not done yet."""

    def __init__(self, committed: int, done_ahead: set[int]) -> None:
        self.committed = committed  # below: done by an earlier holder, read again only to decide
        self.done_ahead = done_ahead  # at or above: done too (the commit's metadata)
        self.next = 0  # the offset after the last one read
        self.open: set[int] = set()  # handed out, not done
        self.seen: dict[str, set[str]] = {}
        self.kept: dict[str, int] = {}
        self.dirty = False

    def keep(self, round_key: str, fingerprint: str | None, max_pages: int) -> bool:
        seen = self.seen.setdefault(round_key, set())
        if fingerprint is None:  # the round start, once
            if "" in seen:
                return False
            seen.add("")
            return True
        if fingerprint in seen or self.kept.get(round_key, 0) >= max_pages:
            return False
        seen.add(fingerprint)
        self.kept[round_key] = self.kept.get(round_key, 0) + 1
        return True

    def commit_point(self) -> int:
        return min(self.open) if self.open else max(self.next, self.committed)

    def metadata(self) -> str:
        """The done offsets above the commit point, as [first, last] runs, as many as fit."""
        point = self.commit_point()
        done = sorted({o for o in range(point, self.next) if o not in self.open} | {o for o in self.done_ahead if o >= self.next})
        runs: list[list[int]] = []
        for offset in done:
            if runs and runs[-1][1] == offset - 1:
                runs[-1][1] = offset
            else:
                runs.append([offset, offset])
        text = json.dumps({"done": runs}, separators=(",", ":"))
        while len(text) > METADATA_LIMIT:  # the rest are loaded again after a restart: never lost
            runs = runs[: len(runs) // 2]
            text = json.dumps({"done": runs}, separators=(",", ":"))
        return text if runs else ""


def _done_ahead(metadata: str | None) -> set[int]:
    try:
        runs = json.loads(metadata)["done"] if metadata else []
        return {offset for first, last in runs for offset in range(int(first), int(last) + 1)}
    except (ValueError, KeyError, TypeError):
        return set()


class KafkaFrontier:
    """The frontier of ``plugins`` as one member of the scrape daemons' group.

    ``client_id`` names this member in the group (``scrapeline status`` shows it and reads
    the metrics address after its ``@``).
    """

    def __init__(self, settings: KafkaSettings, plugins: Collection[str], *, client_id: str | None = None) -> None:
        self.settings = settings
        self.topics = {frontier_topic(settings.topic_prefix, plugin): plugin for plugin in plugins}
        ensure_topics(settings, sorted(self.topics))
        member = dataclasses.replace(settings, client_id=client_id) if client_id else settings
        self._producer = make_producer(settings)
        self._consumer = KafkaConsumer(
            **kafka_options(member),
            group_id=scrape_group(settings.topic_prefix),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            max_poll_interval_ms=settings.max_poll_interval_ms,
            # A link found on a page is the next page of its host: fetch it back without waiting.
            fetch_max_wait_ms=20,
        )
        self._consumer.subscribe(topics=sorted(self.topics), listener=_Listener(self))
        self._parts: dict[TopicPartition, _Partition] = {}
        self._unread: set[TopicPartition] = set()  # assigned, committed offset not read yet
        self._tickets: dict[int, tuple[TopicPartition, int]] = {}
        self._released: set[int] = set()
        self._ids = itertools.count(1)
        self._last_commit = 0.0
        self._unconfirmed: list[tuple[Any, str, bytes, bytes]] = []  # sends since the last commit

    # -- what the daemon calls -----------------------------------------------------------------

    def start_round(self, plugin: str, round_key: str, max_pages: int) -> None:
        body = {"plugin": plugin, "round": round_key, "max_pages": max_pages}
        self._send(plugin, plugin, body)

    def put(self, plugin: str, round_key: str, max_pages: int, requests: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        for url, meta in requests:
            body = {"plugin": plugin, "round": round_key, "max_pages": max_pages, "url": url, "meta": dict(meta)}
            self._send(plugin, urlsplit(url).netloc, body)
        self._producer.flush(timeout=self.settings.request_timeout_ms / 1000)  # without lingering: workers may wait for these

    def poll(self, timeout: float, max_entries: int) -> list[FrontierEntry]:
        ready = [tp for tp in self._parts if tp not in self._unread]
        if max_entries <= 0:
            self._consumer.pause(*ready)  # enough queued: stay in the group, fetch nothing
        else:
            self._consumer.resume(*ready)
        polled = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max(1, max_entries))
        self._read_committed()
        entries: list[FrontierEntry] = []
        for tp, messages in polled.items():
            part = self._parts.get(tp)
            for message in messages if part is not None else ():
                entry = self._decide(tp, part, message.offset, message.value)
                if entry is not None:
                    entries.append(entry)
        return entries

    def done(self, ticket: int) -> None:
        tp, offset = self._tickets.pop(ticket, (None, -1))
        part = self._parts.get(tp) if tp is not None else None
        if part is not None:
            part.open.discard(offset)
            part.dirty = True

    def released(self) -> set[int]:
        found, self._released = self._released, set()
        return found

    def caught_up(self, plugin: str) -> bool:
        topic = frontier_topic(self.settings.topic_prefix, plugin)
        if any(tp.topic == topic for tp in self._unread):
            return False
        if not self._confirm_sends():
            return False
        parts = [tp for tp in self._parts if tp.topic == topic]
        if not parts:
            return True
        ends = self._consumer.end_offsets(parts)
        return all(self._parts[tp].next >= ends.get(tp, 0) for tp in parts if tp in self._parts)

    def sync(self, *, now: bool = False) -> None:
        if not now and time.monotonic() - self._last_commit < COMMIT_INTERVAL:
            return
        self._last_commit = time.monotonic()
        self._commit([tp for tp, part in self._parts.items() if part.dirty])

    def assignment(self) -> dict[str, list[int]]:
        """The partitions this daemon holds, by plugin."""
        held: dict[str, list[int]] = {}
        for tp in sorted(self._parts, key=lambda tp: (tp.topic, tp.partition)):
            held.setdefault(self.topics.get(tp.topic, tp.topic), []).append(tp.partition)
        return held

    def close(self) -> None:
        try:
            self.sync(now=True)
        finally:
            self._consumer.close(autocommit=False)
            self._producer.close(timeout=5)

    # -- internals -----------------------------------------------------------------------------

    def _send(self, plugin: str, key: str, body: dict[str, Any]) -> None:
        value = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        topic = frontier_topic(self.settings.topic_prefix, plugin)
        self._unconfirmed.append((self._producer.send(topic, key=key.encode(), value=value), topic, key.encode(), value))

    def _confirm_sends(self) -> bool:
        """Whether everything sent since the last commit is in Kafka; what failed is sent again."""
        self._producer.flush(timeout=self.settings.request_timeout_ms / 1000)
        failed = [(topic, key, value) for future, topic, key, value in self._unconfirmed if not future.succeeded()]
        self._unconfirmed = []
        for topic, key, value in failed:
            self._unconfirmed.append((self._producer.send(topic, key=key, value=value), topic, key, value))
        if failed:
            log.warning("%d frontier messages were not acknowledged; sent again, offsets wait for them", len(failed))
        return not failed

    def _decide(self, tp: TopicPartition, part: _Partition, offset: int, value: bytes | None) -> FrontierEntry | None:
        if offset < part.next:
            return None  # read again after a seek: decided already
        part.next = offset + 1
        try:
            body = json.loads(value or b"")
            plugin, round_key, url = str(body["plugin"]), str(body["round"]), body.get("url")
            keep = part.keep(round_key, None if url is None else fingerprint(str(url)), int(body.get("max_pages", 0)))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("%s[%d] offset %d is not a frontier message (%s); skipped", tp.topic, tp.partition, offset, exc)
            keep = False
        if offset < part.committed or offset in part.done_ahead:
            return None
        part.dirty = True
        if not keep:
            return None  # a duplicate, or past max_pages: done at once
        ticket = next(self._ids)
        self._tickets[ticket] = (tp, offset)
        part.open.add(offset)
        return FrontierEntry(plugin, round_key, ticket, None if url is None else str(url), body.get("meta") or {})

    def _read_committed(self) -> None:
        """Set up newly assigned partitions: read their committed offset, then the partition from its start."""
        for tp in sorted(self._unread, key=lambda tp: (tp.topic, tp.partition)):
            committed = self._consumer.committed(tp, metadata=True)
            offset = committed.offset if committed is not None and committed.offset >= 0 else 0
            self._parts[tp] = _Partition(offset, _done_ahead(committed.metadata if committed is not None else None))
            self._consumer.seek_to_beginning(tp)
            self._consumer.resume(tp)
            self._unread.discard(tp)
            log.info("holding %s[%d] from offset %d", tp.topic, tp.partition, offset)

    def _commit(self, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        try:
            if not self._confirm_sends():  # the links found on a page are in Kafka before the page counts as done
                return
            offsets = {tp: OffsetAndMetadata(self._parts[tp].commit_point(), self._parts[tp].metadata(), -1) for tp in partitions}
            self._consumer.commit(offsets)
        except CommitFailedError as exc:
            log.warning("offsets not committed, the partitions went to another daemon (%s); it loads those pages again", exc)
            return
        except KafkaError as exc:
            log.warning("offsets not committed (%s); trying again", exc)
            return
        for tp in partitions:
            self._parts[tp].dirty = False

    def _on_revoked(self, revoked: Collection[TopicPartition]) -> None:
        # Called on the client's network thread, which must not block (no commit here): what was done
        # since the last commit, and the pages loading now, are loaded again by the next holder.
        gone = set(revoked)
        for ticket, (tp, _) in list(self._tickets.items()):
            if tp in gone:
                self._released.add(ticket)
                del self._tickets[ticket]
        for tp in gone:
            self._parts.pop(tp, None)
            self._unread.discard(tp)
        if gone:
            log.info("released %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(gone)))

    def _on_assigned(self, assigned: Collection[TopicPartition]) -> None:
        fresh = [tp for tp in assigned if tp not in self._parts]
        if fresh:
            self._consumer.pause(*fresh)  # nothing is read before its committed offset is known
            self._unread.update(fresh)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, frontier: KafkaFrontier) -> None:
        self.frontier = frontier

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.frontier._on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.frontier._on_assigned(assigned)
