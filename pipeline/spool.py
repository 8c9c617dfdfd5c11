"""A bounded on-disk queue of Kafka messages: written first, sent in order, trimmed once acknowledged.

Segments are JSON-lines files ``<seq>.jsonl``; ``cursor.json`` says how far the
broker has acknowledged. A crash or restart resumes at the cursor, so a message
is sent at least once and never lost while the disk holds it. One process owns
a spool folder at a time (an advisory lock).

Each line is written whole or not at all: a write the disk could only take in
part is cut off again and raises :class:`SpoolDiskFull`. A torn line left by a
crash or power loss (see :mod:`pipeline.torn_lines`) is moved to a ``.torn``
file, and the good records on either side of it are delivered.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.torn_lines import RECORD_START, quarantine, split_torn, torn_tail

log = logging.getLogger("scrapeline.spool")
SEGMENT_BYTES = 8 * 1024 * 1024
# fsync at most this often while records keep coming, and whenever the sender has caught up:
# a power loss costs at most about this much of the spool, where an fsync per record would
# hold scraping to the disk's flush rate.
SYNC_SECONDS = 1.0
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class SpoolBusy(RuntimeError):
    """Another process owns this spool folder."""


class SpoolDiskFull(RuntimeError):
    """The spool's disk (or the process's file size limit) takes no more; nothing was written."""


@dataclass(frozen=True)
class SpooledMessage:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class SpoolBatch:
    messages: list[SpooledMessage]
    # Past the last line read, torn ones included: acknowledging the batch moves the cursor here.
    end: tuple[int, int]


class Spool:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        # Torn pieces moved to .torn files by this process.
        self.torn_count = 0
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
        try:
            os.ftruncate(self._lock_file.fileno(), 0)
            os.write(self._lock_file.fileno(), str(os.getpid()).encode())  # unbuffered: nothing left to fail at close
        except OSError:
            pass  # the pid is only there to name the owner in SpoolBusy; a full disk must not stop the start
        self._mutex = threading.Condition()
        self._cursor = self._read_cursor()
        self._cursor_saved = True
        segments = self._segments()
        for seq in segments:
            self._repair_tail(seq)
        # Bytes on disk, sent or not (what max_bytes bounds); kept up to date on append and trim,
        # so checking the bound does not stat every segment per record.
        self._size = sum(self._segment_size(seq) for seq in segments)
        self._write_seq = segments[-1] if segments else self._cursor[0]
        self._open_writer()

    # -- writing -------------------------------------------------------------------------------

    def append(self, topic: str, key: bytes | None, value: bytes, *, block_log: object = None) -> None:
        """Add one message at the end; waits while the spool is full (Kafka down for long).

        Raises :class:`SpoolDiskFull` when the disk takes no more; the spool is unchanged then.
        """
        line = json.dumps(
            {"t": topic, "k": key.decode("utf-8", "surrogateescape") if key is not None else None, "v": value.decode("utf-8")},
            ensure_ascii=False,
        ).encode() + b"\n"
        with self._mutex:
            warned = False
            while self._size + len(line) > self.max_bytes:
                if self._free_acknowledged():
                    continue
                if not warned and callable(block_log):
                    block_log()
                    warned = True
                self._mutex.wait(1.0)
            if self._writer_size >= SEGMENT_BYTES:
                self._roll()
            try:
                self._write(line)
            except SpoolDiskFull:
                if not self._free_acknowledged():
                    raise
                self._write(line)
            self._size += len(line)
            if time.monotonic() - self._synced_at >= SYNC_SECONDS:
                self._sync()
            self._mutex.notify_all()

    def sync(self) -> None:
        """Make what was appended so far durable (an fsync, when anything was written since the last)."""
        with self._mutex:
            self._sync()

    # -- reading -------------------------------------------------------------------------------

    def read(self, limit: int) -> SpoolBatch:
        """Up to ``limit`` messages from the cursor on, oldest first; torn lines on the way are quarantined."""
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
                        message = self._decode(seq, offset, line)
                        offset += len(line)
                        if message is not None:
                            messages.append(SpooledMessage(*message))
            if len(messages) >= limit or seq == last_seq:
                break
            seq, offset = seq + 1, 0  # an earlier segment is complete: read on in the next one
        return SpoolBatch(messages, (seq, offset))

    def acknowledge(self, position: tuple[int, int]) -> None:
        """Everything before ``position`` reached Kafka: move the cursor and drop finished segments."""
        with self._mutex:
            if position <= self._cursor:
                return
            self._cursor = position
            self._trim()
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
                total += self._segment_size(current) - (offset if current == seq else 0)
        return max(0, total)

    def close(self) -> None:
        with self._mutex:
            self._sync()
            os.close(self._writer)
        self._lock_file.close()

    # -- internals -----------------------------------------------------------------------------

    def _open_writer(self) -> None:
        self._writer = os.open(self._segment_path(self._write_seq), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._writer_size = os.fstat(self._writer).st_size
        self._synced_at = time.monotonic()
        self._dirty = False

    def _roll(self) -> None:
        self._sync()
        previous = self._writer
        try:
            self._write_seq += 1
            self._open_writer()
        except OSError as exc:
            self._write_seq -= 1
            self._writer = previous
            raise self._disk_full(exc) if exc.errno in _DISK_FULL else exc from None
        os.close(previous)

    def _free_acknowledged(self) -> bool:
        """On a full disk: whether dropping what Kafka already has of the segment being written freed room.

        That part is only freed with the whole file, so writing goes on in a new segment.
        """
        if self._cursor[0] != self._write_seq or self._cursor[1] == 0:
            return False
        self._roll()
        self._trim()
        return True

    def _write(self, line: bytes) -> None:
        written = 0
        try:
            while written < len(line):
                written += os.write(self._writer, line[written:])
        except OSError as exc:
            # A line the disk took in part would tear the spool: cut it off again.
            os.ftruncate(self._writer, self._writer_size)
            if exc.errno in _DISK_FULL:
                raise self._disk_full(exc) from None
            raise
        self._writer_size += len(line)
        self._dirty = True

    def _disk_full(self, exc: OSError) -> SpoolDiskFull:
        return SpoolDiskFull(
            f"the spool's disk is full ({os.strerror(exc.errno or 0)}): scraping waits until there is room "
            f"in {self.folder} (free space there, or let Kafka take the spooled records)"
        )

    def _sync(self) -> None:
        if self._dirty:
            try:
                os.fsync(self._writer)
            except OSError as exc:  # the lines stay in the OS's cache; they are not written again
                log.warning("the spool %s could not be flushed to disk (%s)", self.folder, exc)
            self._dirty = False
        self._synced_at = time.monotonic()

    def _trim(self) -> None:
        """Move a cursor at the end of a finished segment to the next one; drop segments before it;
        save the cursor. Called with the mutex held."""
        seq, offset = self._cursor
        while seq < self._write_seq and offset >= self._segment_size(seq):
            seq, offset = seq + 1, 0
        self._cursor = (seq, offset)
        for old in self._segments():
            if old < seq:
                path = self._segment_path(old)
                self._size -= path.stat().st_size
                path.unlink()
        try:
            temporary = self.folder / "cursor.json.tmp"
            temporary.write_text(json.dumps({"segment": seq, "offset": offset}))
            os.replace(temporary, self.folder / "cursor.json")
            self._cursor_saved = True
        except OSError as exc:
            # The cursor in memory is right; after a restart the records since the saved one are sent again.
            if self._cursor_saved:
                log.warning("the spool cursor could not be saved (%s); it is saved with a later acknowledgement", exc)
            self._cursor_saved = False

    def _decode(self, seq: int, offset: int, line: bytes) -> tuple[str, bytes | None, bytes] | None:
        """A line's (topic, key, value), quarantining a torn piece in front of a good record; None when
        the whole line is torn."""
        torn, message = split_torn(line, _parse)
        if torn:
            self._quarantine(seq, offset, torn, "a torn line")
        return message

    def _repair_tail(self, seq: int) -> None:
        """At start, nobody writes: a segment that does not end with a newline was torn mid-line."""
        path = self._segment_path(seq)
        start, tail = torn_tail(path)
        if not tail:
            return
        with open(path, "r+b") as segment:
            if tail.startswith(RECORD_START) and _parse(tail + b"\n") is not None:
                segment.seek(0, os.SEEK_END)
                segment.write(b"\n")  # the record is whole; only its newline is missing
                return
            self._quarantine(seq, start, tail, "a torn tail")
            segment.truncate(start)

    def _quarantine(self, seq: int, offset: int, piece: bytes, what: str) -> None:
        target = self.folder / f"{seq:012d}.{offset}.torn"
        try:
            if not quarantine(target, piece):
                return  # moved there before (a batch read again, or a restart before the cursor passed it)
        except OSError as exc:
            log.error("%s of %d bytes in %s at byte %d could not be quarantined (%s); skipped",
                      what, len(piece), self._segment_path(seq).name, offset, exc)  # fmt: skip
            return
        self.torn_count += 1
        log.error("%s of %d bytes in the spool (%s at byte %d) moved to %s; the records around it are sent",
                  what, len(piece), self._segment_path(seq).name, offset, target.name)  # fmt: skip

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.folder.glob("*.jsonl") if p.stem.isdigit())

    def _segment_path(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}.jsonl"

    def _segment_size(self, seq: int) -> int:
        try:
            return self._segment_path(seq).stat().st_size
        except FileNotFoundError:
            return 0

    def _read_cursor(self) -> tuple[int, int]:
        try:
            body = json.loads((self.folder / "cursor.json").read_text())
            return int(body["segment"]), int(body["offset"])
        except (OSError, ValueError, KeyError):
            segments = self._segments()
            return (segments[0] if segments else 0), 0


def _parse(line: bytes) -> tuple[str, bytes | None, bytes] | None:
    """(topic, key, value) of one spool line, or None when it is not one."""
    try:
        body = json.loads(line)
        key = body["k"].encode("utf-8", "surrogateescape") if body["k"] is not None else None
        return body["t"], key, body["v"].encode()
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
