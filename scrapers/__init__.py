"""The scrapeline plugin API: everything a site plugin imports.

    from scrapers import Plugin, Page, Request, Schema, js, to_number, to_percent
"""

from scrapeline.convert import to_int, to_iso_timestamp, to_number, to_percent
from scrapeline.records import Schema
from scrapers.plugin import Page, Plugin, Request
from scrapers.readiness import js

__all__ = ["Page", "Plugin", "Request", "Schema", "Tab", "js", "to_int", "to_iso_timestamp", "to_number", "to_percent"]


def __getattr__(name: str):
    # Tab wraps Selenium; importing it lazily keeps `import scrapers` free of Selenium.
    if name == "Tab":
        from scrapers.tab import Tab

        return Tab
    raise AttributeError(name)
