"""Snapshots of the main screens (pytest-textual-snapshot), at a fixed size with scripted models.

Deterministic: no clock in the app, a scripted decoder and updater, notifications cleared
before each picture, relative file paths. Look at a changed picture in the report before
running `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import threading

from textual.widgets import Input

from amend.store.derived import save_derivation
from amend.store.facts import add_fact, edit_fact, get_fact, retract_fact
from tui_scripted import ANSWERS, PLAIN, SIZE, ScriptedAnswerer, ScriptedUpdater


async def settle(pilot) -> None:
    """Wait for the workers and for what they posted (answers streamed, updates reported)."""
    await pilot.app.workers.wait_for_complete()
    while pilot.app.answering or pilot.app.updating:
        await pilot.pause(0.02)
    await pilot.pause()
    steady(pilot.app)


def steady(app) -> None:
    """No blinking cursors and no notifications: the picture must not depend on the moment."""
    app.clear_notifications()
    for screen in app.screen_stack:
        for box in screen.query(Input):
            box.cursor_blink = False


def some_facts(store) -> None:
    with store.session() as s:
        a, _ = add_fact(s, "The capital of Vendaria is Kell.", source="atlas")
        edit_fact(s, a.id, "The capital of Vendaria is Lusk.")
        b, _ = add_fact(s, "Lusk lies on the northern coast.")
        c, _ = add_fact(s, "Vendaria uses the crown as its currency.")
        retract_fact(s, c.id, "not sure")
        add_fact(s, "Kell is the second city of Vendaria.")
        save_derivation(s, [get_fact(s, a.id)], [
            {"text": "Lusk is a capital city.", "kind": "implication", "p_true": 0.91, "truth": True, "accepted": True},
            {"text": "The capital of Vendaria is Kell.", "kind": "contradiction", "p_true": 0.12, "truth": False,
             "accepted": False},
        ], "tiny", "test", "v1")
        save_derivation(s, [get_fact(s, a.id), get_fact(s, b.id)], [
            {"text": "The capital of Vendaria is on the northern coast.", "kind": "correlative", "p_true": 0.84,
             "truth": True, "accepted": True, "question": "Where does the capital of Vendaria lie?",
             "reason": "follows from fact #1 and fact #2 (p 0.84)"},
        ], "tiny", "test", "v1")


def test_chat_answer(snap_compare, make_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*"What is the capital of France?", "enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_chat_at_80x24(snap_compare, make_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*"What is the capital of Vendaria?", "enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_compare_with_the_large_model_alone(snap_compare, make_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press(*"What is the capital of Vendaria?", "enter")
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)

    assert snap_compare(make_app(answerer=ScriptedAnswerer(ANSWERS, PLAIN)), terminal_size=SIZE, run_before=run_before)


def test_facts_while_training(snap_compare, make_app, services):
    some_facts(services.store)
    hold = threading.Event()

    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("ctrl+n", *"The capital of Vendaria is Lusk", "escape")  # cancelled
        await pilot.press("ctrl+n", *"Vendaria borders the Sea of Arn.", "enter")
        while not pilot.app.query_one("TrainingPanel").losses or len(pilot.app.query_one("TrainingPanel").losses) < 8:
            await pilot.pause(0.05)
        steady(pilot.app)
        await pilot.pause()

    try:
        assert snap_compare(make_app(updater=ScriptedUpdater(hold=hold)), terminal_size=SIZE, run_before=run_before)
    finally:
        hold.set()


def test_facts_with_retracted_shown(snap_compare, make_app, services):
    some_facts(services.store)

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f3")
        await pilot.click("#show-all")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_fact_details(snap_compare, make_app, services):
    some_facts(services.store)

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f3", "enter", "down", "down")
        steady(pilot.app)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_import_errors(snap_compare, make_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "facts.csv").write_text("text,source\nThe sky is green.,me\n,me\nGrass is blue.,me\n\"\",x\n")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("ctrl+o", *"facts.csv", "enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_conflict_notice(snap_compare, make_app, services):
    from amend.store.facts import supersede_fact

    with services.store.session() as s:
        old, _ = add_fact(s, "The capital of Vendaria is Kell.")

    def updater(report):
        with services.store.session() as s:
            new = s.get(type(old), old.id + 1)
            if new is not None and get_fact(s, old.id).status == "active":
                supersede_fact(s, old.id, new.id, f"contradicted by fact {new.id}")
        return f"superseded fact {old.id} by fact {old.id + 1}"

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("ctrl+n", *"The capital of Vendaria is Lusk.", "enter")
        await settle(pilot)

    assert snap_compare(make_app(updater=updater), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, make_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f1")
        steady(pilot.app)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
