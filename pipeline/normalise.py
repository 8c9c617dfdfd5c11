"""From Kafka message bytes to a normalised record, or the reason it cannot be indexed.

Every way a message can be wrong ends here as :class:`Unindexable` with a
reason a person can act on; the consumer sends it to the dead-letter topic.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Mapping

from pipeline.envelope import EnvelopeError, decode
from scrapeline.convert import to_iso_timestamp
from scrapeline.records import RecordError, Schema, ScrapedRecord

log = logging.getLogger("scrapeline.normalise")


class Unindexable(ValueError):
    """A message that can never be indexed as it is; the text says why."""


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


def normalise(data: bytes | None, schemas: KindSchemas) -> tuple[ScrapedRecord, Schema]:
    """Decode an envelope and normalise its record with its kind's schema."""
    try:
        record = decode(data)
    except EnvelopeError as exc:
        raise Unindexable(f"poison message: {exc}") from None
    schema = schemas.get(record.kind)
    if schema is None:
        known = ", ".join(sorted(schemas.schemas)) or "none"
        raise Unindexable(f"unknown kind {record.kind!r}: no installed plugin declares it (known: {known})")
    try:
        clean = schema.validate(record.record)
        scraped_at = to_iso_timestamp(record.scraped_at)
    except RecordError as exc:
        raise Unindexable(f"record does not match the {record.kind!r} schema: {exc}") from None
    except ValueError as exc:
        raise Unindexable(f"envelope field 'scraped_at': {exc}") from None
    if scraped_at is None:
        raise Unindexable("envelope field 'scraped_at' is empty")
    if not record.id.startswith(f"{record.plugin}:"):
        raise Unindexable(f"record id {record.id!r} does not start with its plugin name {record.plugin!r}")
    return dataclasses.replace(record, record=clean, scraped_at=scraped_at), schema
