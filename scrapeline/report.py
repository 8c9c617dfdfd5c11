"""What the commands print: summary tables and samples, via rich.

Only this module's own words are rich markup. Everything else (plugin names,
problems, reasons, scraped values) may hold brackets such as ``[pool]`` or
``[/x]``: it goes in as :class:`~rich.text.Text` or through :func:`escape`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from collections import Counter

    from kafka.consumer.fetcher import ConsumerRecord

    from pipeline.consumer import ConsumeStats
    from pipeline.topics import TopicInfo
    from scrapeline.records import Schema
    from scrapeline.settings import Settings
    from scrapers.registry import Registry
    from scrapers.stats import RoundReport

# Piped output is read by people too: wide enough that plugin origins are not cut.
console = Console(width=None if sys.stdout.isatty() else 160)


def print_round(report: "RoundReport") -> None:
    table = Table(title="scrape round")
    for column in ("plugin", "pages", "records", "errors", "seconds"):
        table.add_column(column, justify="left" if column == "plugin" else "right")
    for name, stats in sorted(report.plugins.items()):
        table.add_row(Text(name), str(stats.pages), str(stats.records), str(stats.errors + stats.invalid_records), f"{stats.seconds:.1f}")
    console.print(table)
    for problem in report.problems:
        console.print(f"[red]problem:[/red] {escape(str(problem))}", highlight=False)


def print_consume(stats: "ConsumeStats") -> None:
    console.print(
        f"consumed {stats.consumed} messages: {stats.indexed} indexed ({stats.stale} older than the latest), "
        f"{stats.dead_lettered} dead-lettered, {stats.batches} batches, {stats.backoffs} waits for Elasticsearch or Kafka",
        highlight=False,
    )
    for reason, count in stats.dead_letter_reasons.most_common():
        console.print(f"  dead-lettered {count}: {escape(reason)}", highlight=False)


# At most this many columns by default: a terminal's width.
SEARCH_COLUMNS = 8
# Longer cell values are cut, with an ellipsis; `search --json` prints them whole.
CELL_CHARS = 60


def print_search(kind: str, schema: "Schema", total: int, documents: list[dict[str, Any]], fields: list[str] | None = None) -> None:
    if fields is None:
        shown = [*schema.id_fields, *(name for name, type_ in schema.fields.items() if type_ != "text" and name not in schema.id_fields)]
        fields = [*shown[: SEARCH_COLUMNS - 1], "scraped_at"]
    table = Table()
    for name in fields:
        table.add_column(Text(name), justify="right" if schema.fields.get(name) in ("int", "float") else "left", overflow="fold")
    for doc in documents:
        table.add_row(*(_cell(doc.get(name)) for name in fields))
    if documents:
        console.print(table)
    console.print(f"{escape(kind)}: {len(documents)} of {total} matching documents", highlight=False)
    hidden = [name for name in schema.fields if name not in fields]
    if documents and hidden:
        # soft_wrap: one line however narrow the terminal, so it can be grepped and copied whole.
        console.print(f"not shown: {escape(', '.join(hidden))} (--fields A,B picks the columns, --json prints whole documents)",
                      highlight=False, soft_wrap=True)


def print_documents_json(documents: list[dict[str, Any]]) -> None:
    """One whole document per line, as JSON: for reading every field, or for jq."""
    for doc in documents:
        print(json.dumps(doc, ensure_ascii=False))


def _cell(value: Any) -> Text:
    if value is None:
        text = ""
    elif isinstance(value, list):
        text = ", ".join(map(str, value))
    elif isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"
    else:
        text = str(value)
    return Text(text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…")


def print_counts(title: str, label: str, counts: "Counter[str]") -> None:
    table = Table(title=title)
    table.add_column(label)
    table.add_column("count", justify="right")
    for key, count in counts.most_common():
        table.add_row(Text(key), str(count))
    console.print(table)
    console.print(f"{sum(counts.values())} in all", highlight=False)


def print_topics(rows: list["TopicInfo"]) -> None:
    table = Table(title="topics")
    for column in ("topic", "partitions", "messages"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for row in rows:
        table.add_row(Text(row.name), str(row.partitions), str(row.messages))
    console.print(table)


def format_message(message: "ConsumerRecord") -> str:
    """``partition@offset key value``: the value as compact JSON when it is JSON, else as text."""
    raw = message.value or b""
    try:
        value = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        value = raw.decode("utf-8", errors="backslashreplace")
    key = message.key.decode("utf-8", errors="backslashreplace") if message.key else "-"
    return f"{message.partition}@{message.offset} {key} {value}"


def print_sample(settings: "Settings", size: int, kinds: list[str]) -> None:
    """``size`` of the latest documents of each of ``kinds``."""
    from pipeline.clients import make_elasticsearch

    client = make_elasticsearch(settings.elasticsearch)
    pattern = f"{settings.elasticsearch.index_prefix}-*-latest"
    counts = client.search(
        index=pattern, size=0, query={"terms": {"kind": kinds}}, aggs={"kinds": {"terms": {"field": "kind", "size": max(1, len(kinds))}}}
    )
    for bucket in counts["aggregations"]["kinds"]["buckets"]:
        kind = bucket["key"]
        console.print(f"\n[bold]{bucket['doc_count']} documents of kind {escape(kind)}[/bold], a sample:", highlight=False)
        hits = client.search(index=pattern, size=size, query={"term": {"kind": kind}}, sort=[{"scraped_at": "desc"}])
        for hit in hits["hits"]["hits"]:
            console.print(json.dumps(hit["_source"], ensure_ascii=False)[:400], markup=False, highlight=False, soft_wrap=True)


def print_plugins(registry: "Registry", settings: "Settings") -> None:
    table = Table(title="plugins")
    for column in ("name", "kind", "origin", "schedule", "enabled"):
        table.add_column(column)
    for name, entry in sorted(registry.entries.items()):
        values = registry.create(name, settings).settings
        cells = (name, entry.cls.kind, entry.origin, f"every {values['interval']}", "yes" if values["enabled"] else "no")
        table.add_row(*map(Text, cells))
    console.print(table)
    for problem in registry.problems:
        console.print(f"[red]not loaded:[/red] {escape(str(problem))}", highlight=False)


@contextmanager
def round_progress() -> Iterator[Callable[[Any, Any], None]]:
    """A live line per plugin on a terminal (pages, records, errors); a log line per page otherwise."""
    if not sys.stderr.isatty():
        log = logging.getLogger("scrapeline.progress")

        def plain(current: Any, result: Any) -> None:
            state = f"error: {result.error}" if result.error else f"{len(result.records)} records"
            log.info("%s: %s: %s", current.name, result.job.request.url, state)

        yield plain
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        tasks: dict[str, Any] = {}

        def live(current: Any, result: Any) -> None:
            if current.name not in tasks:
                tasks[current.name] = progress.add_task(escape(current.name))
            s = current.stats
            progress.update(tasks[current.name], description=f"{escape(current.name)}: {s.pages} pages, {s.records} records, {s.errors} errors")

        yield live
