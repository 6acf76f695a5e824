"""Each conversation of ``tests/conversations/`` answers as recorded (``tests.golden``)."""

import json

import pytest

from tests.golden import FOLDER, load, play, save

FILES = sorted(FOLDER.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_conversation_answers_as_recorded(catalogs, path, request):
    doc = load(path)
    got = await play(doc, catalogs)
    if request.config.getoption("--update-golden"):
        for step, expect in zip(doc["steps"], got, strict=True):
            step["expect"] = expect
        save(path, doc)
        return
    for number, (step, expect) in enumerate(zip(doc["steps"], got, strict=True), 1):
        assert "expect" in step, f"{path.name} step {number}: not recorded (--update-golden)"
        wanted = json.loads(json.dumps(step["expect"]))
        assert expect == wanted, (
            f"{path.name} step {number} ({step.get('send', step.get('kind'))!r}) answers "
            f"differently; if on purpose, rewrite it with --update-golden")


def test_every_conversation_says_what_it_shows():
    for path in FILES:
        doc = load(path)
        assert doc.get("about") and doc.get("steps"), path.name
