"""The dead-letter topic: messages that can never be indexed, with the reason and where they came from."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter
from typing import Iterator

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError
from kafka.producer.future import FutureRecordMetadata

from pipeline.clients import kafka_options
from pipeline.dead_letter_format import DeadLetter, dead_letter_body, dead_letter_key, read_dead_letter
from pipeline.envelope import dead_letter_topic
from pipeline.normalise import Unindexable
from pipeline.publisher import ensure_topics
from pipeline.topics import TopicError, send_all, tail
from scrapeline.settings import KafkaSettings

log = logging.getLogger("scrapeline.dlq")


class DeadLetterWriter:
    """Writes dead letters and waits for the broker's acknowledgement, since offsets are committed next."""

    def __init__(self, settings: KafkaSettings, producer: KafkaProducer) -> None:
        self.settings = settings
        self.topic = dead_letter_topic(settings.topic_prefix)
        self._producer = producer
        self._topic_ready = False
        self._logged: set[tuple[str, int, int]] = set()
        # id() of messages whose dead letter the broker refused as too large: sent again without the original.
        self._too_large: set[int] = set()

    def write(self, letters: list[tuple[ConsumerRecord, Unindexable]]) -> None:
        """Store every letter; on a Kafka error, the ones not stored stay in ``letters`` and it raises."""
        if not self._topic_ready:
            ensure_topics(self.settings, [self.topic])
            self._topic_ready = True
        futures = []
        for message, why in letters:
            where = (message.topic, message.partition, message.offset)
            if where not in self._logged:
                self._logged.add(where)
                log.error("dead-lettered %s[%d]@%d: %.500s", *where, why)
            futures.append(self._send(message, why))
        try:
            self._producer.flush(timeout=self.settings.request_timeout_ms / 1000)
        except KafkaError:
            pass  # the futures below say which letters were not stored
        failed: list[tuple[ConsumerRecord, Unindexable]] = []
        error: KafkaError | None = None
        for letter, future in zip(letters, futures):
            try:
                future.get(timeout=0)
            except KafkaError as exc:
                failed.append(letter)
                error = exc
                if isinstance(exc, (MessageSizeTooLargeError, RecordListTooLargeError)):
                    self._too_large.add(id(letter[0]))
        letters[:] = failed
        if error is not None:
            raise error
        self._logged.clear()
        self._too_large.clear()

    def _send(self, message: ConsumerRecord, why: Unindexable) -> FutureRecordMetadata:
        """Send one dead letter; a broker that refused it as too large gets it without the original."""
        keep = id(message) not in self._too_large
        try:
            value = dead_letter_body(message, why.category, str(why), keep_original=keep)
            return self._producer.send(self.topic, key=dead_letter_key(message), value=value)
        except MessageSizeTooLargeError:
            self._too_large.add(id(message))
            value = dead_letter_body(message, why.category, str(why), keep_original=False)
            return self._producer.send(self.topic, key=dead_letter_key(message), value=value)

    def close(self) -> None:
        self._producer.close()


def read_dead_letters(settings: KafkaSettings) -> Iterator[DeadLetter]:
    """Every dead letter kept on the topic, oldest first per partition; none while the topic does not exist."""
    try:
        messages = tail(settings, dead_letter_topic(settings.topic_prefix), last=2**62)
        for message in messages:
            try:
                yield read_dead_letter(message.value, message.key)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s[%d]@%d is not a scrapeline dead letter (%s); left alone", message.topic, message.partition, message.offset, exc)
    except TopicError:
        return  # no message was ever dead-lettered


def reasons(letters: Iterator[DeadLetter]) -> Counter[str]:
    return Counter(letter.category for letter in letters)


def replay(settings: KafkaSettings, letters: Iterator[DeadLetter], reason_contains: str = "") -> dict[str, int]:
    """Send the originals of the dead letters whose reason contains ``reason_contains`` back to the
    topics they came from, with their keys, once their cause is fixed. Returns messages sent per topic.
    Replaying twice sends twice; indexing them twice is harmless (same ``_id``).

    A dead letter that holds only the start of its original is replayed from the
    source offset while that topic still keeps the message; otherwise it is skipped, with a warning.
    """
    chosen = [letter for letter in letters if reason_contains in letter.reason]
    messages = []
    for letter in chosen:
        whole = letter if letter.complete else _from_source(settings, letter)
        if whole is None:
            log.warning("%s[%d]@%d: the dead letter holds only the start of the message and its source no longer has it; not replayed",
                        letter.source_topic, letter.source_partition, letter.source_offset)  # fmt: skip
            continue
        messages.append((whole.source_topic, whole.key, whole.original))
    send_all(settings, messages)
    return dict(Counter(topic for topic, _, _ in messages))


def _from_source(settings: KafkaSettings, letter: DeadLetter) -> DeadLetter | None:
    """The letter with the whole original and key read back from its source offset, if the hash still matches."""
    reader = KafkaConsumer(**kafka_options(settings), enable_auto_commit=False, group_id=None)
    try:
        tp = TopicPartition(letter.source_topic, letter.source_partition)
        if letter.source_partition not in (reader.partitions_for_topic(letter.source_topic) or ()):
            return None
        reader.assign([tp])
        reader.seek(tp, letter.source_offset)
        for _ in range(20):
            for message in reader.poll(timeout_ms=500).get(tp, []):
                if message.offset != letter.source_offset:
                    return None  # compacted or expired
                if hashlib.sha256(message.value or b"").hexdigest() != letter.original_sha256:
                    return None
                return dataclasses.replace(letter, key=message.key, original=message.value or b"", complete=True)
        return None
    finally:
        reader.close()
