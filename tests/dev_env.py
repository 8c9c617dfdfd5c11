"""Running the `scrapeline` command against a test's own topics and indices."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scrapeline(*args, env=None, cwd=ROOT, timeout=300, input_text=None):
    return subprocess.run(
        [sys.executable, "-m", "scrapeline.cli", *args], capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})},
        timeout=timeout, input=input_text,
    )


def server_env(settings):
    """Environment overrides that point the command at the test's stack, prefixes and data folder."""
    return {
        "SCRAPELINE_KAFKA__BOOTSTRAP_SERVERS": ",".join(settings.kafka.bootstrap_servers),
        "SCRAPELINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SCRAPELINE_KAFKA__GROUP_ID": settings.kafka.group_id,
        "SCRAPELINE_ELASTICSEARCH__HOSTS": ",".join(settings.elasticsearch.hosts),
        "SCRAPELINE_ELASTICSEARCH__INDEX_PREFIX": settings.elasticsearch.index_prefix,
        "SCRAPELINE_POOL__DATA_DIR": settings.pool.data_dir,
    }


def consume_all(settings):
    """Index everything on the test's topics (until drained) and return the consumer's counts."""
    from scrapeline.catalogue import open_consumer

    consumer = open_consumer(settings)
    try:
        return consumer.run(drain=True, until_idle=60)
    finally:
        consumer.close()


def read_topic(settings, topic):
    """Every message on ``topic`` so far, decoded from JSON."""
    import json

    from kafka import KafkaConsumer

    reader = KafkaConsumer(topic, bootstrap_servers=list(settings.kafka.bootstrap_servers), auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        return [json.loads(message.value) for message in reader]
    finally:
        reader.close()


def quote_envelope(slug, price, scraped_at="2026-11-22T10:00:00Z", **fields):
    """A CoinMarketCap envelope as the scraper would publish it (``fields`` may override or add)."""
    from pipeline.envelope import encode
    from scrapeline.records import ScrapedRecord

    record = {"slug": slug, "name": slug.title(), "symbol": slug[:3].upper(), "price_usd": price, **fields}
    return encode(ScrapedRecord("coinmarketcap", "crypto_quote", f"coinmarketcap:{slug}", f"http://x/currencies/{slug}/", scraped_at, record))


def produce(settings, values, kind="crypto_quote", key=None):
    """Put raw message bytes on the records topic of ``kind``, in order (one partition when ``key`` is given)."""
    from pipeline.envelope import records_topic
    from pipeline.publisher import ensure_topics
    from pipeline.topics import send_all

    topic = records_topic(settings.kafka.topic_prefix, kind)
    ensure_topics(settings.kafka, [topic])
    send_all(settings.kafka, ((topic, key if key is not None else str(number).encode(), value) for number, value in enumerate(values)))
    return topic


def uncommitted(settings):
    """Messages on the records topics that the indexing group has not committed yet."""
    from kafka import KafkaAdminClient, KafkaConsumer

    servers = list(settings.kafka.bootstrap_servers)
    admin = KafkaAdminClient(bootstrap_servers=servers)
    reader = KafkaConsumer(bootstrap_servers=servers)
    try:
        committed = admin.list_group_offsets([settings.kafka.group_id])[settings.kafka.group_id]
        prefix = f"{settings.kafka.topic_prefix}.records."
        partitions = [tp for topic in reader.topics() if topic.startswith(prefix) for tp in _partitions(reader, topic)]
        ends = reader.end_offsets(partitions)
        return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions)
    finally:
        admin.close()
        reader.close()


def _partitions(reader, topic):
    from kafka import TopicPartition

    return [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]


def es_client(settings):
    from elasticsearch import Elasticsearch

    return Elasticsearch(list(settings.elasticsearch.hosts))
