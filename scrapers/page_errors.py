"""How a page load ends badly, and which HTTP statuses are worth another try."""

from __future__ import annotations

from typing import Any, Callable


class PageLoadError(RuntimeError):
    """The page did not load or render in time, or answered 429/5xx; worth another try."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PageRefused(RuntimeError):
    """The site answered with a status that another try will not change (404, 403...)."""


class PluginFailed(RuntimeError):
    """The plugin's own code failed on a page (its interact or parse); the browser is not to blame."""


RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Statuses whose Retry-After is read and honoured.
RETRY_AFTER_STATUSES = frozenset({429, 503})


def check_status(url: str, status: int | None, retry_after: Callable[[], float | None]) -> None:
    """Raise for an error status: retryable ones (with their Retry-After) or final ones."""
    if status is None or status < 400:
        return
    if status in RETRY_STATUSES:
        wait = retry_after() if status in RETRY_AFTER_STATUSES else None
        suffix = f" (Retry-After {wait:g} s)" if wait is not None else ""
        raise PageLoadError(f"{url}: HTTP {status}{suffix}", retry_after=wait)
    raise PageRefused(f"{url}: HTTP {status}")


def retry_after_of(state: Any) -> float | None:
    exc = state.outcome.exception() if state.outcome is not None else None
    return getattr(exc, "retry_after", None)
