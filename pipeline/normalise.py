"""From Kafka message bytes to a normalised record, or the reason it cannot be indexed.

Every way a message can be wrong ends here as :class:`Unindexable` with a
reason a person can act on; the consumer sends it to the dead-letter topic.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from pipeline.envelope import EnvelopeError, decode
from scrapeline.convert import to_iso_timestamp
from scrapeline.records import RecordError, Schema, ScrapedRecord

log = logging.getLogger("scrapeline.normalise")


class Unindexable(ValueError):
    """A message that can never be indexed as it is.

    ``category`` groups dead letters (``dlq list``, the reasons metric) and
    never holds the message's details; ``detail`` says what exactly is wrong.
    """

    def __init__(self, category: str, detail: str = "") -> None:
        super().__init__(f"{category}: {detail}" if detail else category)
        self.category = category
        self.detail = detail


class KindSchemas:
    """The schema of each record kind (from the plugins), reloaded when an unknown kind shows up.

    ``reload`` returns the current kind -> schema map (e.g. after a new plugin
    was installed); it is called at most once per ``reload_every`` seconds.
    """

    def __init__(self, schemas: Mapping[str, Schema], reload: Callable[[], Mapping[str, Schema]] | None = None, reload_every: float = 60.0) -> None:
        self.schemas = dict(schemas)
        self._reload = reload
        self._reload_every = reload_every
        self._reloaded_at = time.monotonic()

    def get(self, kind: str) -> Schema | None:
        schema = self.schemas.get(kind)
        if schema is None and self._reload is not None and time.monotonic() - self._reloaded_at >= self._reload_every:
            self._reloaded_at = time.monotonic()
            self.schemas = dict(self._reload())
            log.info("reloaded plugin schemas looking for kind %r: %s", kind, ", ".join(sorted(self.schemas)) or "none")
            schema = self.schemas.get(kind)
        return schema


def normalise(data: bytes | None, schemas: KindSchemas, *, max_clock_skew: float = 300.0, now: datetime | None = None) -> tuple[ScrapedRecord, Schema]:
    """Decode an envelope and normalise its record with its kind's schema.

    Whatever ``data`` holds, this returns or raises :class:`Unindexable`: one
    message must never stop the consumer. A ``scraped_at`` more than
    ``max_clock_skew`` seconds ahead of ``now`` is refused, since it would
    hold the entity's ``latest`` document until that time.
    """
    try:
        record = decode(data)
    except EnvelopeError as exc:
        raise Unindexable("poison message", str(exc)) from None
    schema = schemas.get(record.kind)
    if schema is None:
        known = ", ".join(sorted(schemas.schemas)) or "none"
        raise Unindexable(f"unknown kind {_shown(record.kind)}", f"no installed plugin declares it (known: {known})")
    try:
        clean, scraped_at = _checked(record, schema, max_clock_skew, now or datetime.now(timezone.utc))
    except Unindexable:
        raise
    except Exception as exc:  # a bug met by odd input: dead-letter the message (replayable once fixed), keep consuming
        log.exception("unexpected error normalising a %r record", record.kind)
        raise Unindexable("unexpected error in normalisation", f"{type(exc).__name__}: {exc}") from None
    return dataclasses.replace(record, record=clean, scraped_at=scraped_at), schema


def _checked(record: ScrapedRecord, schema: Schema, max_clock_skew: float, now: datetime) -> tuple[dict[str, Any], str]:
    try:
        clean = schema.validate(record.record)
    except RecordError as exc:
        raise Unindexable(f"record does not match the {_shown(record.kind)} schema", str(exc)) from None
    try:
        scraped_at = to_iso_timestamp(record.scraped_at)
    except ValueError as exc:
        raise Unindexable("envelope field 'scraped_at' is not a timestamp", str(exc)) from None
    if scraped_at is None:
        raise Unindexable("envelope field 'scraped_at' is empty")
    ahead = (datetime.fromisoformat(scraped_at.replace("Z", "+00:00")) - now).total_seconds()
    if ahead > max_clock_skew:
        raise Unindexable(
            "envelope field 'scraped_at' is in the future",
            f"{scraped_at} is {ahead:.0f} s ahead of this consumer's clock, more than [elasticsearch] max_clock_skew_s = {max_clock_skew:g}",
        )
    if not record.id.startswith(f"{record.plugin}:"):
        raise Unindexable("record id does not start with its plugin name", f"id {_shown(record.id)}, plugin {_shown(record.plugin)}")
    return clean, scraped_at


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut at ``limit`` characters: it came from the message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
