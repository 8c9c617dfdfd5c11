"""Read envelopes from Kafka, index them, and commit offsets only once Elasticsearch has them.

At-least-once: a batch's offsets are committed after every message in it was
either acknowledged by Elasticsearch or written to the dead-letter topic. A
replay after a crash re-indexes the same ``_id`` and so never duplicates.

Backpressure: while Elasticsearch (or, for dead letters, Kafka) is down or
overloaded, the consumer pauses its partitions and keeps polling, so it stays
in its group (no ``max.poll.interval.ms`` eviction) without fetching more,
and sends the same batch again after an exponential backoff.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from pipeline.clients import make_consumer, make_elasticsearch, make_producer
from pipeline.dead_letters import DeadLetterWriter
from pipeline.documents import index_actions, kind_indices
from pipeline.envelope import records_topic_pattern
from pipeline.indexer import BulkIndexer, BulkOutcome, TransientIndexError
from pipeline.normalise import KindSchemas, Unindexable, normalise
from pipeline.partition_watch import PartitionWatch
from scrapeline.convert import utc_now_iso
from scrapeline.settings import Settings

log = logging.getLogger("scrapeline.consumer")
T = TypeVar("T")


class StopRequested(RuntimeError):
    """The consumer was asked to stop while it waited for Elasticsearch or Kafka to come back."""


@dataclass
class ConsumeStats:
    consumed: int = 0
    indexed: int = 0
    # Observations older than the latest document already indexed for their entity (kept in history only).
    stale: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commit_failures: int = 0
    # Times a batch waited for Elasticsearch or Kafka to come back.
    backoffs: int = 0
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)


class RecordConsumer:
    """One member of the indexing consumer group."""

    def __init__(self, settings: Settings, schemas: KindSchemas, *, group_id: str | None = None, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.schemas = schemas
        self.stop = stop or threading.Event()
        self.stats = ConsumeStats()
        self._paused = False
        # monotonic time of the last poll: the health check's "is the loop turning"
        self.last_loop = time.monotonic()
        # Why run() stopped without ever reading a partition, when it did.
        self.gave_up: str | None = None
        self._touched_kinds: set[str] = set()
        self._group_id = group_id or settings.kafka.group_id
        self._consumer = make_consumer(settings.kafka, group_id=group_id)
        self._pattern = re.compile(records_topic_pattern(settings.kafka.topic_prefix))
        self._consumer.subscribe(pattern=self._pattern.pattern, listener=_PauseNewPartitions(self))
        self.partitions = PartitionWatch(self._consumer, self._pattern)
        self._dead_letters = DeadLetterWriter(settings.kafka, make_producer(settings.kafka))
        self._indexer = BulkIndexer(make_elasticsearch(settings.elasticsearch), settings.elasticsearch)

    def run(self, *, until_idle: float | None = None, drain: bool = False) -> ConsumeStats:
        """Consume until stopped; ``drain`` stops once every assigned partition is read to its end,
        ``until_idle`` once no message came for that many seconds."""
        last_message = time.monotonic()
        # One bulk request in flight while the next batch is fetched and normalised: Elasticsearch
        # and this process work at the same time. Batches still finish, and commit, in order.
        in_flight: tuple[_Batch, Future[BulkOutcome]] | None = None
        bulk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk")
        try:
            for kind, schema in sorted(self.schemas.schemas.items()):
                self._until_done(lambda: self._indexer.ensure_kind(kind, schema))
            while not self.stop.is_set():
                polled = self._consumer.poll(timeout_ms=0 if in_flight else 500)
                self.last_loop = time.monotonic()
                self.partitions.check()
                messages = [m for part in polled.values() for m in part]
                if messages:
                    batch = self._prepare(messages)
                    last_message = time.monotonic()
                elif in_flight is None:
                    if self.partitions.waiting:
                        # Waiting for partitions is not idleness; but a bounded run does not wait for ever.
                        last_message = time.monotonic()
                        if (drain or until_idle is not None) and self.partitions.unassigned_seconds() >= self.settings.kafka.assignment_grace_s:
                            self._give_up()
                            break
                        continue
                    if drain and self._caught_up():
                        break
                    if until_idle is not None and time.monotonic() - last_message >= until_idle:
                        break
                    continue
                if in_flight is not None:
                    self._finish(*in_flight)
                    in_flight = None
                if messages:
                    in_flight = (batch, bulk.submit(self._indexer.index, batch.actions))
            if in_flight is not None:
                self._finish(*in_flight)
        except StopRequested:
            log.warning("stopped while waiting for Elasticsearch or Kafka; the batch stays uncommitted and will be read again")
        finally:
            bulk.shutdown(wait=True)
        try:
            self.refresh()
        except TransientIndexError as exc:
            log.warning("could not refresh the indices on the way out: %s", exc)
        return self.stats

    def refresh(self) -> None:
        """Make everything indexed so far searchable now."""
        for kind in sorted(self._touched_kinds):
            self._indexer.refresh(kind_indices(self.settings.elasticsearch.index_prefix, kind))

    @property
    def waiting(self) -> bool:
        """True while fetching is paused until Elasticsearch or Kafka comes back."""
        return self._paused

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    def unassigned_seconds(self) -> float:
        """How long this member has had no partition while records topics exist (0 while it has some,
        or while there is nothing to assign): a stuck group join or a stale member holding them."""
        return self.partitions.unassigned_seconds()

    def _give_up(self) -> None:
        grace = self.settings.kafka.assignment_grace_s
        if self.partitions.ever_assigned:
            log.warning("no partition assigned for %g s ([kafka] assignment_grace_s); stopping", grace)
            return
        self.gave_up = (
            f"no partition of the records topics was assigned to this consumer within [kafka] assignment_grace_s = {grace:g} s, "
            f"so nothing was read: the group {self._group_id!r} is still rebalancing, its other members hold every partition, "
            f"or a member that died still holds them until its session times out"
        )
        log.error("%s", self.gave_up)

    def close(self) -> None:
        self._consumer.close(autocommit=False)
        self._dead_letters.close()

    def _prepare(self, messages: list[ConsumerRecord]) -> "_Batch":
        """Normalise a polled batch into bulk actions; what cannot be indexed is set aside for the dead-letter topic."""
        self.stats.batches += 1
        self.stats.consumed += len(messages)
        es = self.settings.elasticsearch
        indexed_at = utc_now_iso()
        batch = _Batch(messages)
        for message in messages:
            try:
                record, schema = normalise(message.value, self.schemas, max_clock_skew=es.max_clock_skew_s)
                actions = index_actions(es.index_prefix, record, schema, indexed_at, es.history_partition)
            except Unindexable as exc:
                batch.dead[id(message)] = (message, exc)
                continue
            self._until_done(lambda: self._indexer.ensure_kind(record.kind, schema))
            batch.good.add(id(message))
            self._touched_kinds.add(record.kind)
            for action in actions:
                batch.actions.append(action)
                batch.source_of[(action["_index"], action["_id"])] = message
        return batch

    def _finish(self, batch: "_Batch", in_flight: "Future[BulkOutcome]") -> None:
        """Wait for the batch's bulk request (sending it again while Elasticsearch is unavailable),
        dead-letter what was refused, then commit the batch's offsets."""
        first: Future[BulkOutcome] | None = in_flight

        def attempt() -> BulkOutcome:
            nonlocal first
            if first is not None:
                future, first = first, None
                return future.result()
            return self._indexer.index(batch.actions)

        outcome = self._until_done(attempt)
        dead = batch.dead
        for item in outcome.rejected:
            message = batch.source_of[(item.index, item.id)]
            dead.setdefault(id(message), (message, Unindexable(f"Elasticsearch refused it ({item.status})", item.reason)))
        self.stats.stale += outcome.stale
        self.stats.indexed += len(batch.good - dead.keys())
        if dead:
            letters = list(dead.values())
            unsent = list(letters)
            try:
                self._until_done(lambda: self._dead_letters.write(unsent))  # write() keeps only what is still unsent
            finally:
                # Counted once the broker has them, so the summary matches what the dead-letter topic holds.
                still_unsent = {id(message) for message, _ in unsent}
                stored = [reason for message, reason in letters if id(message) not in still_unsent]
                self.stats.dead_lettered += len(stored)
                self.stats.dead_letter_reasons.update(reason.category for reason in stored)
        self._commit(batch.messages)

    def _commit(self, messages: list[ConsumerRecord]) -> None:
        owned = self._consumer.assignment()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for message in messages:
            tp = TopicPartition(message.topic, message.partition)
            if tp in owned and (tp not in offsets or offsets[tp].offset <= message.offset):
                offsets[tp] = OffsetAndMetadata(message.offset + 1, "", -1)
        if not offsets:
            return

        def attempt() -> None:
            try:
                # Bounded, so that a Kafka outage goes through the same backoff (and stop check) as the rest.
                self._consumer.commit(offsets, timeout_ms=self.settings.kafka.request_timeout_ms)
            except CommitFailedError as exc:
                # The group rebalanced while we worked; the new owner re-reads and re-indexes the same ids.
                self.stats.commit_failures += 1
                log.warning("offset commit failed, the batch will be re-read: %s", exc)

        self._until_done(attempt)

    def _until_done(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, pausing every partition and backing off while it fails transiently."""
        failures = 0
        try:
            while True:
                if self.stop.is_set():
                    raise StopRequested()
                try:
                    return attempt()
                except (TransientIndexError, KafkaError) as exc:
                    failures += 1
                    self.stats.backoffs += 1
                    delay = min(self.settings.elasticsearch.max_backoff, self.settings.elasticsearch.initial_backoff * 2 ** (failures - 1))
                    delay *= random.uniform(0.5, 1.0)
                    log.warning("%s; attempt %d failed, fetching paused, next try in %.1f s", exc, failures, delay)
                    self._pause_all()
                    self._keep_membership(delay)
        finally:
            if self._paused:
                self._resume_all()

    def _pause_all(self) -> None:
        self._paused = True
        self._consumer.pause(*self._consumer.assignment())

    def _resume_all(self) -> None:
        self._paused = False
        self._consumer.resume(*self._consumer.paused())

    def _keep_membership(self, seconds: float) -> None:
        """Wait while polling (paused partitions return nothing): heartbeats and rebalances carry on."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            stray = self._consumer.poll(timeout_ms=int(min(left, 0.5) * 1000))
            self.last_loop = time.monotonic()
            for tp, records in stray.items():
                # Fetched before the pause took effect: rewind, so nothing is skipped.
                self._consumer.seek(tp, min(record.offset for record in records))

    def _caught_up(self) -> bool:
        assigned = self._consumer.assignment()
        if not assigned:
            # Nothing to drain when no records topic exists yet; otherwise the group join is still on its way.
            return not any(self._pattern.match(topic) for topic in self._consumer.topics())
        ends = self._consumer.end_offsets(list(assigned))
        return all(self._consumer.position(tp) >= ends[tp] for tp in assigned)


@dataclass
class _Batch:
    """One poll's messages on their way to Elasticsearch."""

    messages: list[ConsumerRecord]
    actions: list[dict[str, Any]] = field(default_factory=list)
    # (index, _id) of an action -> the message it came from
    source_of: dict[tuple[str, str], ConsumerRecord] = field(default_factory=dict)
    # id(message) -> (message, why) for what goes to the dead-letter topic
    dead: dict[int, tuple[ConsumerRecord, Unindexable]] = field(default_factory=dict)
    good: set[int] = field(default_factory=set)


class _PauseNewPartitions(ConsumerRebalanceListener):
    """Partitions assigned while the consumer waits for Elasticsearch start paused too."""

    def __init__(self, owner: RecordConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            log.info("partitions revoked: %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(revoked)))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if assigned:
            log.info("partitions assigned: %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(assigned)))
        if self.owner._paused and assigned:
            self.owner._consumer.pause(*assigned)
