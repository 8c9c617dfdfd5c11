"""Running the `scrapeline` command against a test's own topics and indices."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scrapeline(*args, env=None, cwd=ROOT, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "scrapeline.cli", *args], capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout
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
    from pipeline.consumer import RecordConsumer

    consumer = RecordConsumer(settings)
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
