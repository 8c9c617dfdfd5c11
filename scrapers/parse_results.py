"""What a plugin's parse() yields, sorted into records, links to follow and invalid entries.

Everything kept must cross the pipe to the pool and travel to Kafka as JSON: a value that cannot is
an invalid entry naming the field, never a dead worker, and the page's good records go on.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Mapping

from scrapeline.convert import utc_now_iso
from scrapeline.records import RecordError, ScrapedRecord
from scrapers.jobs import JobResult
from scrapers.plugin import Page, Plugin, Request


def collect(plugin: Plugin, page: Page, result: JobResult) -> None:
    """Run ``plugin.parse(page)`` and put what it yields into ``result``."""
    scraped_at = utc_now_iso()
    for item in plugin.parse(page):
        if isinstance(item, Request):
            problem = _unpicklable(item.meta)
            if problem:
                result.invalid.append((f"a followed Request's meta {problem}", {"url": item.url}))
            else:
                result.follow.append(item)
            continue
        if not isinstance(item, Mapping):
            result.invalid.append((f"parse() yielded a {type(item).__name__}, not a dict or Request", {}))
            continue
        try:
            record = plugin.schema.validate(item, locale=str(plugin.settings["locale"]) or None)
        except RecordError as exc:
            result.invalid.append((str(exc), _printable(item)))
            continue
        problem = _not_json(record)
        if problem:
            result.invalid.append((problem, _printable(item)))
            continue
        url = record.pop("url", None) or page.url
        record.pop("scraped_at", None)
        result.records.append(
            ScrapedRecord(
                plugin=plugin.name,
                kind=plugin.kind,
                id=plugin.schema.record_id(plugin.name, record),
                url=url,
                scraped_at=scraped_at,
                record=record,
            )
        )


def _not_json(record: Mapping[str, Any]) -> str | None:
    """Which field of a validated record cannot travel as JSON, if any."""
    for key, value in record.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return f"field {key!r} cannot be sent as JSON ({type(value).__name__}: {exc})"
    return None


def _unpicklable(meta: Mapping[str, Any]) -> str | None:
    try:
        pickle.dumps(dict(meta))
    except Exception as exc:  # pickling can fail with almost any error type
        return f"cannot be sent to the pool ({type(exc).__name__}: {exc})"
    return None


def _printable(item: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a bad record that surely crosses the pipe: values that are not plain data become their repr."""
    return {str(key): value if isinstance(value, (str, int, float, bool, type(None))) else repr(value) for key, value in item.items()}
