"""A bounded on-disk queue of Kafka messages: written first, sent in order, trimmed once acknowledged.

Segments are JSON-lines files ``<seq>.jsonl``; ``cursor.json`` says how far the
broker has acknowledged. A crash or restart resumes at the cursor, so a message
is sent at least once and never lost while the disk holds it. One process owns
a spool folder at a time (an advisory lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

SEGMENT_BYTES = 8 * 1024 * 1024


class SpoolBusy(RuntimeError):
    """Another process owns this spool folder."""


@dataclass(frozen=True)
class SpooledMessage:
    topic: str
    key: bytes | None
    value: bytes
    # Where the next message starts: acknowledging this message moves the cursor here.
    next_position: tuple[int, int]


class Spool:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock_file = open(self.folder / "lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            owner = self._lock_file.read().strip() or "unknown"
            self._lock_file.close()
            raise SpoolBusy(
                f"the spool {self.folder} is in use by another scrapeline process (pid {owner}); "
                "stop it or give this one another [pool] data_dir"
            ) from None
        self._lock_file.truncate(0)
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()
        self._mutex = threading.Condition()
        self._cursor = self._read_cursor()
        segments = self._segments()
        # Bytes on disk, sent or not (what max_bytes bounds); kept up to date on append and trim,
        # so checking the bound does not stat every segment per record.
        self._size = sum(self._segment_path(seq).stat().st_size for seq in segments)
        self._write_seq = segments[-1] if segments else self._cursor[0]
        self._writer = open(self._segment_path(self._write_seq), "ab")

    # -- writing -------------------------------------------------------------------------------

    def append(self, topic: str, key: bytes | None, value: bytes, *, block_log: object = None) -> None:
        """Add one message at the end; waits while the spool is full (Kafka down for long)."""
        line = json.dumps(
            {"t": topic, "k": key.decode("utf-8", "surrogateescape") if key is not None else None, "v": value.decode("utf-8")},
            ensure_ascii=False,
        ).encode() + b"\n"
        with self._mutex:
            warned = False
            while self._size + len(line) > self.max_bytes:
                if not warned and callable(block_log):
                    block_log()
                    warned = True
                self._mutex.wait(1.0)
            if self._writer.tell() >= SEGMENT_BYTES:
                self._writer.flush()
                os.fsync(self._writer.fileno())
                self._writer.close()
                self._write_seq += 1
                self._writer = open(self._segment_path(self._write_seq), "ab")
            self._writer.write(line)
            self._writer.flush()  # in the OS now: a crash of this process loses nothing
            self._size += len(line)
            self._mutex.notify_all()

    # -- reading -------------------------------------------------------------------------------

    def read(self, limit: int) -> list[SpooledMessage]:
        """Up to ``limit`` messages from the cursor on, oldest first."""
        messages: list[SpooledMessage] = []
        seq, offset = self._cursor
        with self._mutex:
            last_seq = self._write_seq
        while len(messages) < limit and seq <= last_seq:
            path = self._segment_path(seq)
            if path.exists():
                with open(path, "rb") as segment:
                    segment.seek(offset)
                    while len(messages) < limit:
                        line = segment.readline()
                        if not line.endswith(b"\n"):
                            break  # end of what is written (or a line being written)
                        offset += len(line)
                        body = json.loads(line)
                        key = body["k"].encode("utf-8", "surrogateescape") if body["k"] is not None else None
                        messages.append(SpooledMessage(body["t"], key, body["v"].encode(), (seq, offset)))
            if len(messages) >= limit or seq == last_seq:
                break
            seq, offset = seq + 1, 0
        return messages

    def acknowledge(self, position: tuple[int, int]) -> None:
        """Everything before ``position`` reached Kafka: move the cursor and drop finished segments."""
        self._cursor = position
        temporary = self.folder / "cursor.json.tmp"
        temporary.write_text(json.dumps({"segment": position[0], "offset": position[1]}))
        os.replace(temporary, self.folder / "cursor.json")
        with self._mutex:
            for seq in self._segments():
                if seq < position[0]:
                    path = self._segment_path(seq)
                    self._size -= path.stat().st_size
                    path.unlink()
            self._mutex.notify_all()

    def wait_for_data(self, timeout: float) -> None:
        with self._mutex:
            if self.pending_bytes() == 0:
                self._mutex.wait(timeout)

    # -- state ---------------------------------------------------------------------------------

    def pending_bytes(self) -> int:
        """Bytes written but not yet acknowledged."""
        seq, offset = self._cursor
        total = 0
        for current in self._segments():
            if current >= seq:
                total += self._segment_path(current).stat().st_size - (offset if current == seq else 0)
        return max(0, total)

    def close(self) -> None:
        with self._mutex:
            self._writer.flush()
            os.fsync(self._writer.fileno())
            self._writer.close()
        self._lock_file.close()

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.folder.glob("*.jsonl") if p.stem.isdigit())

    def _segment_path(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}.jsonl"

    def _read_cursor(self) -> tuple[int, int]:
        try:
            body = json.loads((self.folder / "cursor.json").read_text())
            return int(body["segment"]), int(body["offset"])
        except (OSError, ValueError, KeyError):
            segments = self._segments()
            return (segments[0] if segments else 0), 0

