"""Torn lines in a JSON-lines file: what a crash, a power loss or a full disk leaves mid-line.

A torn piece is cut off where its write stopped; the next write may have glued a good
line onto it. Both are found here and the torn bytes put aside, so they never block
the lines after them and are never lost without a trace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, TypeVar

# How every spool line starts (json.dumps of {"t": ...}); inside a JSON string the quotes are
# escaped, so this only ever marks the start of a line.
RECORD_START = b'{"t": '
_TAIL_CHUNK = 64 * 1024
ParsedT = TypeVar("ParsedT")


def split_torn(line: bytes, parse: Callable[[bytes], ParsedT | None]) -> tuple[bytes, ParsedT | None]:
    """``(torn bytes, parsed)`` of one newline-terminated line.

    A good line gives ``(b"", parsed)``, a torn piece glued in front of a good line
    ``(piece, parsed)``, a line with no whole record in it ``(line, None)``.
    """
    parsed = parse(line)
    if parsed is not None:
        return b"", parsed
    start = line.find(RECORD_START, 1)
    while start != -1:
        parsed = parse(line[start:])
        if parsed is not None:
            return line[:start], parsed
        start = line.find(RECORD_START, start + 1)
    return line, None


def torn_tail(path: Path) -> tuple[int, bytes]:
    """``(offset, bytes)`` after the last newline of ``path``: empty bytes when the file ends with one."""
    with open(path, "rb") as file:
        end = file.seek(0, 2)
        position = end
        start = 0
        while position > 0:
            step = min(_TAIL_CHUNK, position)
            file.seek(position - step)
            newline = file.read(step).rfind(b"\n")
            if newline != -1:
                start = position - step + newline + 1
                break
            position -= step
        file.seek(start)
        return start, file.read()


def quarantine(target: Path, piece: bytes) -> bool:
    """Write ``piece`` to ``target`` (durably); False when an earlier run put it there already."""
    try:
        with open(target, "xb") as file:
            file.write(piece)
            file.flush()
            os.fsync(file.fileno())
    except FileExistsError:
        return False
    return True
