"""The consumer's view of the plugins: which record kinds exist and their schemas.

Kept here, in the neutral core, so that ``pipeline`` needs no import of
``scrapers``: the schemas are handed to it.
"""

from __future__ import annotations

import logging
import threading

from pipeline.consumer import RecordConsumer
from pipeline.normalise import KindSchemas
from scrapeline.records import Schema
from scrapeline.settings import Settings
from scrapers.registry import discover, kind_schemas

log = logging.getLogger("scrapeline.catalogue")


def current_schemas(settings: Settings) -> dict[str, Schema]:
    registry = discover(settings.pool.plugin_paths)
    for problem in registry.problems:
        log.error("plugin not loaded: %s", problem)
    return kind_schemas(registry)


def plugin_schemas(settings: Settings) -> KindSchemas:
    """Every installed plugin's kind and schema, reloaded when a record of an unknown kind arrives."""
    return KindSchemas(current_schemas(settings), reload=lambda: current_schemas(settings))


def open_consumer(settings: Settings, *, group_id: str | None = None, stop: threading.Event | None = None) -> RecordConsumer:
    return RecordConsumer(settings, plugin_schemas(settings), group_id=group_id, stop=stop)
