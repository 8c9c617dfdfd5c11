"""Every scrapeline setting, its default and its type, in one place.

Settings are filled in this order: the defaults below -> ``config.ini`` ->
environment variables ``SCRAPELINE_<SECTION>__<KEY>`` (plugin sections:
``SCRAPELINE_PLUGIN_<NAME>__<KEY>``) -> command-line flags. They are checked
once, at load; a bad value or unknown key raises :class:`ConfigError` whose
message names the section and key.

Plugin sections (``[plugin:NAME]``) are kept as raw strings here and checked
against the defaults each plugin declares when the registry binds it
(see :func:`coerce_value`).
"""

from __future__ import annotations

import configparser
import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, get_type_hints

ENV_PREFIX = "SCRAPELINE_"
PLUGIN_SECTION_PREFIX = "plugin:"
_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A setting is missing, unknown or of the wrong type; the message names where."""


# Bounds of a numeric setting, as field metadata: {"min": 1} (inclusive), {"above": 0} (exclusive),
# {"max": 65535}. Checked once, at load (check_bounds); floats are always finite.
COUNT = {"min": 1}
NON_NEGATIVE = {"min": 0}
POSITIVE = {"above": 0}
PORT = {"min": 0, "max": 65535}


@dataclass(frozen=True)
class KafkaSettings:
    # Empty means "use the embedded stack started by `scrapeline dev up`".
    bootstrap_servers: tuple[str, ...] = ()
    topic_prefix: str = "scrapeline"
    partitions: int = field(default=3, metadata=COUNT)
    replication_factor: int = field(default=1, metadata=COUNT)
    group_id: str = "scrapeline-indexer"
    client_id: str = "scrapeline"
    linger_ms: int = field(default=20, metadata=NON_NEGATIVE)
    request_timeout_ms: int = field(default=30000, metadata=COUNT)
    max_poll_records: int = field(default=500, metadata=COUNT)
    # A consumer that does not poll for this long leaves its group; the indexer keeps polling
    # (paused) while Elasticsearch is down, so this only bounds one bulk request.
    max_poll_interval_ms: int = field(default=300000, metadata=COUNT)
    session_timeout_ms: int = field(default=10000, metadata=COUNT)
    heartbeat_interval_ms: int = field(default=3000, metadata=COUNT)
    # Seconds a consumer may hold no partition while records topics exist (a group join, a stale member)
    # before /healthz says not ok and `consume --until-idle` gives up with exit code 1.
    assignment_grace_s: float = field(default=60.0, metadata=POSITIVE)
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""


@dataclass(frozen=True)
class ElasticsearchSettings:
    # Empty means "use the embedded stack started by `scrapeline dev up`".
    hosts: tuple[str, ...] = ()
    index_prefix: str = "scrapeline"
    username: str = ""
    password: str = ""
    api_key: str = ""
    ca_certs: str = ""
    verify_certs: bool = True
    request_timeout: float = 30.0
    bulk_chunk_size: int = field(default=500, metadata=COUNT)
    # 429 handling inside one bulk call, as in helpers.streaming_bulk.
    bulk_max_retries: int = field(default=5, metadata=NON_NEGATIVE)
    initial_backoff: float = field(default=1.0, metadata=NON_NEGATIVE)
    max_backoff: float = field(default=60.0, metadata=NON_NEGATIVE)
    # History indices (kinds whose schema keeps history) are cut by: day, month or year.
    history_partition: str = "month"
    # A record scraped more than this many seconds in the future (by this consumer's clock) is dead-lettered:
    # indexed, it would stay the entity's latest document until that time.
    max_clock_skew_s: float = field(default=300.0, metadata=NON_NEGATIVE)
    # Of each new index (set in the kind's index template). A single-node cluster needs 0 replicas to be green.
    number_of_shards: int = field(default=1, metadata=COUNT)
    number_of_replicas: int = field(default=1, metadata=NON_NEGATIVE)

    def __post_init__(self) -> None:
        if self.history_partition not in ("day", "month", "year"):
            raise ConfigError(f"[elasticsearch] history_partition: expected day, month or year, got {self.history_partition!r}")


@dataclass(frozen=True)
class KibanaSettings:
    """Where `scrapeline kibana setup` imports the dashboards."""

    url: str = ""
    # A Kibana space other than the default one.
    space: str = ""
    username: str = ""
    password: str = ""
    api_key: str = ""
    request_timeout: float = 30.0


@dataclass(frozen=True)
class BrowserSettings:
    driver_path: str = ""
    binary_path: str = ""
    remote_url: str = ""
    headless: bool = True
    page_load_timeout: float = field(default=30.0, metadata=POSITIVE)
    script_timeout: float = field(default=30.0, metadata=POSITIVE)
    user_agent: str = ""
    window_size: str = "1366,900"
    extra_args: tuple[str, ...] = ()
    # A worker's browser is replaced after this many pages, or once its memory (proportional set size,
    # shared pages counted once) passes max_rss_mb.
    max_pages: int = field(default=200, metadata=COUNT)
    max_rss_mb: int = field(default=1500, metadata=COUNT)
    # Resource blocking (see scrapers/blocking.py); each of the last three can be set per plugin.
    # blocking = false turns all of it off, the plugins' own choices included.
    blocking: bool = True
    # Resource types never fetched: image, media, font, stylesheet, script.
    block_resources: tuple[str, ...] = ()
    # Hosts whose requests fail at once (patterns such as *.doubleclick.net).
    block_hosts: tuple[str, ...] = ()
    # When set, only these hosts load ("self": the page's own host).
    allow_hosts: tuple[str, ...] = ()
    # Proxies (scrapers/proxies.py): http://user:pass@host:port or socks5://[user:pass@]host:port,
    # comma-separated to rotate; each may be set per plugin ("none": no proxy there).
    proxy: tuple[str, ...] = ()
    # browser: each new browser takes the next proxy; request: each HTTP page does (browser pages still per browser).
    proxy_rotation: str = "browser"
    # Where the local forwarder that adds the proxy's credentials listens; empty: 127.0.0.1 for a local
    # browser, none through a Grid. proxy_forwarder_host: the name the browser reaches it by (empty: the bind address).
    proxy_forwarder_bind: str = ""
    proxy_forwarder_host: str = ""

    def __post_init__(self) -> None:
        if self.proxy_rotation not in ("browser", "request"):
            raise ConfigError(f"[browser] proxy_rotation: expected browser or request, got {self.proxy_rotation!r}")
        for proxy in self.proxy:
            scheme, _, rest = proxy.partition("://")
            address = rest.rpartition("@")[2]
            if scheme not in ("http", "socks5", "socks5h") or not re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:/@\[\]]+):\d{1,5}/?", address):
                # Only what follows the credentials is shown: the value may hold a password.
                shown = repr(f"{scheme}://{address}") if rest else "a value without scheme://"
                raise ConfigError(f"[browser] proxy: expected http://[user:pass@]host:port or socks5://[user:pass@]host:port, got {shown}")


@dataclass(frozen=True)
class PoolSettings:
    workers: int = field(default=2, metadata=COUNT)
    retries: int = field(default=2, metadata=NON_NEGATIVE)
    plugin_paths: tuple[str, ...] = ()
    data_dir: str = ".scrapeline"
    # A job that takes longer than this is treated as a hung worker.
    job_timeout: float = field(default=180.0, metadata=POSITIVE)
    # Politeness towards each site (host), whatever the plugin: pages loading at once, and per minute (0: no limit).
    domain_concurrency: int = field(default=2, metadata=COUNT)
    domain_requests_per_minute: float = field(default=0.0, metadata=NON_NEGATIVE)
    # Seconds the daemon gives pages in flight to finish after SIGTERM/SIGINT.
    shutdown_timeout: float = field(default=30.0, metadata=NON_NEGATIVE)
    # Seconds between the daemon's statistics log lines.
    log_interval: float = field(default=60.0, metadata=POSITIVE)
    # The on-disk spool that keeps records while Kafka is unreachable; scraping waits when it is full.
    spool_max_mb: int = field(default=1024, metadata=COUNT)
    # Seconds a site's robots.txt is trusted before it is fetched again.
    robots_ttl: float = field(default=86400.0, metadata=POSITIVE)
    # The longest Retry-After (seconds) honoured; a site asking for more is held this long.
    max_retry_after: float = field(default=300.0, metadata=NON_NEGATIVE)
    # Snapshots of failed or empty pages under <data_dir>/snapshots, oldest removed beyond this (0: none).
    snapshots_max_mb: int = field(default=200, metadata=NON_NEGATIVE)


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus /metrics and /healthz of the scrape daemon (port) and the consumer (consumer_port). 0 turns one off."""

    host: str = "127.0.0.1"
    port: int = field(default=9464, metadata=PORT)
    consumer_port: int = field(default=9465, metadata=PORT)


