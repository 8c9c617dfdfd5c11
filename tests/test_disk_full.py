"""The scrape daemon on a disk that fills up: it says so, waits, and goes on once there is room."""

import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import require
from dev_env import read_topic
from pipeline.envelope import records_topic
from test_consumer import metric
from test_consumer_health import health
from test_daemon import start_daemon

pytestmark = pytest.mark.usefixtures("chromium")


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs, filled up by a ballast file: ``(folder, ballast)``."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    require(mounted.returncode == 0, f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    ballast = folder / "ballast"
    descriptor = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(descriptor, b"\0" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(descriptor)
    yield folder, ballast
    subprocess.run(["umount", "-l", str(folder)], check=True)


def until(condition, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:  # the metrics endpoint is not up yet
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def test_a_full_disk_pauses_scraping_and_is_reported_then_everything_is_sent(settings, full_disk):
    folder, ballast = full_disk
    settings = settings.replace("pool", data_dir=str(folder / "data"))
    process, url = start_daemon(settings, interval="3600")
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)
    reader.start()
    try:
        status, state = until(lambda: (lambda h: h if h[0] == 503 and h[1]["spool"] != "ok" else None)(health(url)))
        assert "the spool's disk is full" in state["spool"]
        assert metric(url, "scrapeline_spool_disk_full") == 1.0
        assert process.poll() is None  # waiting, not crashed

        ballast.unlink()
        until(lambda: health(url)[0] == 200, timeout=60)
        assert metric(url, "scrapeline_spool_disk_full") == 0.0
        topic = records_topic(settings.kafka.topic_prefix, "crypto_quote")
        until(lambda: len(read_topic(settings, topic)) >= 101, timeout=120)
        assert len(read_topic(settings, topic)) == 101
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        reader.join(10)
    output = "".join(errors)
    assert code == 0, output
    assert "Traceback" not in output
    full = [line for line in output.splitlines() if "disk is full" in line]
    assert full and all("ERROR scrapeline.publisher: the spool's disk is full (No space left on device)" in line for line in full), full
