"""The consumer's counters as Prometheus metrics, read from its :class:`ConsumeStats` at each scrape."""

from __future__ import annotations

import time
from typing import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.consumer import RecordConsumer

COUNTERS = {
    "consumed": "Messages read from the records topics",
    "indexed": "Records indexed into Elasticsearch",
    "stale": "Observations older than the latest document of their entity",
    "dead_lettered": "Messages sent to the dead-letter topic",
    "batches": "Batches handled",
    "commit_failures": "Offset commits refused after a rebalance (the batch is read again)",
    "backoffs": "Waits for Elasticsearch or Kafka to come back",
}


class ConsumerCollector(Collector):
    def __init__(self, consumer: RecordConsumer) -> None:
        self.consumer = consumer

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.consumer.stats
        for name, help_text in COUNTERS.items():
            yield CounterMetricFamily(f"scrapeline_consumer_{name}", help_text, value=getattr(stats, name))
        reasons = CounterMetricFamily("scrapeline_consumer_dead_letter_reasons", "Dead letters by reason", labels=["reason"])
        for reason, count in stats.dead_letter_reasons.items():
            reasons.add_metric([reason], count)
        yield reasons
        yield GaugeMetricFamily("scrapeline_consumer_waiting", "1 while fetching is paused for an outage", value=float(self.consumer.waiting))
        yield GaugeMetricFamily("scrapeline_consumer_partitions", "Partitions assigned to this consumer", value=len(self.consumer.assignment()))


def consumer_registry(consumer: RecordConsumer) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ConsumerCollector(consumer))
    return registry


def consumer_health(consumer: RecordConsumer, stale_after: float = 60.0) -> dict:
    """Healthy while the poll loop turns (it does every half second, outages included) and the consumer
    holds partitions, or has held none for less than [kafka] assignment_grace_s while records topics exist."""
    age = time.monotonic() - consumer.last_loop
    unassigned = consumer.unassigned_seconds()
    ok = age < stale_after and not consumer.stop.is_set() and unassigned < consumer.settings.kafka.assignment_grace_s
    return {"ok": ok, "seconds_since_poll": round(age, 1), "seconds_without_partitions": round(unassigned, 1),
            "waiting": consumer.waiting, "indexed": consumer.stats.indexed}  # fmt: skip
