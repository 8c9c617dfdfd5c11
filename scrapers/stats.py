"""Counters of a scrape round, per plugin, as plain data."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class PluginStats:
    pages: int = 0
    records: int = 0
    errors: int = 0
    invalid_records: int = 0
    retries: int = 0
    # Pages not visited because robots.txt disallows them.
    skipped: int = 0
    seconds: float = 0.0
    # Per schema field: valid records where it is None, invalid records whose error names it (scrapers/quality.py).
    null_fields: Counter[str] = field(default_factory=Counter)
    invalid_fields: Counter[str] = field(default_factory=Counter)


@dataclass
class RoundReport:
    plugins: dict[str, PluginStats] = field(default_factory=dict)
    # Plugins that could not be loaded or run at all: "origin: reason".
    problems: list[str] = field(default_factory=list)

    def stats(self, plugin: str) -> PluginStats:
        return self.plugins.setdefault(plugin, PluginStats())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.plugins.values())
