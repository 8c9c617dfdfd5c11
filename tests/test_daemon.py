"""The scrape daemon as an operator runs it: a process that runs on schedule and stops cleanly."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from dev_env import ROOT, server_env
from scrapeline.devstack import free_port

pytestmark = pytest.mark.usefixtures("chromium")


def start_daemon(settings, *extra, interval="2"):
    metrics_port = free_port()
    env = {
        **os.environ,
        **server_env(settings),
        "SCRAPELINE_PLUGIN_COINMARKETCAP__INTERVAL": interval,
        "SCRAPELINE_METRICS__PORT": str(metrics_port),
        "SCRAPELINE_POOL__WORKERS": "2",
    }
    command = [sys.executable, "-m", "scrapeline.cli", "scrape", "--daemon", "--plugin", "coinmarketcap",
               "--mirror", "coinmarketcap=tests/fixtures/sites/coinmarketcap", *extra]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    return process, f"http://127.0.0.1:{metrics_port}"


def wait_for_line(process, text, timeout=90):
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not seen; output:\n{''.join(lines[-30:])}")


def browsers_of(pids):
    """Live Chromium and ChromeDriver processes of these workers (by process group, so re-parenting does not hide them).

    A killed process waits as a zombie until its new parent reaps it: dead, so not counted."""
    groups = set(pids)
    found = []
    for process in psutil.process_iter(["name", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if "chrom" in (process.info["name"] or "") and (os.getpgid(process.pid) in groups or process.ppid() in groups):
                found.append(process)
        except (psutil.Error, ProcessLookupError):
            pass
    return found


def live(pids):
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def assert_all_gone(workers, timeout=15):
    """Neither the workers nor any of their browser processes are alive (polling: they die within moments)."""
    deadline = time.monotonic() + timeout
    while (browsers_of(workers) or live(workers)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert browsers_of(workers) == []
    assert live(workers) == []


def worker_pids(daemon_pid):
    """The daemon's workers: its children that lead their own process group (not multiprocessing's helpers)."""
    return [child.pid for child in psutil.Process(daemon_pid).children() if os.getpgid(child.pid) == child.pid]


def test_two_scheduled_rounds_then_sigterm_stops_cleanly(settings):
    process, metrics = start_daemon(settings)
    try:
        wait_for_line(process, "round 2 of coinmarketcap done: 1 pages, 101 records, 0 errors")
        health = json.load(urllib.request.urlopen(f"{metrics}/healthz", timeout=5))
        assert health["ok"] and health["workers_alive"] == 2
        text = urllib.request.urlopen(f"{metrics}/metrics", timeout=5).read().decode()
        assert 'scrapeline_rounds_total{plugin="coinmarketcap"}' in text
        for phase in ("navigate", "wait", "html", "parse", "publish"):
            assert f'scrapeline_page_phase_seconds_count{{phase="{phase}",plugin="coinmarketcap"}} 2.0' in text
        workers = worker_pids(process.pid)
        assert len(workers) == 2 and browsers_of(workers)
        process.send_signal(signal.SIGTERM)
        lines = wait_for_line(process, "stopped", timeout=60)
        assert process.wait(timeout=30) == 0, "".join(lines)
        assert_all_gone(workers)
    finally:
        process.kill()


def test_a_second_signal_forces_the_stop(settings):
    process, _ = start_daemon(settings)
    try:
        wait_for_line(process, "round 1 of coinmarketcap done")
        workers = worker_pids(process.pid)
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) in (0, 1)
        assert_all_gone(workers)
    finally:
        process.kill()


def test_no_browser_outlives_a_crashed_daemon(settings):
    process, _ = start_daemon(settings)
    try:
        wait_for_line(process, "round 1 of coinmarketcap done")
        workers = worker_pids(process.pid)
        assert browsers_of(workers)
        process.kill()  # SIGKILL: no handler runs in the daemon itself
        process.wait()
        assert_all_gone(workers)
    finally:
        process.kill()
