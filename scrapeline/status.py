"""`scrapeline status`: the cluster as Kafka and the daemons' /metrics see it, with no registry of our own.

- the scrape daemons: members of the group ``<prefix>.scrapers``, the frontier partitions each
  holds, and from each one's /metrics (its address is in its Kafka client id, after ``@``) the
  bytes in its spool, its pages in flight and its workers;
- the frontier's lag per plugin: messages of ``<prefix>.frontier.<plugin>`` past the group's
  committed offsets;
- the indexing consumers: members of ``[kafka] group_id`` with their partitions, and the lag of
  each records topic.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from rich.table import Table
from rich.text import Text

from pipeline.clients import kafka_options
from pipeline.envelope import records_topic_pattern
from pipeline.frontier import scrape_group
from scrapeline.report import console
from scrapeline.settings import KafkaSettings, Settings

_METRICS = {
    "scrapeline_spool_pending_bytes": "spool_bytes",
    "scrapeline_pages_in_flight": "in_flight",
    "scrapeline_workers_alive": "workers",
}


@dataclass
class Member:
    client_id: str
    host: str
    partitions: dict[str, list[int]]
    metrics_url: str | None = None
    topic_prefix: str = ""
    # From /metrics: spool_bytes, in_flight, workers; empty when it could not be read.
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_error: str | None = None


@dataclass
class GroupStatus:
    group: str
    state: str
    members: list[Member]
    # Messages past the committed offsets, by topic.
    lag: dict[str, int]
    error: str | None = None


@dataclass
class ClusterStatus:
    scrapers: GroupStatus
    indexers: GroupStatus


class _Admin(KafkaAdminClient):
    def _process_acl_operations(self, obj: dict) -> dict:
        # Some brokers (Tansu) report authorized operations this client has no name for; status does not need them.
        try:
            return super()._process_acl_operations(obj)
        except ValueError:
            obj["authorized_operations"] = None
            return obj


def cluster_status(settings: Settings, *, metrics_timeout: float = 2.0) -> ClusterStatus:
    kafka = settings.kafka
    prefix = re.escape(kafka.topic_prefix)
    admin = _Admin(**kafka_options(kafka))
    reader = KafkaConsumer(**kafka_options(kafka), enable_auto_commit=False, group_id=None)
    try:
        topics = sorted(reader.topics())
        frontier = [t for t in topics if re.match(rf"^{prefix}\.frontier\.[a-z0-9_]+$", t)]
        records = [t for t in topics if re.match(records_topic_pattern(kafka.topic_prefix), t)]
        scrapers = _group(admin, reader, scrape_group(kafka.topic_prefix), frontier)
        for member in scrapers.members:
            member.topic_prefix = kafka.topic_prefix
        indexers = _group(admin, reader, kafka.group_id, records)
    finally:
        reader.close()
        admin.close()
    for member in scrapers.members:
        _read_metrics(member, metrics_timeout)
    return ClusterStatus(scrapers, indexers)


def frontier_lag(settings: KafkaSettings) -> dict[str, int]:
    """Pages of each plugin's frontier not done yet (by plugin name)."""
    prefix = f"{settings.topic_prefix}.frontier."
    admin = _Admin(**kafka_options(settings))
    reader = KafkaConsumer(**kafka_options(settings), enable_auto_commit=False, group_id=None)
    try:
        topics = [t for t in sorted(reader.topics()) if t.startswith(prefix)]
        lag = _lag(admin, reader, scrape_group(settings.topic_prefix), topics)
    finally:
        reader.close()
        admin.close()
    return {topic[len(prefix):]: count for topic, count in lag.items()}


