"""Read envelopes from Kafka, index them, and commit offsets only once Elasticsearch has them.

At-least-once: a batch's offsets are committed after every message in it was
either acknowledged by Elasticsearch or written to the dead-letter topic. A
replay after a crash re-indexes the same ``_id`` and so never duplicates.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError

from pipeline.clients import make_consumer, make_elasticsearch, make_producer
from pipeline.documents import index_action, index_name
from pipeline.envelope import EnvelopeError, dead_letter_topic, decode, records_topic_pattern
from pipeline.indexer import BulkIndexer, StopRequested
from pipeline.publisher import ensure_topics
from scrapeline.convert import utc_now_iso
from scrapeline.settings import Settings

log = logging.getLogger("scrapeline.consumer")


@dataclass
class ConsumeStats:
    consumed: int = 0
    indexed: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commit_failures: int = 0


class RecordConsumer:
    """One member of the indexing consumer group."""

    def __init__(self, settings: Settings, *, group_id: str | None = None, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.stop = stop or threading.Event()
        prefix = settings.kafka.topic_prefix
        self.dlq_topic = dead_letter_topic(prefix)
        self._consumer = make_consumer(settings.kafka, group_id=group_id)
        self._consumer.subscribe(pattern=records_topic_pattern(prefix))
        self._dlq = make_producer(settings.kafka)
        self._dlq_ready = False
        self._indexer = BulkIndexer(make_elasticsearch(settings.elasticsearch), settings.elasticsearch, stop=self.stop)
        self._touched_indices: set[str] = set()
        self.stats = ConsumeStats()

    def run(self, *, until_idle: float | None = None, drain: bool = False) -> ConsumeStats:
        """Consume until stopped; ``drain`` stops once every assigned partition is read to its end,
        ``until_idle`` once no message came for that many seconds."""
        self._indexer.ensure_template()
        last_message = time.monotonic()
        try:
            while not self.stop.is_set():
                batch = self._consumer.poll(timeout_ms=500)
                messages = [m for part in batch.values() for m in part]
                if messages:
                    self._handle(messages)
                    last_message = time.monotonic()
                    continue
                if drain and self._caught_up():
                    break
                if until_idle is not None and time.monotonic() - last_message >= until_idle:
                    break
        except StopRequested:
            log.warning("stopped while Elasticsearch was unavailable; the batch stays uncommitted and will be read again")
        self.refresh()
        return self.stats

    def refresh(self) -> None:
        """Make everything indexed so far searchable now."""
        for index in sorted(self._touched_indices):
            self._indexer.refresh(index)

    def close(self) -> None:
        self._consumer.close(autocommit=False)
        self._dlq.close()

    def _handle(self, messages: list[ConsumerRecord]) -> None:
        self.stats.batches += 1
        self.stats.consumed += len(messages)
        prefix = self.settings.elasticsearch.index_prefix
        actions: list[dict[str, Any]] = []
        by_id: dict[tuple[str, str], ConsumerRecord] = {}
        dead: list[tuple[ConsumerRecord, str]] = []
        for message in messages:
            try:
                record = decode(message.value)
            except EnvelopeError as exc:
                dead.append((message, str(exc)))
                continue
            action = index_action(prefix, record)
            actions.append(action)
            by_id[(action["_index"], action["_id"])] = message
            self._touched_indices.add(index_name(prefix, record.kind))
        rejected = self._indexer.index(actions)
        for item in rejected:
            dead.append((by_id[(item.index, item.id)], f"Elasticsearch refused it ({item.status}): {item.reason}"))
        self.stats.indexed += len(actions) - len(rejected)
        if dead:
            self._dead_letter(dead)
        try:
            self._consumer.commit()
        except CommitFailedError as exc:
            # The group rebalanced while we worked; the new owner re-reads and re-indexes the same ids.
            self.stats.commit_failures += 1
            log.warning("offset commit failed, the batch will be re-read: %s", exc)

    def _dead_letter(self, dead: list[tuple[ConsumerRecord, str]]) -> None:
        if not self._dlq_ready:
            ensure_topics(self.settings.kafka, [self.dlq_topic])
            self._dlq_ready = True
        futures = []
        for message, reason in dead:
            log.error("dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
            futures.append(self._dlq.send(self.dlq_topic, key=message.key, value=dead_letter(message, reason)))
        # The offsets are committed next, so the dead letters must be stored first: get() raises if one was not.
        self._dlq.flush()
        for future in futures:
            future.get(timeout=self.settings.kafka.request_timeout_ms / 1000)
        self.stats.dead_lettered += len(dead)

    def _caught_up(self) -> bool:
        assigned = self._consumer.assignment()
        if not assigned:
            return False
        ends = self._consumer.end_offsets(list(assigned))
        return all(self._consumer.position(tp) >= ends[tp] for tp in assigned)


def dead_letter(message: ConsumerRecord, reason: str) -> bytes:
    """The dead-letter body: why, where from, and the original bytes unchanged."""
    body: dict[str, Any] = {
        "reason": reason,
        "failed_at": utc_now_iso(),
        "source": {"topic": message.topic, "partition": message.partition, "offset": message.offset},
    }
    raw = message.value or b""
    try:
        body["original"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        body["original_base64"] = base64.b64encode(raw).decode()
    return json.dumps(body, ensure_ascii=False).encode()
