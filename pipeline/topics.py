"""Topic administration: list, create, delete, tail, produce (what CryptoViz's kafka_controller offered)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from pipeline.clients import kafka_options, make_admin, make_producer
from scrapeline.settings import ConfigError, KafkaSettings


class TopicError(ValueError):
    """A topic to act on does not exist, or already does."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    messages: int


def _reader(settings: KafkaSettings) -> KafkaConsumer:
    return KafkaConsumer(**kafka_options(settings), enable_auto_commit=False, group_id=None)


def _partitions(reader: KafkaConsumer, topic: str) -> list[TopicPartition]:
    found = reader.partitions_for_topic(topic)
    if not found:
        raise TopicError(f"no topic named {topic!r}: `scrapeline topics list` shows the topics")
    return [TopicPartition(topic, number) for number in sorted(found)]


def list_topics(settings: KafkaSettings, *, internal: bool = False) -> list[TopicInfo]:
    """Every topic with its partitions and the messages it holds now (end minus start offsets)."""
    reader = _reader(settings)
    try:
        rows = []
        for name in sorted(reader.topics()):
            if name.startswith("__") and not internal:
                continue
            partitions = _partitions(reader, name)
            starts, ends = reader.beginning_offsets(partitions), reader.end_offsets(partitions)
            rows.append(TopicInfo(name, len(partitions), sum(ends[tp] - starts[tp] for tp in partitions)))
        return rows
    finally:
        reader.close()


def create_topic(settings: KafkaSettings, name: str, partitions: int | None = None, replication_factor: int | None = None) -> None:
    if not name or any(ch not in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-" for ch in name) or len(name) > 249:
        raise ConfigError(f"topic name {name!r}: use letters, digits, '.', '_' and '-' (at most 249)")
    admin = make_admin(settings)
    try:
        admin.create_topics([NewTopic(name, partitions or settings.partitions, replication_factor or settings.replication_factor)])
    except TopicAlreadyExistsError:
        raise TopicError(f"topic {name!r} already exists") from None
    finally:
        admin.close()


def delete_topic(settings: KafkaSettings, name: str) -> None:
    admin = make_admin(settings)
    try:
        if name not in admin.list_topics():
            raise TopicError(f"no topic named {name!r}: `scrapeline topics list` shows the topics")
        admin.delete_topics([name])
    except UnknownTopicOrPartitionError:
        raise TopicError(f"no topic named {name!r}") from None
    finally:
        admin.close()


def tail(settings: KafkaSettings, topic: str, last: int = 10, *, follow: bool = False, stop_after: float | None = None) -> Iterator[ConsumerRecord]:
    """The last ``last`` messages of each partition of ``topic``, oldest first; with ``follow``, then every new one."""
    reader = _reader(settings)
    try:
        partitions = _partitions(reader, topic)
        reader.assign(partitions)
        starts, ends = reader.beginning_offsets(partitions), reader.end_offsets(partitions)
        for tp in partitions:
            reader.seek(tp, max(starts[tp], ends[tp] - last))
        pending = {tp for tp in partitions if reader.position(tp) < ends[tp]}
        deadline = None if stop_after is None else time.monotonic() + stop_after
        while pending or follow:
            if deadline is not None and time.monotonic() > deadline:
                return
            batch = reader.poll(timeout_ms=500)
            for message in sorted((m for records in batch.values() for m in records), key=lambda m: (m.timestamp, m.partition, m.offset)):
                yield message
            pending = {tp for tp in pending if reader.position(tp) < ends[tp]}
    finally:
        reader.close()


def produce(settings: KafkaSettings, topic: str, values: Iterable[bytes], key: bytes | None = None) -> int:
    """Send ``values`` to ``topic`` (which must exist) and wait for the broker's acknowledgements."""
    return send_all(settings, ((topic, key, value) for value in values))


def send_all(settings: KafkaSettings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    """Send (topic, key, value) messages with one producer; every topic must exist. Waits for every acknowledgement."""
    messages = list(messages)
    reader = _reader(settings)
    try:
        for topic in sorted({topic for topic, _, _ in messages}):
            _partitions(reader, topic)
    finally:
        reader.close()
    producer = make_producer(settings)
    try:
        futures = [producer.send(topic, key=key, value=value) for topic, key, value in messages]
        producer.flush()
        for future in futures:
            future.get(timeout=settings.request_timeout_ms / 1000)
        return len(futures)
    finally:
        producer.close()
