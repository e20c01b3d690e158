"""Quitting during an answer keeps the question and the answer so far in the chat session."""

from __future__ import annotations

import threading

import amend.tui.app
from amend.store import chat as chats

from tui_scripted import SIZE, ScriptedAnswerer

STORY = "Tell me a long story"


def saved(services) -> list[tuple[str, str, dict]]:
    with services.store.session() as s:
        (session,) = chats.list_sessions(s)
        return [(m.role, m.content, dict(m.meta or {})) for m in chats.messages(s, session.id)]


async def started(pilot, answerer) -> None:
    await pilot.press(*STORY, "enter")
    while not answerer.asked:
        await pilot.pause(0.05)
    await pilot.pause(0.2)


async def test_quit_while_answering_saves_the_question_and_the_partial_answer(make_app, services):
    answerer = ScriptedAnswerer({STORY: "one two three four five six seven eight"}, delay=0.3)
    app = make_app(answerer=answerer)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, answerer)
        await pilot.press("ctrl+q")
    (user, question, _), (role, partial, meta) = saved(services)
    assert (user, question, role) == ("user", STORY, "assistant")
    assert partial and "eight" not in partial and meta["stopped"] is True


async def test_quit_saves_from_the_ui_when_the_answer_does_not_stop_in_time(make_app, services, monkeypatch):
    monkeypatch.setattr(amend.tui.app, "QUIT_WAIT_S", 0.2)
    gate = threading.Event()  # holds the answer after its second word, like a long model step
    answerer = ScriptedAnswerer({STORY: "one two three four"}, gate=gate)
    app = make_app(answerer=answerer)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, answerer)
            await pilot.press("ctrl+q")
        assert [(r, c) for r, c, _ in saved(services)] == [("user", STORY), ("assistant", "one two ")]
        assert saved(services)[1][2]["quit"] is True
    finally:
        gate.set()
    app.workers.cancel_all()
