"""What a step may ask of the world: the time, read-only look-ups, fresh references.

The engine stays free of I/O: the host passes these in, bound to the transaction the step runs in.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from bot.areas import Area
from bot.broadcasting import Progress
from bot.claims import ClaimInfo
from bot.messages import Effect, Reply, WorkerInfo

if TYPE_CHECKING:
    from bot.proof import ProofInfo
    from bot.rights import PersonalData, RequestInfo


class Lookup(Protocol):
    async def worker_by_nik(self, nik: str) -> WorkerInfo | None: ...

    async def worker_by_reference(self, reference: str) -> WorkerInfo | None: ...

    async def workers_of_chat(self, chat_key: str) -> list[WorkerInfo]: ...

    async def dtsen_desil(self, nik: str) -> int | None:
        """The desil of this NIK in the DTSEN extract; None when it is not there."""

    async def free_places(self, programme_id: str, quota: int) -> int:
        """Places left in a programme. Holds the programme's place count until the end of the
        transaction, so the place a step then takes is still free."""

    async def waiting_position(self, worker: WorkerInfo) -> int:
        """1 for the first on the programme's waiting list."""

    async def waiting_count(self, programme_id: str) -> int: ...

    async def first_waiting(self, programme_id: str, limit: int) -> list[WorkerInfo]: ...

    async def awaiting_review(self, limit: int, area: Area | None = None
                              ) -> tuple[list[WorkerInfo], int]:
        """The oldest registrations waiting for a verifier (of ``area`` only, if given), and
        how many wait in all."""

    async def staff_role(self, channel: str, chat_id: str) -> str | None: ...

    async def months_covered(self, reference: str, until: date) -> int | None:
        """The whole months of cover the worker's memberships add up to by ``until``, every
        cycle and funder (the scholarship's three years); None if none are kept."""
        ...

    async def staff_area(self, channel: str, chat_id: str) -> str | None:
        """A verifier's area as stored (``bot.areas.parse_area``), None for all."""
        ...

    async def open_claims(self, nik: str) -> list[ClaimInfo]:
        """The claims for this deceased NIK that are not rejected, oldest first."""

    async def chats_of(self, reference: str) -> list[tuple[str, datetime]]:
        """The chats holding a registration, each with since when: the one it was made
        from first, then those linked later, in order."""

    async def limit_used(self, kind: str, key: str, since: datetime) -> int:
        """How much of a limit (``bot.limits``) ``key`` has used since then."""

    async def open_proof(self, chat_key: str, purpose: str, subject: str, now: datetime,
                         method: str = "code") -> "ProofInfo | None":
        """This chat's newest pending request for this purpose and subject (a code, or a
        staff check), while it can still be answered."""

    async def code_matches(self, proof_id: int, code: str) -> bool: ...

    async def proof_by_reference(self, reference: str) -> "ProofInfo | None": ...

    async def staff_checks(self, now: datetime, limit: int) -> tuple[list["ProofInfo"], int]:
        """The oldest requests waiting for a staff member to check a KTP, and how many."""

    async def claim_by_reference(self, reference: str) -> ClaimInfo | None: ...

    async def claims_by_status(self, statuses: tuple[str, ...], limit: int
                               ) -> tuple[list[ClaimInfo], int]:
        """The oldest claims in these statuses, and how many there are in all."""

    async def broadcast_progress(self, broadcast_id: int) -> Progress | None: ...

    async def next_number(self, series: str) -> int:
        """The next number of a series people read out (1, 2, …), never given twice."""

    async def personal_data(self, reference: str) -> "PersonalData | None":
        """Everything stored about a registration, for its worker (``bot.rights``)."""

    async def rights_of(self, reference: str) -> "list[RequestInfo]":
        """The worker's requests under the data protection law, oldest first."""

    async def right_by_number(self, number: str) -> "RequestInfo | None": ...

    async def open_rights(self, limit: int) -> "tuple[list[RequestInfo], int]":
        """The requests waiting for staff, the nearest deadline first, and how many."""


def new_token() -> str:
    """Names long work a step asks for (``bot.messages.Later``), to match its result."""
    return secrets.token_hex(8)


def new_code() -> str:
    """A one-time code people type: six digits, from the system's secure source."""
    return f"{secrets.randbelow(10 ** 6):06d}"


@dataclass(frozen=True)
class Context:
    now: datetime
    today: date
    lookup: Lookup
    new_reference: Callable[[], str]
    new_code: Callable[[], str] = new_code
    new_token: Callable[[], str] = new_token


@dataclass
class Turn:
    """What one step produced: replies to send and effects to store, in order."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    def say(self, reply: Reply) -> None:
        self.replies.append(reply)

    def do(self, effect: Effect) -> None:
        self.effects.append(effect)
