"""Quiet hours: the local hours in which the bot starts no message (broadcasts, reminders), by
default 21:00 to 07:00 Jakarta time. Pure: the caller gives the local time."""

import re
from dataclasses import dataclass
from datetime import time, timedelta, timezone

WIB = timezone(timedelta(hours=7), "WIB")
"""Jakarta time (Western Indonesia), in which the programmes' dates and quiet hours are kept."""
PATTERN = re.compile(r"([01]?\d|2[0-3])[:.]([0-5]\d)\s*-\s*([01]?\d|2[0-3])[:.]([0-5]\d)")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    """The first minute no longer quiet; before ``start`` when the hours wrap past midnight."""

    def covers(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def parse_quiet_hours(text: str) -> QuietHours | None:
    """"21:00-07:00" → those hours; "" or "none" → no quiet hours; ValueError otherwise."""
    text = text.strip()
    if text.lower() in ("", "none", "tidak ada"):
        return None
    found = PATTERN.fullmatch(text)
    if found is None:
        raise ValueError("write the hours as HH:MM-HH:MM, e.g. 21:00-07:00, or none")
    start_h, start_m, end_h, end_m = map(int, found.groups())
    if (start_h, start_m) == (end_h, end_m):
        raise ValueError("the quiet hours start and end at the same time: write none instead")
    return QuietHours(time(start_h, start_m), time(end_h, end_m))
