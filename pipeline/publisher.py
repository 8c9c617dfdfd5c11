"""Publish scraped records to Kafka through the on-disk spool: one producer per process, in order.

``publish`` only appends to the spool; a sender thread moves the spool to
Kafka and trims it once the broker acknowledged. While Kafka is unreachable
records wait on disk and the sender retries with backoff, resuming where it
stopped, also after a restart. While the spool's disk is full, ``publish``
waits and tries again: scraping pauses, nothing is dropped, and :meth:`RecordPublisher.problem`
says why (``/healthz``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.clients import make_admin, make_producer
from pipeline.envelope import encode, failed_pages_topic, records_topic
from pipeline.spool import Spool, SpoolDiskFull
from scrapeline.records import ScrapedRecord
from scrapeline.settings import KafkaSettings

log = logging.getLogger("scrapeline.publisher")
BATCH = 500
# Seconds between tries to write to a full disk.
DISK_FULL_RETRY_S = 1.0


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
        self.disk_full_since: float | None = None
        self._known_topics: set[str] = set()
        self._producer = None
        self._closing = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="kafka-sender", daemon=True)
        self._sender.start()

    def publish(self, record: ScrapedRecord) -> None:
        topic = records_topic(self.settings.topic_prefix, record.kind)
        self._append(topic, record.id.encode(), encode(record))

    def publish_failure(self, plugin: str, url: str, attempts: int, error: str, snapshot: str | None = None) -> None:
        body = {"plugin": plugin, "url": url, "attempts": attempts, "error": error, "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if snapshot:
            body["snapshot"] = snapshot  # the folder with the page's html, screenshot, console and status
        self._append(failed_pages_topic(self.settings.topic_prefix), url.encode(), json.dumps(body).encode())

    def problem(self) -> str | None:
        """Why records cannot be kept now (for ``/healthz``), or None."""
        if self.disk_full_since is not None:
            return f"the spool's disk is full for {time.monotonic() - self.disk_full_since:.0f} s; scraping waits for room in {self.spool.folder}"
        return None

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

    def _append(self, topic: str, key: bytes, value: bytes) -> None:
        """Into the spool; while its disk is full, wait and try again (Ctrl-C or a forced stop ends the wait)."""
        while True:
            try:
                self.spool.append(topic, key, value, block_log=self._spool_full)
            except SpoolDiskFull as exc:
                if self.disk_full_since is None:
                    self.disk_full_since = time.monotonic()
                    log.error("%s", exc)
                time.sleep(DISK_FULL_RETRY_S)
                continue
            if self.disk_full_since is not None:
                log.warning("the spool's disk has room again after %.0f s; scraping goes on", time.monotonic() - self.disk_full_since)
                self.disk_full_since = None
            return

    def _send_loop(self) -> None:
        backoff = 0.5
        while not self._closing.is_set():
            try:
                batch = self.spool.read(BATCH)
                if not batch.messages:
                    self.spool.acknowledge(batch.end)  # past torn lines, if there were any
                    self.spool.sync()  # caught up: what is spooled is made durable
                    self.spool.wait_for_data(0.2)
                    continue
            except OSError as exc:  # the sender must outlive a bad moment of the disk
                log.error("the spool %s cannot be read (%s); trying again", self.spool.folder, exc)
                self._closing.wait(1.0)
                continue
            try:
                self._send(batch.messages)
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
            self.spool.acknowledge(batch.end)

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


class SpoolCollector(Collector):
    """The spool's health as Prometheus metrics, read when scraped (the publisher may be waiting on a full disk)."""

    def __init__(self, publisher: RecordPublisher) -> None:
        self.publisher = publisher

    def collect(self):  # type: ignore[no-untyped-def] - prometheus_client's signature
        yield GaugeMetricFamily(
            "scrapeline_spool_disk_full", "1 while the spool's disk is full and scraping waits", value=float(self.publisher.disk_full_since is not None)
        )
        yield CounterMetricFamily("scrapeline_spool_torn_lines", "Torn spool lines moved to .torn files", value=self.publisher.spool.torn_count)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


