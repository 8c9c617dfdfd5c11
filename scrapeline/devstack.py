"""The embedded Kafka + Elasticsearch: one noida-db process on loopback, data under ``.scrapeline/``.

``scrapeline dev up`` starts it in the background and writes where it listens
to ``.scrapeline/dev.json``; every other command reads that file when
``[kafka] bootstrap_servers`` / ``[elasticsearch] hosts`` are not set. The
tests start their own instance with the same class.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from scrapeline.settings import ConfigError, Settings

STATE_FILE = "dev.json"
INSTALL_HINT = "install it with `pip install noida-db` (make demo does), or set [kafka] bootstrap_servers and [elasticsearch] hosts"


class DevStackError(RuntimeError):
    """The embedded stack could not be found, started or reached."""


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    elasticsearch: str
    pid: int

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with the servers it leaves empty pointed at this stack."""
        if not settings.kafka.bootstrap_servers:
            settings = settings.replace("kafka", bootstrap_servers=(self.kafka,))
        if not settings.elasticsearch.hosts:
            settings = settings.replace("elasticsearch", hosts=(self.elasticsearch,))
        return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def noida_binary(configured: str = "") -> str:
    candidates = [configured] if configured else [shutil.which("noida-db") or "", str(Path(sys.executable).parent / "noida-db")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = f"[dev] noida_binary {configured!r}" if configured else "noida-db (not on PATH nor beside this Python)"
    raise DevStackError(f"{where} was not found: {INSTALL_HINT}")


class NoidaServer:
    """A noida-db process serving Kafka and Elasticsearch on loopback ports."""

    def __init__(self, data_dir: Path, *, binary: str = "", kafka_port: int = 0, elasticsearch_port: int = 0) -> None:
        self.data_dir = Path(data_dir)
        self.binary = noida_binary(binary)
        self.kafka_port = kafka_port or free_port()
        self.elasticsearch_port = elasticsearch_port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            kafka=f"127.0.0.1:{self.kafka_port}",
            elasticsearch=f"http://127.0.0.1:{self.elasticsearch_port}",
            pid=self.process.pid if self.process else 0,
        )

    def start(self, timeout: float = 60.0) -> Endpoints:
        """Start (or start again on the same ports and data, after :meth:`stop`) and wait until both answer."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.data_dir / "noida.log", "ab")
        command = [
            self.binary, "start", "--only", "kafka,elasticsearch",
            "--kafka-port", str(self.kafka_port),
            "--elasticsearch-port", str(self.elasticsearch_port),
            "--data-dir", str(self.data_dir / "noida"),
        ]  # fmt: skip
        # Its own session: a Ctrl-C in the terminal that ran `dev up` must not stop it.
        self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        try:
            wait_ready(self.endpoints, timeout, self.process)
        except DevStackError:
            self.stop()
            raise
        return self.endpoints

    def stop_service(self, service: str) -> None:
        """Stop one service (``elasticsearch`` or ``kafka``) and keep the other running; its data is kept."""
        self._control("stop", service)

    def start_service(self, service: str, timeout: float = 30.0) -> None:
        self._control("start", service)
        wait_ready(self.endpoints, timeout, self.process)

    def _control(self, action: str, service: str) -> None:
        done = subprocess.run(
            [self.binary, action, service, "--data-dir", str(self.data_dir / "noida")], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise DevStackError(f"noida-db {action} {service} failed: {(done.stdout + done.stderr).strip()[-300:]}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        stop_process(self.process.pid, timeout)
        self.process.wait()
        self.process = None


def wait_ready(endpoints: Endpoints, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise DevStackError(f"noida-db exited with code {process.returncode}: {_last_log_line(process)}")
        if _elasticsearch_answers(endpoints.elasticsearch) and _port_open(endpoints.kafka):
            return
        time.sleep(0.2)
    raise DevStackError(f"noida-db did not answer on {endpoints.kafka} and {endpoints.elasticsearch} within {timeout:g} s")


def stop_process(pid: int, timeout: float) -> None:
    """SIGTERM to the process group ``pid`` leads, then SIGKILL after ``timeout``.

    The group, not the pid: the `noida-db` command is a wrapper whose child is the server.
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        _alive(pid)  # reaps the leader when it is our child
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _last_log_line(process: subprocess.Popen[bytes]) -> str:
    log_path = Path(process.args[process.args.index("--data-dir") + 1]).parent / "noida.log"  # type: ignore[union-attr]
    try:
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip() and "GLIBC" not in line]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"


def _elasticsearch_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


# -- `scrapeline dev up|down|status` -------------------------------------------------------------


def state_path(settings: Settings) -> Path:
    return settings.data_dir / STATE_FILE


def read_state(settings: Settings) -> Endpoints | None:
    """The running embedded stack, or None when there is none (a stale state file is ignored)."""
    path = state_path(settings)
    try:
        state = json.loads(path.read_text())
        endpoints = Endpoints(**state)
    except (OSError, ValueError, TypeError):
        return None
    # A pid alone may have been reused after a reboot; the stack must also answer.
    return endpoints if _group_alive(endpoints.pid) and _elasticsearch_answers(endpoints.elasticsearch) else None


def dev_up(settings: Settings) -> tuple[Endpoints, bool]:
    """Start the embedded stack unless it runs; returns its endpoints and whether it was started now."""
    running = read_state(settings)
    if running is not None:
        return running, False
    server = NoidaServer(
        settings.data_dir,
        binary=settings.dev.noida_binary,
        kafka_port=settings.dev.kafka_port,
        elasticsearch_port=settings.dev.elasticsearch_port,
    )
    endpoints = server.start()
    state_path(settings).write_text(json.dumps(dataclasses.asdict(endpoints)))
    return endpoints, True


def dev_down(settings: Settings) -> bool:
    running = read_state(settings)
    state_path(settings).unlink(missing_ok=True)
    if running is None:
        return False
    stop_process(running.pid, 15.0)
    return True


def resolve_servers(settings: Settings) -> Settings:
    """Fill empty server settings from the running embedded stack; a clear error when there is none."""
    if settings.kafka.bootstrap_servers and settings.elasticsearch.hosts:
        return settings
    running = read_state(settings)
    if running is None:
        missing = [name for name, value in (("[kafka] bootstrap_servers", settings.kafka.bootstrap_servers),
                                            ("[elasticsearch] hosts", settings.elasticsearch.hosts)) if not value]  # fmt: skip
        raise ConfigError(f"{' and '.join(missing)} not set and no embedded stack is running: run `scrapeline dev up` first")
    return running.apply(settings)