@dataclass(frozen=True)
class DevSettings:
    """The embedded noida-db stack (`scrapeline dev up`). Port 0 picks a free one."""

    noida_binary: str = ""
    kafka_port: int = field(default=0, metadata=PORT)
    elasticsearch_port: int = field(default=0, metadata=PORT)


@dataclass(frozen=True)
class AlertSettings:
    """Data-quality rules checked at the end of every round (scrapers/quality.py). A rule that fires gives a WARNING
    line, scrapeline_alerts_total / scrapeline_alert_active, a mark on the round in <index_prefix>-rounds, and a webhook POST."""

    # Rounds of the plugin, kept in <index_prefix>-rounds, that a new round is compared with.
    history_rounds: int = field(default=5, metadata=COUNT)
    # Fires when a round's records fall below this share of the median of those rounds (0: off).
    min_records_ratio: float = field(default=0.5, metadata=NON_NEGATIVE)
    # Fires when a field is None in more than this share of a round's valid records (1: off) ...
    max_null_share: float = field(default=0.5, metadata={"min": 0, "max": 1})
    # ... or than its own limit here: "plugin.field:share" or "field:share" (any plugin), comma-separated.
    # The built-in plugins' sparse fields: CoinMarketCap's listing shows no supplies, products often lack these two.
    field_thresholds: tuple[str, ...] = ("max_supply:1", "coinmarketcap.total_supply:1", "openfoodfacts.fiber:0.9", "openfoodfacts.ecoscore_grade:0.9")
    # Fires when more than this share of a round's pages failed (1: off).
    max_error_rate: float = field(default=0.2, metadata={"min": 0, "max": 1})
    # The daemon fires when a plugin has completed no round for this many of its schedule's intervals (0: off).
    stale_after_intervals: int = field(default=2, metadata=NON_NEGATIVE)
    # Each alert is POSTed here as JSON, in the background; failures are logged.
    webhook_url: str = ""
    webhook_timeout: float = field(default=5.0, metadata=POSITIVE)

    def __post_init__(self) -> None:
        for entry in self.field_thresholds:
            name, _, share = entry.rpartition(":")
            try:
                valid = bool(name.strip()) and 0 <= float(share) <= 1
            except ValueError:
                valid = False
            if not valid:
                raise ConfigError(f"[alerts] field_thresholds: expected plugin.field:share or field:share with a share from 0 to 1, got {entry!r}")

    def null_share_limit(self, plugin: str, name: str) -> float:
        """The null share above which ``name`` of ``plugin`` fires: its own entry, else the field's, else max_null_share."""
        limits = {key.strip(): float(share) for key, _, share in (entry.rpartition(":") for entry in self.field_thresholds)}
        return limits.get(f"{plugin}.{name}", limits.get(name, self.max_null_share))


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)
    kibana: KibanaSettings = field(default_factory=KibanaSettings)
    browser: BrowserSettings = field(default_factory=BrowserSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    dev: DevSettings = field(default_factory=DevSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    # [plugin:NAME] -> {key: raw string}; typed by the plugin's declared defaults.
    plugins: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    source: str = "defaults"

    @property
    def data_dir(self) -> Path:
        return Path(self.pool.data_dir)

    def replace(self, section: str, **changes: Any) -> "Settings":
        """A copy with some keys of one section changed (used for CLI flags)."""
        current = getattr(self, section)
        check_bounds(type(current), changes, lambda key: f"[{section}] {key}")
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **changes)})

    def with_plugin_values(self, plugin: str, **values: str) -> "Settings":
        merged = {name: dict(section) for name, section in self.plugins.items()}
        merged.setdefault(plugin, {}).update(values)
        return dataclasses.replace(self, plugins=merged)