def _group(admin: KafkaAdminClient, reader: KafkaConsumer, group: str, topics: list[str]) -> GroupStatus:
    lag = _lag(admin, reader, group, topics)
    try:
        described = admin.describe_groups([group])[group]
    except Exception as exc:  # noqa: BLE001 - a broker that cannot describe groups still shows the lag
        return GroupStatus(group, "unknown", [], lag, error=f"{type(exc).__name__}: {exc}")
    members = []
    for found in described.get("members") or []:
        assignment = found.get("member_assignment") or {}
        held = {part["topic"]: sorted(part["partitions"]) for part in assignment.get("assigned_partitions") or []}
        # Some brokers (Tansu) leave client id and assignment out; the member id starts with the client id.
        client_id = found.get("client_id") or re.sub(r"-[0-9a-f-]{36}$", "", found.get("member_id") or "")
        address = client_id.rpartition("@")[2] if "@" in client_id else None
        members.append(Member(client_id, (found.get("client_host") or "").lstrip("/"), held, f"http://{address}/metrics" if address else None))
    members.sort(key=lambda m: m.client_id)
    return GroupStatus(group, str(described.get("group_state") or "unknown"), members, lag)


def _lag(admin: KafkaAdminClient, reader: KafkaConsumer, group: str, topics: list[str]) -> dict[str, int]:
    partitions = [TopicPartition(t, p) for t in topics for p in sorted(reader.partitions_for_topic(t) or ())]
    if not partitions:
        return {}
    starts, ends = reader.beginning_offsets(partitions), reader.end_offsets(partitions)
    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
    except Exception:  # noqa: BLE001 - a group that never committed: everything is lag
        committed = {}
    lag = dict.fromkeys(topics, 0)
    for tp in partitions:
        done = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else starts[tp]
        lag[tp.topic] += max(0, ends[tp] - done)
    return lag


def _read_metrics(member: Member, timeout: float) -> None:
    if member.metrics_url is None:
        return
    try:
        with urllib.request.urlopen(member.metrics_url, timeout=timeout) as response:
            text = response.read().decode()
    except OSError as exc:
        member.metrics_error = str(getattr(exc, "reason", exc))
        return
    held: dict[str, list[int]] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in _METRICS:
            member.metrics[_METRICS[name]] = float(value)
        found = re.match(r"^scrapeline_frontier_partition\{(.*)\} 1", line)
        if found:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found[1]))
            held.setdefault(labels["plugin"], []).append(int(labels["partition"]))
    if held and not member.partitions:  # the broker did not say: the daemon does
        member.partitions = {f"{member.topic_prefix}.frontier.{plugin}": sorted(parts) for plugin, parts in held.items()}


def print_status(status: ClusterStatus, prefix: str) -> None:
    scrapers = status.scrapers
    table = Table(title=f"scrape daemons: group {scrapers.group}, {scrapers.state}, {len(scrapers.members)} alive")
    for column in ("daemon", "frontier partitions", "spool bytes", "in flight", "workers"):
        table.add_column(column, justify="left" if column in ("daemon", "frontier partitions") else "right")
    frontier = f"{prefix}.frontier."
    for member in scrapers.members:
        held = ", ".join(f"{topic.removeprefix(frontier)} {','.join(map(str, parts))}" for topic, parts in sorted(member.partitions.items()))
        numbers = [_number(member, key) for key in ("spool_bytes", "in_flight", "workers")]
        table.add_row(Text(member.client_id), Text(held or "none"), *numbers)
    console.print(table)
    if scrapers.error:
        console.print(Text(f"group members unknown: {scrapers.error}"))
    _print_lag("frontier lag", "plugin", {topic.removeprefix(frontier): count for topic, count in scrapers.lag.items()})

    indexers = status.indexers
    table = Table(title=f"indexing consumers: group {indexers.group}, {indexers.state}, {len(indexers.members)} alive")
    table.add_column("consumer")
    table.add_column("partitions")
    for member in indexers.members:
        held = "; ".join(f"{topic} {','.join(map(str, parts))}" for topic, parts in sorted(member.partitions.items()))
        table.add_row(Text(f"{member.client_id} {member.host}"), Text(held or "none"))
    console.print(table)
    if indexers.error:
        console.print(Text(f"group members unknown: {indexers.error}"))
    _print_lag("records lag", "topic", indexers.lag)


def _number(member: Member, key: str) -> str:
    if member.metrics_error is not None:
        return "unreachable" if key == "spool_bytes" else ""
    value = member.metrics.get(key)
    return "" if value is None else f"{value:.0f}"


def _print_lag(title: str, label: str, lag: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column(label)
    table.add_column("messages not done", justify="right")
    for name, count in sorted(lag.items()):
        table.add_row(Text(name), str(count))
    console.print(table)
