"""Data-quality checks of scrape rounds: per-field counts, the ``[alerts]`` rules, and where a fired rule shows.

While a round runs, the pool counts per schema field the valid records where it is None and the
invalid records whose schema error names it (:func:`count_fields`). When the round ends,
:class:`RoundChecks` reads the plugin's previous rounds from a :class:`RoundStore` (the
application layer gives one over ``<index_prefix>-rounds``), checks the rules, and keeps the
round's document with the alerts that fired. That work runs in one background thread, in round
order: a slow index or webhook never holds the daemon's loop. A fired rule is a WARNING line,
``scrapeline_alerts_total`` / ``scrapeline_alert_active`` (with the daemon's metrics), a mark on
the round's document and, with ``[alerts] webhook_url``, a JSON POST.
"""

from __future__ import annotations

import logging
import queue
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Mapping, Protocol, Sequence
from urllib.parse import urlsplit

from scrapeline.records import ScrapedRecord
from scrapeline.settings import AlertSettings, Settings
from scrapers.scheduler import Schedule
from scrapers.stats import PluginStats

if TYPE_CHECKING:
    import httpx

    from scrapers.metrics import DaemonMetrics

log = logging.getLogger("scrapeline.alerts")

# Schema errors name their field: "field 'price_usd': expected float ...", "id field 'slug' is empty".
_FIELD_IN_REASON = re.compile(r"""field (['"])(.+?)\1""")
# Where invalid records whose reason names no schema field are counted (unknown fields, a non-dict).
WHOLE_RECORD = "_record"
ROUND_RULES = ("records_drop", "null_share", "error_rate")