SECTIONS: dict[str, type] = {
    "kafka": KafkaSettings,
    "elasticsearch": ElasticsearchSettings,
    "kibana": KibanaSettings,
    "browser": BrowserSettings,
    "pool": PoolSettings,
    "metrics": MetricsSettings,
    "dev": DevSettings,
    "alerts": AlertSettings,
}


def coerce_value(raw: str, target: Any, where: str) -> Any:
    """Turn the string ``raw`` into the type of ``target`` (a type, or a default value)."""
    kind = target if isinstance(target, type) or _is_tuple_hint(target) else type(target)
    text = raw.strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {raw!r}") from None
    if kind is float:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {raw!r}")
        return number
    if kind is tuple or _is_tuple_hint(kind):
        return tuple(part.strip() for part in re.split(r"[,\n]", text) if part.strip())
    if kind is str:
        return text
    raise ConfigError(f"{where}: settings of type {kind!r} are not supported")


def check_bounds(cls: type, values: Mapping[str, Any], where: Any) -> None:
    """Raise :class:`ConfigError` naming ``where(key)`` for a value outside its field's bounds."""
    for spec in dataclasses.fields(cls):
        if spec.name not in values or not spec.metadata:
            continue
        value = values[spec.name]
        low, high, above = spec.metadata.get("min"), spec.metadata.get("max"), spec.metadata.get("above")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where(spec.name)}: expected a finite number, got {value!r}")
        if low is not None and value < low:
            raise ConfigError(f"{where(spec.name)}: expected {low} or more, got {value!r}")
        if above is not None and value <= above:
            raise ConfigError(f"{where(spec.name)}: expected more than {above}, got {value!r}")
        if high is not None and value > high:
            raise ConfigError(f"{where(spec.name)}: expected {high} or less, got {value!r}")


