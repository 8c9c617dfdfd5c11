"""Publish scraped records to Kafka through the on-disk spool: one producer per process, in order.

``publish`` only appends to the spool; a sender thread moves the spool to
Kafka and trims it once the broker acknowledged. While Kafka is unreachable
records wait on disk and the sender retries with backoff, resuming where it
stopped, also after a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from pipeline.clients import make_admin, make_producer
from pipeline.envelope import encode, failed_pages_topic, records_topic
from pipeline.spool import Spool
from scrapeline.records import ScrapedRecord
from scrapeline.settings import KafkaSettings

log = logging.getLogger("scrapeline.publisher")
BATCH = 500


class PublishError(RuntimeError):
    """Records are still waiting in the spool (Kafka unreachable); they are kept, not lost."""


def ensure_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """Create the topics that do not exist yet (brokers may forbid auto-creation)."""
    admin = make_admin(settings)
    try:
        missing = [t for t in topics if t not in set(admin.list_topics())]
        if not missing:
            return
        try:
            admin.create_topics([NewTopic(t, settings.partitions, settings.replication_factor) for t in missing])
        except TopicAlreadyExistsError:
            pass  # another process created it first
    finally:
        admin.close()


class RecordPublisher:
    """Send :class:`ScrapedRecord` envelopes to ``<prefix>.records.<kind>``, failed pages to ``<prefix>.failed``."""

    def __init__(self, settings: KafkaSettings, spool_dir: Path, *, spool_max_mb: int = 1024) -> None:
        self.settings = settings
        self.spool = Spool(spool_dir, spool_max_mb * 1024 * 1024)
        self.outage_since: float | None = None
        self._known_topics: set[str] = set()
        self._producer = None
        self._closing = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="kafka-sender", daemon=True)
        self._sender.start()

    def publish(self, record: ScrapedRecord) -> None:
        topic = records_topic(self.settings.topic_prefix, record.kind)
        self.spool.append(topic, record.id.encode(), encode(record), block_log=self._spool_full)

    def publish_failure(self, plugin: str, url: str, attempts: int, error: str) -> None:
        body = {"plugin": plugin, "url": url, "attempts": attempts, "error": error, "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.spool.append(failed_pages_topic(self.settings.topic_prefix), url.encode(), json.dumps(body).encode())

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until Kafka acknowledged everything published; :class:`PublishError` when time ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.spool.pending_bytes() > 0:
            if deadline is not None and time.monotonic() >= deadline:
                raise PublishError(
                    f"Kafka did not acknowledge every record in time; {self.spool.pending_bytes()} bytes stay in the spool "
                    f"{self.spool.folder} and are sent when the broker is reachable again"
                )
            time.sleep(0.05)

    def close(self, timeout: float = 10.0) -> None:
        self._closing.set()
        self._sender.join(timeout)
        if self._producer is not None:
            self._producer.close(timeout=5)
        self.spool.close()

    # -- the sender thread ---------------------------------------------------------------------

    def _send_loop(self) -> None:
        backoff = 0.5
        while not self._closing.is_set():
            batch = self.spool.read(BATCH)
            if not batch:
                self.spool.wait_for_data(0.2)
                continue
            try:
                self._send(batch)
            except Exception as exc:  # any failure: keep the batch, back off, try again
                self._reset_producer()
                if self.outage_since is None:
                    self.outage_since = time.monotonic()
                    log.warning("Kafka unavailable (%s); records wait in the spool %s", _short(exc), self.spool.folder)
                self._closing.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if self.outage_since is not None:
                log.warning("Kafka reachable again after %.0f s; sending the spool", time.monotonic() - self.outage_since)
                self.outage_since = None
            backoff = 0.5
            self.spool.acknowledge(batch[-1].next_position)

    def _send(self, batch: list) -> None:
        if self._producer is None:
            self._producer = make_producer(self.settings)
        new_topics = sorted({m.topic for m in batch} - self._known_topics)
        if new_topics:
            ensure_topics(self.settings, new_topics)
            self._known_topics.update(new_topics)
        futures = [self._producer.send(m.topic, key=m.key, value=m.value) for m in batch]
        self._producer.flush(timeout=self.settings.request_timeout_ms / 1000)
        for future in futures:
            future.get(timeout=0)  # raises the delivery error, if any

    def _reset_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # closing a broken producer may fail too; it is dropped either way
                pass
            self._producer = None

    def _spool_full(self) -> None:
        log.warning("the spool %s is full ([pool] spool_max_mb); scraping waits for Kafka", self.spool.folder)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


