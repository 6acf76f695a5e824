"""Broadcasts as the engine, the command line and the delivery worker all see them: who they go
to (``Audience``), the ready reminders staff may send instead of writing a text (each filled with
the recipient's own values), and how long sending takes at the channels' rates, quiet hours
included. Pure: the store finds the recipients, ``handlers.broadcasts`` sends.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, Literal

from bot.claims import DOCUMENTS
from bot.i18n import N_, Lines, Msg, When
from bot.messages import Reply
from bot.quiet_hours import WIB, QuietHours

MAX_TEXT = 3000
"""The longest broadcast text: Telegram takes 4096 characters with the heading and the menu,
and a message it refuses as too long would count its recipient as unreachable."""


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to: registered workers matching every filter given (for a reminder
    to heirs, the claims waiting for documents, by their language and channel)."""

    programme: str | None = None
    status: str | None = None
    occupation: str | None = None
    kelurahan: str | None = None
    locale: str | None = None
    channel: str | None = None
    invite: bool = False
    """Only members imported from before the bot (``main.py import-members``) whose chat has
    never written: an invitation to use it."""

    def given(self) -> dict[str, str]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name))}


@dataclass(frozen=True)
class ReadyReminder:
    """A message staff pick instead of writing one; the bot also sends it by itself on its
    occasions (``models.reminders``). ``notice`` is its text, ``label`` its name for staff."""

    name: str
    notice: str
    label: str
    to: Literal["workers", "heirs"]

    @property
    def filters(self) -> tuple[str, ...]:
        """The audience filters that apply to it."""
        if self.to == "heirs":
            return ("locale", "channel")
        return tuple(f.name for f in fields(Audience))


COVERAGE_ENDING = ReadyReminder("coverage_ending", N_("notice.reminder.coverage_ending"),
                                N_("broadcast.reminder.coverage_ending"), "workers")
DOCUMENTS_MISSING = ReadyReminder("documents_missing", N_("notice.reminder.documents_missing"),
                                  N_("broadcast.reminder.documents_missing"), "heirs")
READY = {r.name: r for r in (COVERAGE_ENDING, DOCUMENTS_MISSING)}


def reminder_reply(name: str, params: Mapping[str, Any]) -> Reply:
    """A ready reminder with one recipient's values, as stored (dates as ISO text, documents
    as their kinds)."""
    values = dict(params)
    if "coverage_end" in values:
        values["coverage_end"] = date.fromisoformat(values["coverage_end"])
    if "documents" in values:
        names = [Msg(DOCUMENTS[kind]) for kind in values["documents"] if kind in DOCUMENTS]
        values["documents"] = Lines(tuple(
            Msg(N_("claim.document.item"), {"document": name})
            for name in names or [Msg(N_("reminder.documents.requested"))]))
    return Reply(READY[name].notice, values, navigation=True)


def text_reply(text: str) -> Reply:
    return Reply(N_("notice.broadcast"), {"text": text}, navigation=True)


@dataclass(frozen=True)
class Preview:
    total: int
    opted_out: int
    by_channel: dict[str, int]
    """Recipients to send to, by channel (the opted-out not counted)."""
    sample: Mapping[str, Any] | None = None
    """A ready reminder's values for its first recipient, to show staff what goes out."""

    @property
    def reachable(self) -> int:
        return self.total - self.opted_out

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "opted_out": self.opted_out,
                "by_channel": dict(self.by_channel),
                "sample": dict(self.sample) if self.sample is not None else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Preview":
        return cls(data["total"], data["opted_out"], dict(data["by_channel"]), data["sample"])


@dataclass(frozen=True)
class Progress:
    broadcast_id: int
    status: str
    pending: int
    sent: int
    failed: int
    skipped: int
    cancelled: int = 0
    scheduled_at: datetime | None = None
    pending_by_channel: Mapping[str, int] | None = None

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.failed + self.skipped + self.cancelled


def sending_seconds(by_channel: Mapping[str, int], rates: Mapping[str, float]) -> float:
    """How long the messages take at the channels' rates (the channels send side by side);
    a channel without a rate limit counts as instant."""
    return max((count / rates[channel] for channel, count in by_channel.items()
                if rates.get(channel, 0) > 0), default=0.0)


def finish_time(start: datetime, seconds: float, quiet: QuietHours | None) -> datetime:
    """When sending that takes ``seconds`` ends if begun at ``start`` (Jakarta time), pausing
    through the quiet hours."""
    now, left = start, seconds
    if quiet is None:
        return now + timedelta(seconds=left)
    for _ in range(3660):  # ten years of nights; a finite loop for any input
        if quiet.covers(now.time()):
            now = _next(now, quiet.end)
        quiet_from = _next(now, quiet.start)
        available = (quiet_from - now).total_seconds()
        if left <= available:
            return now + timedelta(seconds=left)
        left -= available
        now = quiet_from
    return now


def _next(after: datetime, at) -> datetime:
    candidate = after.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > after else candidate + timedelta(days=1)


def progress_reply(progress: Progress, now: datetime, rates: Mapping[str, float],
                   quiet: QuietHours | None) -> Reply:
    """Where a broadcast stands, for the staff member who started it: counts, and when it
    should finish at the channels' rates (quiet hours included)."""
    counts = {"id": str(progress.broadcast_id), "sent": progress.sent, "failed": progress.failed,
              "skipped": progress.skipped, "cancelled": progress.cancelled,
              "waiting": progress.pending, "total": progress.total}
    if progress.status == "cancelled":
        return Reply(N_("broadcast.progress.cancelled"), counts)
    if progress.status != "sending":
        return Reply(N_("broadcast.progress.done"), counts)
    start = now.astimezone(WIB)
    if progress.scheduled_at is not None and progress.scheduled_at > now:
        start = progress.scheduled_at.astimezone(WIB)
        if progress.sent + progress.failed == 0:
            return Reply(N_("broadcast.progress.scheduled"), {**counts, "when": When(start)})
    seconds = sending_seconds(progress.pending_by_channel or {}, rates)
    return Reply(N_("broadcast.progress.sending"),
                 {**counts, "finish": When(finish_time(start, seconds, quiet))})