def _is_tuple_hint(hint: Any) -> bool:
    return getattr(hint, "__origin__", None) is tuple


def load_settings(path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from ``path`` (``config.ini`` in the working folder when it exists) and the environment."""
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, str]] = {}
    origin: dict[tuple[str, str], str] = {}
    source = "defaults"
    config_path = Path(path) if path is not None else Path("config.ini")
    if path is not None and not config_path.is_file():
        raise ConfigError(f"{config_path}: no such config file")
    if config_path.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(config_path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{config_path}: {exc.message.splitlines()[0]}") from None
        except UnicodeDecodeError as exc:
            line = exc.object[: exc.start].count(b"\n") + 1
            raise ConfigError(f"{config_path} line {line}: not valid UTF-8 (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8") from None
        for section in parser.sections():
            for key, value in parser.items(section, raw=True):
                raw.setdefault(section, {})[key] = value
                origin[(section, key)] = f"{config_path.name} [{section}] {key}"
        source = str(config_path)
    for name, value in environ.items():
        located = _section_key_from_env(name)
        if located is None:
            continue
        section, key = located
        raw.setdefault(section, {})[key] = value
        origin[(section, key)] = f"environment {name}"

    built: dict[str, Any] = {}
    plugins: dict[str, dict[str, str]] = {}
    for section, values in raw.items():
        if section.startswith(PLUGIN_SECTION_PREFIX):
            name = section[len(PLUGIN_SECTION_PREFIX):]
            if not _PLUGIN_NAME.match(name):
                raise ConfigError(f"[{section}]: plugin names are lower-case letters, digits and _")
            plugins[name] = dict(values)
            continue
        cls = SECTIONS.get(section)
        if cls is None:
            known = ", ".join(f"[{s}]" for s in SECTIONS)
            where = origin[(section, next(iter(values)))]
            raise ConfigError(f"{where}: unknown section [{section}] (known: {known}, [plugin:NAME])")
        hints = get_type_hints(cls)
        typed = {}
        for key, value in values.items():
            where = origin[(section, key)]
            if key not in hints:
                known_keys = ", ".join(hints)
                raise ConfigError(f"{where}: unknown key in [{section}] (known: {known_keys})")
            typed[key] = coerce_value(value, hints[key], where)
        check_bounds(cls, typed, lambda key, section=section: origin[(section, key)])
        built[section] = cls(**typed)
    return Settings(**built, plugins=plugins, source=source)


def _section_key_from_env(name: str) -> tuple[str, str] | None:
    if not name.startswith(ENV_PREFIX) or "__" not in name:
        return None
    head, key = name[len(ENV_PREFIX):].split("__", 1)
    head, key = head.lower(), key.lower()
    if head.startswith("plugin_"):
        return f"{PLUGIN_SECTION_PREFIX}{head[len('plugin_'):]}", key
    return head, key
