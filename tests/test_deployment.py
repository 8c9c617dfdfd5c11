"""The Docker deployment as files: docker-compose.yml passes `docker compose config`, and what it runs is what the code understands."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import require
from scrapeline.cli import build_parser
from scrapeline.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


def compose_command():
    """`docker compose` (v2) when the plugin is there, else Debian's `docker-compose`."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def services():
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.mark.parametrize("profile", [[], ["--profile", "grid"]], ids=["default", "grid"])
def test_compose_file_passes_docker_compose_config(profile):
    command = compose_command()
    require(command is not None, "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)")
    done = subprocess.run([*command, *profile, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"})
    assert done.returncode == 0, done.stderr


def test_every_long_running_service_has_a_health_check_and_a_restart_policy():
    for name, service in services().items():
        assert "restart" in service, name
        if name in {"kafka", "elasticsearch", "kibana"}:
            assert service["healthcheck"]["test"], name  # producer and consumer: HEALTHCHECK in their Dockerfile
    assert services()["kibana-setup"]["restart"].startswith("on-failure")
    assert services()["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services()["consumer"]["depends_on"] == {"kafka": {"condition": "service_healthy"}, "elasticsearch": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", ["kibana-setup", "producer", "consumer"])
def test_scrapeline_services_run_commands_and_settings_the_code_accepts(name):
    service = services()[name]
    args = build_parser().parse_args(service["command"])
    assert args.handler.__name__.startswith("cmd_")
    settings = load_settings(ROOT / "config.ini", environ=service["environment"])
    assert settings.kafka.bootstrap_servers == ("kafka:9092",)
    assert settings.elasticsearch.hosts == ("http://elasticsearch:9200",)
    assert settings.kibana.url == "http://kibana:5601"
    assert settings.elasticsearch.number_of_replicas == 0  # one node
    host, port = settings.kafka.bootstrap_servers[0].split(":")
    assert host in services() and f"://:{port}" in services()["kafka"]["environment"]["KAFKA_LISTENERS"]


def test_the_grid_profile_points_a_producer_at_a_hub_that_its_chromium_nodes_join():
    grid = {name: service for name, service in services().items() if "grid" in service.get("profiles", [])}
    assert set(grid) == {"selenium-hub", "chromium", "producer-grid"}
    assert all("profiles" not in service for name, service in services().items() if name not in grid)  # the default stack as before
    hub, node, producer = grid["selenium-hub"], grid["chromium"], grid["producer-grid"]
    assert re.fullmatch(r"selenium/hub:\$\{SELENIUM_VERSION:-4\.\d+\.\d+-\d{8}\}", hub["image"])  # pinned, and 4.x
    assert node["image"] == hub["image"].replace("selenium/hub:", "selenium/node-chromium:")  # the same release
    assert node["environment"]["SE_EVENT_BUS_HOST"] == "selenium-hub" and "ports" not in node  # --scale chromium=N
    # Compose's defaults for ${VAR:-default}, as `docker compose config` fills them in.
    environ = {key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value)) for key, value in producer["environment"].items()}
    settings = load_settings(ROOT / "config.ini", environ=environ)
    assert settings.browser.remote_url == "http://selenium-hub:4444" and "4444:4444" in hub["ports"][0]
    assert producer["depends_on"]["selenium-hub"] == {"condition": "service_healthy"} and hub["healthcheck"]["test"]
    assert settings.pool.workers <= int(node["environment"]["SE_NODE_MAX_SESSIONS"])  # one node's slots
    # A queued browser request gives up before the pool gives up on the worker waiting for it.
    assert int(hub["environment"]["SE_SESSION_REQUEST_TIMEOUT"]) < settings.pool.job_timeout
    intervals = [int(values["interval"]) for values in settings.plugins.values() if values.get("interval", "").isdigit()]
    assert int(node["environment"]["SE_NODE_SESSION_TIMEOUT"]) > max(intervals)  # sessions outlive the pause between rounds


@pytest.mark.parametrize("dockerfile, browser", [("Dockerfile_producer", True), ("Dockerfile_consumer", False)])
def test_dockerfiles_install_the_package_and_only_the_producer_has_a_browser(dockerfile, browser):
    text = (ROOT / dockerfile).read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)
    assert "pip install --no-cache-dir ." in text
    assert ("chromium chromium-driver" in text) is browser
    entrypoint = re.search(r'^ENTRYPOINT \["scrapeline"\]', text, re.M)
    command = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert entrypoint and command
    build_parser().parse_args(yaml.safe_load(command.group(1)))
    for path in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / path).exists(), path
    health = re.search(r"127\.0\.0\.1:(\d+)/healthz", text).group(1)
    settings = load_settings(ROOT / "config.ini", environ={})
    assert int(health) == (settings.metrics.port if browser else settings.metrics.consumer_port)
    assert "SCRAPELINE_METRICS__HOST=0.0.0.0" in text  # reachable by the health check and Prometheus
