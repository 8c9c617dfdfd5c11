"""Being offline, reproduced on any machine: every host but loopback hangs.

A saved real page names hundreds of third-party resources. On a closed network
their connections neither succeed nor fail fast: they hang until the browser
gives up. ``Tarpit`` reproduces that exactly (it accepts connections and never
answers), and ``offline_browser_args`` sends every host but the loopback
mirror there, so tests and benchmarks of real pages behave the same on a
machine with internet access and on one without.
"""

from __future__ import annotations

import socket
import threading


class Tarpit:
    """A loopback TCP server that accepts every connection and never answers."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._listener = socket.create_server((host, 0), backlog=512)
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tarpit", daemon=True)
        self.connections = 0

    @property
    def address(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> "Tarpit":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for held in self._held:
                held.close()
            self._held.clear()

    def __enter__(self) -> "Tarpit":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(connection)
                self.connections += 1


def offline_browser_args(tarpit: Tarpit, *reachable_hosts: str) -> tuple[str, ...]:
    """``[browser] extra_args`` that send every host but loopback (and ``reachable_hosts``) to the tarpit."""
    excluded = ", ".join(f"EXCLUDE {host}" for host in ("127.0.0.1", "localhost", *reachable_hosts))
    return (f"--host-resolver-rules=MAP * {tarpit.address}, {excluded}",)
