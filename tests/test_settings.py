import subprocess
import sys

import pytest

from scrapeline.settings import ConfigError, load_settings


def write(tmp_path, text):
    path = tmp_path / "config.ini"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.pool.workers == 2
    assert settings.kafka.bootstrap_servers == ()
    assert settings.source == "defaults"


def test_file_then_environment(tmp_path):
    path = write(tmp_path, "[pool]\nworkers = 3\n[kafka]\nbootstrap_servers = a:9092, b:9092\n[plugin:coinmarketcap]\npages = 4\n")
    settings = load_settings(path, environ={"SCRAPELINE_POOL__WORKERS": "5", "SCRAPELINE_PLUGIN_COINMARKETCAP__BASE_URL": "http://x"})
    assert settings.pool.workers == 5
    assert settings.kafka.bootstrap_servers == ("a:9092", "b:9092")
    assert settings.plugins["coinmarketcap"] == {"pages": "4", "base_url": "http://x"}


@pytest.mark.parametrize(
    "text, environ, message",
    [
        ("[pool]\nworkers = many\n", {}, "config.ini [pool] workers: expected a whole number, got 'many'"),
        ("[browser]\nheadless = sometimes\n", {}, "config.ini [browser] headless: expected true or false"),
        ("[pool]\nworkerz = 2\n", {}, "config.ini [pool] workerz: unknown key in [pool]"),
        ("[poool]\nworkers = 2\n", {}, "unknown section [poool]"),
        ("", {"SCRAPELINE_BROWSER__PAGE_LOAD_TIMEOUT": "soon"}, "environment SCRAPELINE_BROWSER__PAGE_LOAD_TIMEOUT: expected a number"),
        ("[plugin:Bad-Name]\nx = 1\n", {}, "[plugin:Bad-Name]: plugin names are lower-case"),
        ("[pool\nworkers=1\n", {}, "config.ini"),
    ],
)
def test_bad_values_name_section_and_key(tmp_path, text, environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ=environ)
    assert message in str(caught.value)


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "nope.ini", environ={})


def test_cli_reports_a_bad_setting_in_one_line(tmp_path):
    path = write(tmp_path, "[pool]\nworkers = many\n")
    done = subprocess.run([sys.executable, "-m", "scrapeline.cli", "plugins", "--config", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: config.ini [pool] workers: expected a whole number, got 'many'"


def test_cli_reports_a_bad_plugin_setting_in_one_line(tmp_path):
    path = write(tmp_path, "[plugin:coinmarketcap]\npages = two\n")
    done = subprocess.run([sys.executable, "-m", "scrapeline.cli", "plugins", "--config", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: [plugin:coinmarketcap] pages: expected a whole number, got 'two'"


def test_commands_need_servers_or_the_embedded_stack(tmp_path):
    path = write(tmp_path, f"[pool]\ndata_dir = {tmp_path / 'data'}\n")
    done = subprocess.run([sys.executable, "-m", "scrapeline.cli", "consume", "--config", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "no embedded stack is running: run `scrapeline dev up` first" in done.stderr
    assert "Traceback" not in done.stderr
