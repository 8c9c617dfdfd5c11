"""Find site plugins and check that they keep the contract.

Discovery order, each plugin shown with its origin: the built-in ``plugins``
package, the folders in ``[pool] plugin_paths``, then installed packages
exposing the entry-point group ``scrapeline.plugins``. A plugin that fails to
import or breaks the contract becomes a :class:`Problem`; the others load.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator, Mapping

from scrapeline.records import Schema
from scrapeline.settings import ConfigError, Settings, coerce_value
from scrapers.plugin import FETCH_MODES, Plugin
from scrapers.readiness import readiness

ENTRY_POINT_GROUP = "scrapeline.plugins"
BUILTIN_PACKAGE = "plugins"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PluginEntry:
    name: str
    cls: type[Plugin]
    origin: str


@dataclass(frozen=True)
class Problem:
    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass
class Registry:
    entries: dict[str, PluginEntry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, name: str) -> PluginEntry:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise ConfigError(f"no plugin named {name!r} (known: {known})") from None

    def add(self, cls: type[Plugin], origin: str) -> None:
        reason = contract_violation(cls)
        if reason:
            self.problems.append(Problem(origin, reason))
            return
        same_kind = next((e for e in self.entries.values() if e.cls.kind == cls.kind and e.cls is not cls), None)
        if same_kind is not None and same_kind.cls.schema != cls.schema and same_kind.name != cls.name:
            self.problems.append(
                Problem(origin, f"kind {cls.kind!r} is already declared by plugin {same_kind.name!r} ({same_kind.origin}) "
                                f"with another schema; one kind has one schema, as its records share an index")
            )
            return
        earlier = self.entries.get(cls.name)
        if earlier is not None:
            if earlier.cls is not cls:
                self.problems.append(
                    Problem(origin, f"plugin name {cls.name!r} is already taken by {earlier.origin}; this one is ignored")
                )
            return
        self.entries[cls.name] = PluginEntry(cls.name, cls, origin)

    def create(self, name: str, settings: Settings) -> Plugin:
        """An instance of plugin ``name`` with its ``[plugin:NAME]`` settings applied and checked."""
        entry = self.get(name)
        return entry.cls(plugin_settings(entry.cls, settings.plugins.get(name, {})))


def plugin_settings(cls: type[Plugin], raw: Mapping[str, str]) -> dict[str, Any]:
    """Type the raw ``[plugin:NAME]`` strings by the plugin's declared defaults.

    Numbers in plugin settings are counts, limits, rates and timeouts: none may be negative.
    """
    defaults = {**cls.common_settings, **cls.default_settings}
    typed: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"[plugin:{cls.name}] {key}"
        if key not in defaults:
            raise ConfigError(f"{where}: unknown key (known: {', '.join(defaults)})")
        typed[key] = coerce_value(value, defaults[key], where)
        if isinstance(typed[key], (int, float)) and not isinstance(typed[key], bool) and typed[key] < 0:
            raise ConfigError(f"{where}: expected 0 or more, got {value.strip()}")
    return typed


def unknown_plugin_sections(registry: Registry, settings: Settings) -> list[str]:
    """One line per ``[plugin:NAME]`` section (or environment override) naming no loaded plugin."""
    known = ", ".join(sorted(registry.entries)) or "none"
    return [
        f"[plugin:{name}]: no plugin of that name; the section is ignored (known: {known})"
        for name in sorted(settings.plugins)
        if name not in registry.entries
    ]


def contract_violation(cls: Any) -> str | None:
    """Why ``cls`` is not a usable plugin, or None."""
    for attr in ("name", "kind", "schema"):
        if not hasattr(cls, attr):
            return f"{cls.__name__} is missing the required attribute {attr!r}"
    if not isinstance(cls.name, str) or not _NAME.match(cls.name):
        return f"{cls.__name__}.name must be lower-case letters, digits and _ (got {cls.name!r})"
    if not isinstance(cls.kind, str) or not _NAME.match(cls.kind):
        return f"{cls.__name__}.kind must be lower-case letters, digits and _ (got {cls.kind!r})"
    if not isinstance(cls.schema, Schema):
        return f"{cls.__name__}.schema must be a Schema"
    if cls.parse is Plugin.parse:
        return f"{cls.__name__} does not define parse()"
    try:
        readiness(cls.wait_for)
    except TypeError as exc:
        return f"{cls.__name__}.{exc}"
    if cls.fetch not in FETCH_MODES:
        return f"{cls.__name__}.fetch must be one of {', '.join(FETCH_MODES)} (got {cls.fetch!r})"
    if cls.start_requests is Plugin.start_requests and not cls.start_urls:
        return f"{cls.__name__} defines neither start_urls nor start_requests()"
    return None


def discover(plugin_paths: Iterable[str] = (), *, entry_point_group: str = ENTRY_POINT_GROUP) -> Registry:
    """Load every plugin: built-ins, then ``plugin_paths``, then installed packages."""
    registry = Registry()
    for origin, loader in _builtin_modules():
        _add_module(registry, origin, loader)
    for folder in plugin_paths:
        path = Path(folder).expanduser()
        if not path.is_dir():
            registry.problems.append(Problem(f"[pool] plugin_paths {folder}", "no such folder"))
            continue
        for file in sorted(path.glob("*.py")):
            if not file.name.startswith("_"):
                _add_module(registry, f"file {file}", lambda file=file: _import_file(file))
    for ep in entry_points(group=entry_point_group):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown package"
        origin = f"package {dist} (entry point {ep.name} = {ep.value})"
        try:
            loaded = ep.load()
        except BaseException as exc:  # a broken package must not stop the others
            registry.problems.append(_import_problem(origin, exc))
            continue
        for cls in _plugin_classes(loaded) if isinstance(loaded, ModuleType) else [loaded]:
            if not (inspect.isclass(cls) and issubclass(cls, Plugin)):
                registry.problems.append(Problem(origin, f"{loaded!r} is not a Plugin subclass"))
                continue
            registry.add(cls, origin)
    return registry


def _builtin_modules() -> Iterator[tuple[str, Any]]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module_name = f"{BUILTIN_PACKAGE}.{info.name}"
        yield f"built-in {BUILTIN_PACKAGE}/{info.name}.py", lambda module_name=module_name: importlib.import_module(module_name)


def _add_module(registry: Registry, origin: str, load: Any) -> None:
    try:
        module = load()
    except BaseException as exc:  # report and go on: one broken plugin must not stop the round
        registry.problems.append(_import_problem(origin, exc))
        return
    classes = _plugin_classes(module)
    if not classes:
        registry.problems.append(Problem(origin, "defines no Plugin subclass"))
    for cls in classes:
        registry.add(cls, origin)


def _import_problem(origin: str, exc: BaseException) -> Problem:
    """The problem of a plugin whose import raised ``exc``; Ctrl-C is the user's, not the plugin's."""
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    # sys.exit() and other BaseExceptions at import are the plugin's fault like any error.
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Problem(origin, f"import failed: {detail}")


def _plugin_classes(module: ModuleType) -> list[type[Plugin]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Plugin) and obj is not Plugin and obj.__module__ == module.__name__
    ]


def _import_file(path: Path) -> ModuleType:
    module_name = f"scrapeline_plugin_{path.stem}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def kind_schemas(registry: Registry) -> dict[str, Schema]:
    """kind -> schema of every loaded plugin (the registry keeps one schema per kind)."""
    return {entry.cls.kind: entry.cls.schema for entry in registry.entries.values()}
