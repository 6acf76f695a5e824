"""Whatever arrives at whatever step, the engine answers, in words the user can read, and the
session it leaves behind can be stored."""

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.i18n import LOCALES, Catalogs
from tests.chat import Chat
from tests.test_conversations import TO_SUMMARY

CATALOGS = Catalogs()
NON_TEXT = ("photo", "sticker", "voice", "video", "document", "location", "other")

inputs = st.one_of(
    st.text(max_size=200).map(lambda t: ("text", t, None)),
    st.text(alphabet="0123456789 .-/+", max_size=24).map(lambda t: ("text", t, None)),
    st.sampled_from(["1", "2", "3", "0", "11", "ya", "tidak", "batal", "menu", "/bahasa",
                     "/bantuan", "status", "daftar", "lanjut", "/start", "English"]).map(
        lambda t: ("text", t, None)),
    st.text(min_size=4000, max_size=6000, alphabet="ab😀\x00\u202e ").map(
        lambda t: ("text", t, None)),
    st.sampled_from(NON_TEXT).map(lambda k: (k, "", None)),
    st.text(max_size=20).map(lambda p: ("contact", "", p)),
)


def play(chat: Chat, messages) -> None:
    async def run():
        for kind, text, contact in messages:
            await chat.send(text, kind, contact)
            json.dumps(chat.state)
            for reply in chat.replies:
                for locale in LOCALES:
                    rendered = chat.renderer.render(reply, locale)
                    assert rendered.text.strip()
    asyncio.run(run())


def reach(steps: int) -> Chat:
    chat = Chat(CATALOGS)
    play(chat, [("text", sent, None) if isinstance(sent, str) else
                (sent["kind"], "", sent.get("contact")) for sent, *_ in TO_SUMMARY[:steps]])
    return chat


@pytest.mark.parametrize("steps", range(len(TO_SUMMARY) + 1))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=inputs)
def test_any_input_at_any_step_gets_an_answer(steps, message):
    chat = reach(steps)
    play(chat, [message])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(inputs, min_size=1, max_size=25))
def test_any_sequence_of_inputs_gets_answers(messages):
    play(Chat(CATALOGS), messages)