def count_fields(stats: PluginStats, records: Iterable[ScrapedRecord], invalid: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Add one page's records to the round's per-field counts: None values of valid records, and
    invalid records by the field their error names."""
    for record in records:
        for name, value in record.record.items():
            if value is None:
                stats.null_fields[name] += 1
    for reason, _ in invalid:
        named = _FIELD_IN_REASON.search(reason)
        stats.invalid_fields[named.group(2) if named else WHOLE_RECORD] += 1


def utc_iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def round_document(plugin: str, kind: str, fields: Sequence[str], stats: PluginStats, ended_at: float) -> dict[str, Any]:
    """One plugin-round as it is kept in ``<index_prefix>-rounds``.

    ``null_share``: per schema field, the share of the round's valid records where it is None
    (empty without records). ``invalid_share``: per field, the share of all records the plugin
    yielded (valid and invalid) that its schema refused for that field.
    """
    yielded = stats.records + stats.invalid_records
    invalid_names = [*fields, *(name for name in stats.invalid_fields if name not in fields)]
    return {
        "plugin": plugin,
        "kind": kind,
        "started_at": utc_iso(ended_at - stats.seconds),
        "ended_at": utc_iso(ended_at),
        "seconds": round(stats.seconds, 3),
        "pages": stats.pages,
        "records": stats.records,
        "errors": stats.errors,
        "invalid_records": stats.invalid_records,
        "retries": stats.retries,
        "skipped": stats.skipped,
        "error_rate": round(stats.errors / stats.pages, 4) if stats.pages else 0.0,
        "null_share": {name: round(stats.null_fields[name] / stats.records, 4) for name in fields} if stats.records else {},
        "invalid_share": {name: round(stats.invalid_fields[name] / yielded, 4) for name in invalid_names} if yielded else {},
        "alerts": [],
        "alert_messages": [],
    }


@dataclass(frozen=True)
class Alert:
    plugin: str
    rule: str  # records_drop, null_share, error_rate or stale
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


def check_round(document: Mapping[str, Any], history: Sequence[Mapping[str, Any]] | None, rules: AlertSettings) -> list[Alert]:
    """The rules ``document`` breaks; ``history`` (its plugin's previous rounds, newest first) None: records_drop is not checked."""
    plugin, records, alerts = document["plugin"], document["records"], []
    if history and rules.min_records_ratio > 0:
        median = statistics.median(int(previous.get("records", 0)) for previous in history)
        if records < rules.min_records_ratio * median:
            alerts.append(Alert(plugin, "records_drop", f"{records} records, under {rules.min_records_ratio:.0%} of {median:g} "
                                f"(the median of the last {len(history)} rounds)",
                                {"records": records, "median": median, "rounds": len(history), "min_ratio": rules.min_records_ratio}))  # fmt: skip
    for name, share in document["null_share"].items():
        limit = rules.null_share_limit(plugin, name)
        if share > limit:
            alerts.append(Alert(plugin, "null_share", f"field {name} is null in {share:.0%} of {records} records (limit {limit:.0%})",
                                {"field": name, "null_share": share, "limit": limit, "records": records}))  # fmt: skip
    pages, rate = document["pages"], document["error_rate"]
    if pages and rate > rules.max_error_rate:
        alerts.append(Alert(plugin, "error_rate", f"{document['errors']} of {pages} pages failed ({rate:.0%}, limit {rules.max_error_rate:.0%})",
                            {"errors": document["errors"], "pages": pages, "error_rate": rate, "limit": rules.max_error_rate}))  # fmt: skip
    return alerts


class RoundStore(Protocol):
    """Where rounds are kept: the plugin's last ``rounds`` documents, newest first; keep one more."""

    def history(self, plugin: str, rounds: int) -> list[dict[str, Any]]: ...

    def keep(self, document: dict[str, Any]) -> None: ...


class RoundChecks:
    """Check each finished round against ``[alerts]`` and keep it in ``store`` (None: kept nowhere,
    records_drop off); with ``schedules``, :meth:`check_stale` finds plugins that stopped completing rounds."""

    def __init__(
        self,
        settings: Settings,
        store: RoundStore | None,
        *,
        metrics: DaemonMetrics | None = None,
        schedules: Mapping[str, Schedule] | None = None,
    ) -> None:
        self.rules = settings.alerts
        self.store = store
        self.metrics = metrics
        self.schedules = dict(schedules or {})
        now = time.time()
        self._last_done = dict.fromkeys(self.schedules, now)
        self._stale_at = {name: self._stale_deadline(name) for name in self.schedules}
        self._stale: set[str] = set()
        self._work: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._webhook: httpx.Client | None = None

    def round_done(self, plugin: str, kind: str, fields: Sequence[str], stats: PluginStats, ended_at: float | None = None) -> None:
        """Queue the checks of ``plugin``'s round that just ended (its document is taken now)."""
        ended_at = time.time() if ended_at is None else ended_at
        document = round_document(plugin, kind, fields, stats, ended_at)
        if plugin in self._last_done:
            self._last_done[plugin] = ended_at
            self._stale_at[plugin] = self._stale_deadline(plugin)
        if plugin in self._stale:
            self._stale.discard(plugin)
            if self.metrics is not None:
                self.metrics.alert_active.labels(plugin, "stale").set(0)
            log.info("plugin %s completed a round again: its stale alert is over", plugin)
        self._submit(self._check, document)

    def check_stale(self, now: float, finished: Collection[str] = ()) -> None:
        """Fire ``stale`` for each plugin with no round completed in ``stale_after_intervals`` of its intervals
        (but those ``finished``: the daemon runs no more rounds of them)."""
        for name, deadline in self._stale_at.items():
            if deadline is not None and now > deadline and name not in self._stale and name not in finished:
                self._stale.add(name)
                intervals = self.rules.stale_after_intervals
                alert = Alert(name, "stale", f"no round completed since {utc_iso(self._last_done[name])}, "
                              f"{intervals} intervals of its schedule ({self.schedules[name]})",
                              {"last_round_ended": utc_iso(self._last_done[name]), "intervals": intervals})  # fmt: skip
                self._submit(self._fire, alert, None)

    def close(self, timeout: float = 60.0) -> None:
        """Finish the queued checks (up to ``timeout`` seconds), then stop the thread."""
        if self._thread is not None:
            self._work.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("round checks still running after %.0f s; %d left undone", timeout, self._work.qsize())
            self._thread = None
        if self._webhook is not None:
            self._webhook.close()
            self._webhook = None

    # -- in the background thread ------------------------------------------------------------------

    def _submit(self, task: Callable[..., None], *args: Any) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scrapeline-round-checks", daemon=True)
            self._thread.start()
        self._work.put((task, args))

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            task, args = item
            try:
                task(*args)
            except Exception:  # a check must never take the daemon down
                log.exception("round check failed")

    def _check(self, document: dict[str, Any]) -> None:
        plugin = document["plugin"]
        history = None
        if self.store is not None:
            try:
                history = self.store.history(plugin, self.rules.history_rounds)
            except Exception as exc:  # the index is down: the other rules still hold
                log.warning("previous rounds of %s unavailable, records_drop not checked this round: %s", plugin, _short(exc))
        alerts = check_round(document, history, self.rules)
        fired = {alert.rule for alert in alerts}
        if self.metrics is not None:
            for rule in ROUND_RULES if history is not None else ROUND_RULES[1:]:
                self.metrics.alert_active.labels(plugin, rule).set(1 if rule in fired else 0)
        for alert in alerts:
            self._fire(alert, document)
        document["alerts"] = sorted(fired)
        document["alert_messages"] = [alert.message for alert in alerts]
        if self.store is not None:
            try:
                self.store.keep(document)
            except Exception as exc:
                log.warning("round of %s ended %s not kept in Elasticsearch: %s", plugin, document["ended_at"], _short(exc))

    def _fire(self, alert: Alert, document: Mapping[str, Any] | None) -> None:
        if self.metrics is not None:
            self.metrics.alerts.labels(alert.plugin, alert.rule).inc()
            self.metrics.alert_active.labels(alert.plugin, alert.rule).set(1)
        log.warning("alert %s on plugin %s: %s", alert.rule, alert.plugin, alert.message)
        if self.rules.webhook_url:
            self._post(alert, document)

    def _post(self, alert: Alert, document: Mapping[str, Any] | None) -> None:
        import httpx

        body = {"plugin": alert.plugin, "rule": alert.rule, "message": alert.message, "figures": alert.figures, "fired_at": utc_iso(time.time())}
        if document is not None:
            body["round"] = {key: document[key] for key in ("started_at", "ended_at", "pages", "records", "errors")}
        # The URL may hold a token (chat webhooks do): only its host is ever logged.
        host = urlsplit(self.rules.webhook_url).hostname
        try:
            if self._webhook is None:
                self._webhook = httpx.Client(timeout=self.rules.webhook_timeout)
            answer = self._webhook.post(self.rules.webhook_url, json=body)
            if answer.status_code >= 400:
                log.warning("alert webhook at %s answered %d", host, answer.status_code)
        except httpx.HTTPError as exc:
            log.warning("alert webhook at %s failed: %s", host, str(exc).replace(self.rules.webhook_url, "its URL") or type(exc).__name__)

    def _stale_deadline(self, name: str) -> float | None:
        intervals = self.rules.stale_after_intervals
        if not intervals:
            return None
        moment = self._last_done[name]
        for _ in range(intervals):
            moment = self.schedules[name].next_after(moment)
        return moment


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
