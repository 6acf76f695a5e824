"""What each staff role may do, in the chat and in the web console: one table, checked on
every command and every request.

- ``admin``: everything, and the staff list and broadcasts;
- ``verifier``: the labour office's staff: registrations (of their area only, if they have
  one), linking chats, phone changes, data requests, and claims (as in the chat before the
  console existed);
- ``claims``: a claims officer (the BPJS Ketenagakerjaan branch): the death claims only;
- ``viewer``: dashboards and programme figures only (the mayor's office): reads, never acts,
  and never sees a person's data.
"""

from datetime import timedelta

ADMIN, VERIFIER, CLAIMS, VIEWER = "admin", "verifier", "claims", "viewer"
ROLES = (ADMIN, VERIFIER, CLAIMS, VIEWER)

REGISTRATIONS = "registrations"
"""Review, approve and reject registrations; link chats; change a phone; a person's page."""
CLAIMS_WORK = "claims"
"""Open claims and their documents, decide them."""
RIGHTS = "rights"
"""The requests under the personal data law."""
BROADCASTS = "broadcasts"
"""Compose, send and cancel broadcasts."""
DASHBOARDS = "dashboards"
"""Figures: dashboards and programmes, no person's data."""
STAFF = "staff"
"""The staff list (add, remove) and the staff-action record."""

PERMISSIONS = {
    ADMIN: frozenset({REGISTRATIONS, CLAIMS_WORK, RIGHTS, BROADCASTS, DASHBOARDS, STAFF}),
    VERIFIER: frozenset({REGISTRATIONS, CLAIMS_WORK, RIGHTS, DASHBOARDS}),
    CLAIMS: frozenset({CLAIMS_WORK, DASHBOARDS}),
    VIEWER: frozenset({DASHBOARDS}),
}

SESSION_IDLE = timedelta(minutes=30)
"""A console session unused this long is over."""
SIGN_IN_LINK_LIFE = timedelta(minutes=10)
"""How long a sign-in link can be used (once)."""


def may(role: str | None, permission: str) -> bool:
    return role is not None and permission in PERMISSIONS.get(role, frozenset())
