"""Consents that can be proven (UU PDP 27/2022): each purpose asked on its own, each answer
kept with the version and a hash of the exact text shown, in its language.

A text shown once is never changed: a new wording is a new message id under a new version,
and the old one stays in the catalogs, so the proof of any consent given can print what the
person read (``main.py consent REF``). ``tests/test_consents.py`` fails when a text of a
version changes.
"""

import hashlib

from bot.i18n import N_

REGISTRATION, DTSEN, MESSAGES, CLAIM, GUARDIAN = (
    "registration", "dtsen", "messages", "claim", "guardian")
PURPOSES = (REGISTRATION, DTSEN, MESSAGES, CLAIM, GUARDIAN)
"""``GUARDIAN``: a parent's or guardian's consent for an heir under 18."""

VERSION = "2026-12"
"""The version asked now."""
TEXTS = {
    "2026-11": {REGISTRATION: N_("consent.prompt"), CLAIM: N_("claim.consent.prompt")},
    "2026-12": {REGISTRATION: N_("consent.prompt_2026_12"),
                DTSEN: N_("consent.prompt_2026_12"), MESSAGES: N_("consent.prompt_2026_12"),
                CLAIM: N_("claim.consent.prompt"),
                GUARDIAN: N_("claim.guardian_consent.prompt")},
}
"""The text each purpose was asked with, by version. In 2026-12 one question asks all three
of a registration: its options give or refuse matching with DTSEN and the messages the bot
starts one by one (``bot.flows.registration.CONSENT_CHOICES``)."""


def text_sha256(text: str) -> str:
    """What a consent keeps of the text shown: its SHA-256, in hexadecimal."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
