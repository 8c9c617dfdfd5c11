"""When each plugin's next round is due: every N seconds, or on a cron expression.

Rounds are cut into slots on the wall clock (``interval = 300`` starts a slot at every
multiple of 300 s since the epoch), so daemons on different machines name the same
round the same way: ``coinmarketcap@2026-11-25T09:05:00Z``.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from datetime import datetime, timezone

from croniter import croniter

from scrapeline.settings import ConfigError


@dataclass(frozen=True)
class Schedule:
    """``interval = 300`` (seconds) or ``interval = */5 * * * *`` (cron, UTC)."""

    seconds: float | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, text: str, where: str) -> "Schedule":
        text = str(text).strip()
        try:
            seconds = float(text)
        except ValueError:
            if croniter.is_valid(text):
                return cls(cron=text)
            raise ConfigError(f"{where}: {text!r} is neither a number of seconds nor a cron expression") from None
        if seconds <= 0:
            raise ConfigError(f"{where}: the interval must be above 0 seconds, got {text!r}")
        return cls(seconds=seconds)

    def next_after(self, moment: float) -> float:
        """The next start time (epoch seconds) after ``moment``."""
        if self.seconds is not None:
            return moment + self.seconds
        return croniter(self.cron, datetime.fromtimestamp(moment, tz=timezone.utc)).get_next(float)

    def slot(self, moment: float) -> float:
        """The start (epoch seconds) of the slot ``moment`` falls in: the latest scheduled time up to it."""
        if self.seconds is not None:
            return math.floor(moment / self.seconds) * self.seconds
        # croniter's get_prev is strictly before its start: start just after ``moment``'s second.
        return croniter(self.cron, datetime.fromtimestamp(math.floor(moment) + 1, tz=timezone.utc)).get_prev(float)

    def __str__(self) -> str:
        return f"every {self.seconds:g} s" if self.seconds is not None else f"cron {self.cron}"


def round_key(plugin: str, slot: float) -> str:
    """The cluster-wide name of ``plugin``'s round in the slot starting at ``slot``."""
    return f"{plugin}@{datetime.fromtimestamp(slot, tz=timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
