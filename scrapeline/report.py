"""What the commands print: summary tables and samples, via rich."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from pipeline.consumer import ConsumeStats
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
        table.add_row(name, str(stats.pages), str(stats.records), str(stats.errors + stats.invalid_records), f"{stats.seconds:.1f}")
    console.print(table)
    for problem in report.problems:
        console.print(f"[red]problem:[/red] {problem}", markup=True, highlight=False)


def print_consume(stats: "ConsumeStats") -> None:
    console.print(
        f"consumed {stats.consumed} messages: {stats.indexed} indexed, {stats.dead_lettered} dead-lettered, "
        f"{stats.batches} batches",
        highlight=False,
    )


def print_sample(settings: "Settings", size: int) -> None:
    from pipeline.clients import make_elasticsearch

    client = make_elasticsearch(settings.elasticsearch)
    pattern = f"{settings.elasticsearch.index_prefix}-*"
    counts = client.search(index=pattern, size=0, aggs={"kinds": {"terms": {"field": "kind", "size": 50}}})
    for bucket in counts["aggregations"]["kinds"]["buckets"]:
        kind = bucket["key"]
        console.print(f"\n[bold]{bucket['doc_count']} documents of kind {kind}[/bold], a sample:", highlight=False)
        hits = client.search(index=pattern, size=size, query={"term": {"kind": kind}}, sort=[{"scraped_at": "desc"}])
        for hit in hits["hits"]["hits"]:
            console.print(json.dumps(hit["_source"], ensure_ascii=False)[:400], highlight=False, soft_wrap=True)


def print_plugins(registry: "Registry", settings: "Settings") -> None:
    table = Table(title="plugins")
    for column in ("name", "kind", "origin", "schedule", "enabled"):
        table.add_column(column)
    for name, entry in sorted(registry.entries.items()):
        values = registry.create(name, settings).settings
        table.add_row(name, entry.cls.kind, entry.origin, f"every {values['interval']}", "yes" if values["enabled"] else "no")
    console.print(table)
    for problem in registry.problems:
        console.print(f"[red]not loaded:[/red] {problem}", highlight=False)


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
                tasks[current.name] = progress.add_task(current.name)
            s = current.stats
            progress.update(tasks[current.name], description=f"{current.name}: {s.pages} pages, {s.records} records, {s.errors} errors")

        yield live
