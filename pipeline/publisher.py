"""Publish scraped records to Kafka: one producer per process, keyed by the stable record id."""

from __future__ import annotations

import logging
import threading

from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.clients import make_admin, make_producer
from pipeline.envelope import encode, records_topic
from scrapeline.records import ScrapedRecord
from scrapeline.settings import KafkaSettings

log = logging.getLogger("scrapeline.publisher")


class PublishError(RuntimeError):
    """Some records were not acknowledged by the broker."""


def ensure_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """Create the topics that do not exist yet (brokers may forbid auto-creation)."""
    admin = make_admin(settings)
    try:
        missing = [t for t in topics if t not in set(admin.list_topics())]
        if not missing:
            return
        try:
            admin.create_topics(
                [NewTopic(t, settings.partitions, settings.replication_factor) for t in missing], validate_only=False
            )
        except TopicAlreadyExistsError:
            pass  # another process created it first
    finally:
        admin.close()


class RecordPublisher:
    """Send :class:`ScrapedRecord` envelopes to ``<prefix>.records.<kind>``; ``flush`` reports what failed."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer = make_producer(settings)
        self._known_topics: set[str] = set()
        self._lock = threading.Lock()
        self._failed: list[tuple[ScrapedRecord, str]] = []
        self.sent = 0

    def publish(self, record: ScrapedRecord) -> None:
        topic = records_topic(self.settings.topic_prefix, record.kind)
        if topic not in self._known_topics:
            ensure_topics(self.settings, [topic])
            self._known_topics.add(topic)
        future = self._producer.send(topic, key=record.id.encode(), value=encode(record))
        future.add_errback(self._on_error, record)
        self.sent += 1

    def _on_error(self, exc: BaseException, record: ScrapedRecord) -> None:
        with self._lock:
            self._failed.append((record, f"{type(exc).__name__}: {exc}"))
        log.error("record %s was not delivered: %s", record.id, exc)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every sent record's acknowledgement; :class:`PublishError` if any failed."""
        try:
            self._producer.flush(timeout)
        except KafkaError as exc:
            raise PublishError(f"flush failed: {exc}") from exc
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            raise PublishError(f"{len(failed)} of {self.sent} records were not delivered; first: {failed[0][1]}")

    def close(self) -> None:
        self._producer.close()
