"""The dead-letter topic: messages that can never be indexed, with the reason and where they came from."""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from pipeline.envelope import dead_letter_topic
from pipeline.publisher import ensure_topics
from pipeline.topics import send_all, tail
from scrapeline.convert import utc_now_iso
from scrapeline.settings import KafkaSettings

log = logging.getLogger("scrapeline.dlq")


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


class DeadLetterWriter:
    """Writes dead letters and waits for the broker's acknowledgement, since offsets are committed next."""

    def __init__(self, settings: KafkaSettings, producer: KafkaProducer) -> None:
        self.settings = settings
        self.topic = dead_letter_topic(settings.topic_prefix)
        self._producer = producer
        self._topic_ready = False
        self._logged: set[tuple[str, int, int]] = set()

    def write(self, letters: list[tuple[ConsumerRecord, str]]) -> None:
        """Store every letter; on a Kafka error, the ones not stored stay in ``letters`` and it raises."""
        if not self._topic_ready:
            ensure_topics(self.settings, [self.topic])
            self._topic_ready = True
        futures = []
        for message, reason in letters:
            where = (message.topic, message.partition, message.offset)
            if where not in self._logged:
                self._logged.add(where)
                log.error("dead-lettered %s[%d]@%d: %s", *where, reason)
            futures.append(self._producer.send(self.topic, key=message.key, value=dead_letter(message, reason)))
        try:
            self._producer.flush(timeout=self.settings.request_timeout_ms / 1000)
        except KafkaError:
            pass  # the futures below say which letters were not stored
        failed: list[tuple[ConsumerRecord, str]] = []
        error: KafkaError | None = None
        for letter, future in zip(letters, futures):
            try:
                future.get(timeout=0)
            except KafkaError as exc:
                failed.append(letter)
                error = exc
        letters[:] = failed
        if error is not None:
            raise error
        self._logged.clear()

    def close(self) -> None:
        self._producer.close()


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic, read back."""

    reason: str
    failed_at: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    original: bytes

    @property
    def category(self) -> str:
        """The reason up to its first detail: ``unknown kind 'x'``, ``poison message``, ``Elasticsearch refused it (400)``."""
        return self.reason.split(":", 1)[0]


def read_dead_letters(settings: KafkaSettings) -> Iterator[DeadLetter]:
    """Every dead letter kept on the topic, oldest first per partition."""
    for message in tail(settings, dead_letter_topic(settings.topic_prefix), last=2**62):
        try:
            body = json.loads(message.value)
            original = body["original"].encode() if "original" in body else base64.b64decode(body["original_base64"])
            source = body["source"]
            yield DeadLetter(body["reason"], body["failed_at"], source["topic"], source["partition"], source["offset"], message.key, original)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s[%d]@%d is not a scrapeline dead letter (%s); left alone", message.topic, message.partition, message.offset, exc)


def reasons(letters: Iterator[DeadLetter]) -> Counter[str]:
    return Counter(letter.category for letter in letters)


def replay(settings: KafkaSettings, letters: Iterator[DeadLetter], reason_contains: str = "") -> dict[str, int]:
    """Send the originals of the dead letters whose reason contains ``reason_contains`` back to the
    topics they came from, with their keys, once their cause is fixed. Returns messages sent per topic.
    Replaying twice sends twice; indexing them twice is harmless (same ``_id``)."""
    chosen = [letter for letter in letters if reason_contains in letter.reason]
    send_all(settings, ((letter.source_topic, letter.key, letter.original) for letter in chosen))
    return dict(Counter(letter.source_topic for letter in chosen))
