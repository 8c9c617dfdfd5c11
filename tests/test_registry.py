import textwrap

import pytest

from scrapeline.settings import ConfigError, Settings
from scrapers.registry import discover

GOOD = """
from scrapers import Plugin, Schema

class Quotes(Plugin):
    name = "quotes"
    kind = "quote"
    schema = Schema(fields={"text": "text"}, id_fields=("text",))
    start_urls = ("http://127.0.0.1/",)
    default_settings = {"limit": 5}

    def parse(self, page):
        yield {"text": "x"}
"""


def plugin_dir(tmp_path, **files):
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    return str(tmp_path)


def test_builtin_plugins_with_origin():
    registry = discover()
    assert registry.get("coinmarketcap").origin == "built-in plugins/coinmarketcap.py"
    assert registry.problems == []


def test_enabled_comes_from_the_plugin_default_unless_configured():
    from scrapeline.rounds import enabled_plugins

    registry = discover()
    assert enabled_plugins(registry, Settings()) == ["coinmarketcap", "openfoodfacts"]
    configured = Settings(plugins={"quotes": {"enabled": "yes"}, "openfoodfacts": {"enabled": "no"}})
    assert enabled_plugins(registry, configured) == ["coinmarketcap", "quotes"]


def test_plugin_file_in_a_plugin_path_and_its_settings(tmp_path):
    registry = discover([plugin_dir(tmp_path, quotes=GOOD)])
    assert registry.get("quotes").origin == f"file {tmp_path / 'quotes.py'}"
    settings = Settings(plugins={"quotes": {"limit": "7"}})
    assert registry.create("quotes", settings).settings["limit"] == 7
    with pytest.raises(ConfigError, match=r"\[plugin:quotes\] colour: unknown key"):
        registry.create("quotes", Settings(plugins={"quotes": {"colour": "red"}}))


def test_broken_plugins_are_reported_and_the_others_load(tmp_path):
    folder = plugin_dir(
        tmp_path,
        quotes=GOOD,
        broken="import no_such_module\n",
        nameless=GOOD.replace('name = "quotes"', "").replace("class Quotes", "class Nameless"),
        twin=GOOD.replace("class Quotes", "class Twin").replace('name = "quotes"', 'name = "coinmarketcap"'),
    )
    registry = discover([folder, str(tmp_path / "missing")])
    assert set(registry.entries) == {"coingecko", "coinmarketcap", "openfoodfacts", "quotes"}
    problems = {p.origin: p.reason for p in registry.problems}
    assert problems[f"file {tmp_path / 'broken.py'}"] == "import failed: ModuleNotFoundError: No module named 'no_such_module'"
    assert problems[f"file {tmp_path / 'nameless.py'}"] == "Nameless is missing the required attribute 'name'"
    assert problems[f"file {tmp_path / 'twin.py'}"] == (
        "plugin name 'coinmarketcap' is already taken by built-in plugins/coinmarketcap.py; this one is ignored"
    )
    assert problems[f"[pool] plugin_paths {tmp_path / 'missing'}"] == "no such folder"


def test_unknown_plugin_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"no plugin named 'nope' \(known: coingecko, coinmarketcap, openfoodfacts, quotes\)"):
        discover().get("nope")


def test_one_kind_has_one_schema(tmp_path):
    other = GOOD.replace('name = "quotes"', 'name = "coins"').replace('kind = "quote"', 'kind = "crypto_quote"')
    registry = discover([plugin_dir(tmp_path, coins=other)])
    assert "coins" not in registry.entries
    (problem,) = [p for p in registry.problems if p.origin == f"file {tmp_path / 'coins.py'}"]
    # The first of the two built-in crypto_quote plugins to load (they share one schema).
    assert problem.reason.startswith("kind 'crypto_quote' is already declared by plugin 'coingecko'")


def test_a_plugin_that_exits_at_import_is_a_problem_and_the_others_load(tmp_path):
    folder = plugin_dir(tmp_path, quitter="import sys\nsys.exit(3)\n", silent="raise SystemExit\n", quotes=GOOD)
    registry = discover([folder])
    assert "quotes" in registry.entries and "coinmarketcap" in registry.entries
    problems = {p.origin: p.reason for p in registry.problems}
    assert problems[f"file {tmp_path / 'quitter.py'}"] == "import failed: SystemExit: 3"
    assert problems[f"file {tmp_path / 'silent.py'}"] == "import failed: SystemExit"


def test_ctrl_c_during_a_plugin_import_is_not_swallowed(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        discover([plugin_dir(tmp_path, interrupted="raise KeyboardInterrupt\n")])
