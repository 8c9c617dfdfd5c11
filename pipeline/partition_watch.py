"""Whether a consumer group member holds partitions, and for how long it has held none while there are some.

A member of a group whose join is stuck, or whose partitions a dead member
still holds (until its session times out), polls happily and reads nothing:
only this tells it apart from a member with nothing to do.
"""

from __future__ import annotations

import re
import time

from kafka import KafkaConsumer
from kafka.errors import KafkaError

# How often, at most, the topics are looked up while no partition is assigned: a metadata request each time.
TOPICS_CHECK_EVERY = 5.0


class PartitionWatch:
    def __init__(self, consumer: KafkaConsumer, pattern: re.Pattern[str]) -> None:
        self._consumer = consumer
        self._pattern = pattern
        self.ever_assigned = False
        # Since when no partition is assigned while subscribed topics exist; None while some are, or there is none to have.
        self._unassigned_since: float | None = time.monotonic()
        self._topics_checked_at = float("-inf")

    def check(self) -> None:
        """Look again; call it from the thread that polls (KafkaConsumer is not thread-safe)."""
        if self._consumer.assignment():
            self.ever_assigned = True
            self._unassigned_since = None
            return
        now = time.monotonic()
        if now - self._topics_checked_at < TOPICS_CHECK_EVERY:
            return
        self._topics_checked_at = now
        try:
            exists = any(self._pattern.match(topic) for topic in self._consumer.topics())
        except KafkaError:
            return  # Kafka is unreachable: reported elsewhere; keep the last answer
        if not exists:
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = now

    @property
    def waiting(self) -> bool:
        """True while there are partitions to have and this member has none."""
        return self._unassigned_since is not None

    def unassigned_seconds(self) -> float:
        since = self._unassigned_since
        return 0.0 if since is None else time.monotonic() - since
