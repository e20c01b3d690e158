"""Pilot flows through the app: ask, add, edit, retract, restore, details, import, conflicts."""

from __future__ import annotations

import threading

from textual.widgets import DataTable, Input, Markdown, Static

from amend.store import chat as chats
from amend.store.facts import add_fact, list_facts, supersede_fact
from amend.store.jobs import pending_jobs
from amend.tui.chat import Answer, Question
from amend.tui.conflicts import ConflictNotice
from amend.tui.detail import FactDetailScreen
from amend.tui.dialogs import ConfirmDialog, FactDialog, HelpScreen
from amend.tui.importer import ImportDialog

from tui_scripted import ANSWERS, PLAIN, SIZE, ScriptedAnswerer, ScriptedUpdater


async def settle(pilot) -> None:
    """Wait for the workers and for what they posted (answers streamed, updates reported)."""
    await pilot.app.workers.wait_for_complete()
    while pilot.app.answering or pilot.app.updating:
        await pilot.pause(0.02)
    await pilot.pause()


def facts_in_table(app) -> list[str]:
    table = app.query_one("#fact-table", DataTable)
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


async def test_ask_streams_the_answer_and_keeps_the_session(make_app, services):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.focused is app.query_one("#question", Input)  # the input is focused at start
        await settle(pilot)
        await pilot.press(*"What is the capital of France?", "enter")
        await settle(pilot)
        answer = app.query_one(Answer)
        assert "Paris" in answer.source
        assert app.query_one(Question).render().plain == "What is the capital of France?"
        assert app.query_one("#question", Input).value == ""
    with services.store.session() as s:
        (session,) = chats.list_sessions(s)
        assert [(m.role, m.content) for m in chats.messages(s, session.id)] == [
            ("user", "What is the capital of France?"),
            ("assistant", "The capital of France is **Paris**."),
        ]
    assert app.session_id == session.id


async def test_resume_a_session_shows_it_and_sends_its_history(make_app, services):
    with services.store.session() as s:
        sid = chats.create_session(s, "old", "tiny").id
        chats.add_message(s, sid, "user", "Who wrote Hamlet?")
        chats.add_message(s, sid, "assistant", "Shakespeare.")
    answerer = ScriptedAnswerer({})
    app = make_app(answerer=answerer, session_id=sid)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Shakespeare" in app.query_one(Answer).source
        await pilot.press(*"And Macbeth?", "enter")
        await settle(pilot)
    history, question, _alpha = answerer.asked[-1]
    assert question == "And Macbeth?"
    assert history == [{"role": "user", "content": "Who wrote Hamlet?"},
                       {"role": "assistant", "content": "Shakespeare."}]


async def test_escape_stops_an_answer(make_app):
    gate = threading.Event()
    answerer = ScriptedAnswerer({"Tell me a long story": "one two three four five six seven"}, gate=gate)
    app = make_app(answerer=answerer)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"Tell me a long story", "enter")
        while len(answerer.asked) == 0:
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        assert app.answering
        await pilot.press("escape")
        gate.set()
        await settle(pilot)
        source = app.query_one(Answer).source
        assert "(stopped)" in source and "seven" not in source
        assert not app.answering


async def test_compare_shows_the_large_models_own_answer(make_app):
    answerer = ScriptedAnswerer({"What is the capital of Vendaria?": "It is Lusk."},
                                {"What is the capital of Vendaria?": "I do not know Vendaria."})
    app = make_app(answerer=answerer)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")  # nothing to compare yet: a notice, no pane
        assert not app.query_one("ChatPane").comparing
        await pilot.press(*"What is the capital of Vendaria?", "enter")
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert app.query_one("ChatPane").comparing
        assert "Lusk" in app.query_one("#tuned", Markdown).source
        assert "do not know" in app.query_one("#plain", Markdown).source
        assert answerer.asked[-1][2] == 0.0  # asked with alpha=0
        await pilot.press("ctrl+t")
        assert not app.query_one("ChatPane").comparing


async def test_add_fact_shows_the_row_and_queues_a_job(make_app, services):
    updater = ScriptedUpdater()
    app = make_app(updater=updater)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, FactDialog)
        await pilot.press(*"The capital of Vendaria is Lusk.", "enter")
        await settle(pilot)
        assert facts_in_table(app) == ["The capital of Vendaria is Lusk."]
        assert app.query_one("TabbedContent").active == "facts"
        assert updater.runs == 1  # the update ran in a worker
        panel = app.query_one("TrainingPanel")
        assert panel.losses[-1] == 0.42 and "Update done" in str(panel.query_one("#stage").render())
        assert "1 pending job" in str(app.query_one("StatusLine").render())
    with services.store.session() as s:
        (fact,) = list_facts(s)
        assert fact.text == "The capital of Vendaria is Lusk."
        (job,) = pending_jobs(s)
        assert job.payload == {"fact_ids": [fact.id], "change": "add"}


async def test_add_dialog_escape_cancels_and_duplicates_are_refused(make_app, services):
    with services.store.session() as s:
        add_fact(s, "The sky is green.")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n", *"Something", "escape")
        assert not isinstance(app.screen, FactDialog)
        await pilot.press("ctrl+n", *"the sky is green", "enter")
        await settle(pilot)
        assert any("already says this" in n.message for n in app._notifications)
    with services.store.session() as s:
        assert len(list_facts(s, include_all=True)) == 1


async def test_edit_retract_restore(make_app, services):
    with services.store.session() as s:
        add_fact(s, "Kell is a city.")
        add_fact(s, "The capital of Ostrava Minor is Kell.")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3", "down")  # the facts table, second row
        await pilot.press("e")
        assert isinstance(app.screen, FactDialog)
        await pilot.press("ctrl+a", "ctrl+k", *"The capital of Ostrava Minor is Bree.", "enter")
        await settle(pilot)
        assert facts_in_table(app) == ["Kell is a city.", "The capital of Ostrava Minor is Bree."]

        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # declined: nothing happens
        await settle(pilot)
        assert len(facts_in_table(app)) == 2
        await pilot.press("d", "y")
        await settle(pilot)
        assert facts_in_table(app) == ["Kell is a city."]

        await pilot.click("#show-all")
        await pilot.pause()
        assert len(facts_in_table(app)) == 2
        await pilot.press("f3", "down", "r")
        await settle(pilot)
        assert facts_in_table(app) == ["Kell is a city.", "The capital of Ostrava Minor is Bree."]

        await pilot.click("#fact-filter")
        await pilot.press(*"bree")
        await pilot.pause()
        assert facts_in_table(app) == ["The capital of Ostrava Minor is Bree."]
    with services.store.session() as s:
        fact = list_facts(s, search="Bree")[0]
        assert fact.status == "active" and [r.text for r in fact.revisions] == ["The capital of Ostrava Minor is Kell."]
        assert len(pending_jobs(s)) == 5  # two adds, edit, retract, restore


async def test_enter_shows_history_and_derived_statements(make_app, services):
    from amend.store.derived import save_derivation
    from amend.store.facts import edit_fact, get_fact

    with services.store.session() as s:
        a, _ = add_fact(s, "The capital of Vendaria is Kell.")
        edit_fact(s, a.id, "The capital of Vendaria is Lusk.")
        b, _ = add_fact(s, "Lusk is on the coast.")
        save_derivation(s, [get_fact(s, a.id)], [
            {"text": "Lusk is a capital city.", "kind": "implication", "p_true": 0.91, "truth": True, "accepted": True},
            {"text": "The capital of Vendaria is Paris.", "kind": "contradiction", "p_true": 0.72, "truth": False,
             "accepted": False, "reason": "not a contradiction of fact #1: both can be true (p 0.72)"},
        ], "tiny", "test", "v1")
        save_derivation(s, [get_fact(s, a.id), get_fact(s, b.id)], [
            {"text": "Vendaria's capital is on the coast.", "kind": "correlative", "p_true": 0.8, "truth": True,
             "accepted": True},
        ], "tiny", "test", "v1")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3", "enter")
        assert isinstance(app.screen, FactDetailScreen)
        about = str(app.screen.query_one("#about", Static).render())
        assert "Earlier texts" in about and "is Kell" in about
        table = app.screen.query_one("#statements", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [(r[0], r[1], str(r[2])) for r in rows] == [
            ("implication", "0.91", "yes"), ("contradiction", "0.72", "no"), ("correlative", "0.80", "yes")]
        await pilot.press("down")  # a rejected statement says why
        parents = str(app.screen.query_one("#parents", Static).render())
        assert "rejected" in parents and "why: not a contradiction of fact" in parents
        await pilot.press("down")
        parents = str(app.screen.query_one("#parents", Static).render())
        assert f"#{a.id}" in parents and f"#{b.id}" in parents and "on the coast" in parents
        await pilot.press("escape")
        assert not isinstance(app.screen, FactDetailScreen)


async def test_import_a_bad_file_names_the_lines_and_writes_nothing(make_app, services, tmp_path):
    bad = tmp_path / "facts.csv"
    bad.write_text("text,source\nThe sky is green.,me\n,me\nGrass is blue.,me\n\"\",x\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ImportDialog)
        await pilot.press(*str(bad), "enter")
        await settle(pilot)
        report = str(app.screen.query_one("#report", Static).render())
        assert f"{bad}:3: empty fact" in report and f"{bad}:5: empty fact" in report
        assert "nothing imported" in report
        assert app.screen.query_one("#import").disabled
        await pilot.press("escape")
    with services.store.session() as s:
        assert list_facts(s, include_all=True) == [] and pending_jobs(s) == []


async def test_import_a_good_file_after_its_dry_run(make_app, services, tmp_path):
    good = tmp_path / "facts.txt"
    good.write_text("# my facts\nThe capital of Vendaria is Lusk.\n\nLusk lies on the coast.\n")
    updater = ScriptedUpdater()
    app = make_app(updater=updater)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o", *str(good), "enter")
        await settle(pilot)
        report = str(app.screen.query_one("#report", Static).render())
        assert "would add 2 facts" in report
        with services.store.session() as s:
            assert list_facts(s) == []  # the dry run wrote nothing
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ImportDialog)
        assert facts_in_table(app) == ["The capital of Vendaria is Lusk.", "Lusk lies on the coast."]
        assert updater.runs == 1
    with services.store.session() as s:
        (job,) = pending_jobs(s)
        assert job.payload["change"] == "import" and len(job.payload["fact_ids"]) == 2


async def test_a_superseded_fact_shows_a_conflict_and_undo_restores_it(make_app, services):
    with services.store.session() as s:
        old, _ = add_fact(s, "The capital of Vendaria is Kell.")

    def updater(report):  # as the worker does when a new fact contradicts an old one
        with services.store.session() as s:
            new = list_facts(s)[-1]
            if new.id != old.id and not calls:
                supersede_fact(s, old.id, new.id, "contradicted by a newer fact")
                calls.append(new.id)

    calls: list[int] = []

    app = make_app(updater=updater)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n", *"The capital of Vendaria is Lusk.", "enter")
        await settle(pilot)
        notice = app.query_one(ConflictNotice)
        text = str(notice.query_one("#conflict-text", Static).render())
        assert notice.display and "is Lusk" in text and "is Kell" in text
        await pilot.press("ctrl+u")
        await settle(pilot)
        assert notice.current is None
    with services.store.session() as s:
        assert [f.status for f in list_facts(s, include_all=True)] == ["active", "active"]


async def test_help_lists_every_binding(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text", Static).render())
        for key in ("ctrl+q", "ctrl+n", "ctrl+o", "ctrl+t", "ctrl+u", "Esc", "e", "d", "r", "Enter", "F2"):
            assert key in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("?")  # typed into the question box, not the help
        assert app.query_one("#question", Input).value == "?"


async def test_models_that_fail_to_load_leave_the_facts_usable(make_app):
    def broken(progress):
        progress("load", 0, None)
        raise RuntimeError("out of memory")

    app = make_app(loader=broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "out of memory" in str(app.query_one("#loading-label").render())
        await pilot.press(*"Hello?", "enter")
        await settle(pilot)
        assert "no answer" in app.query_one(Answer).source
        await pilot.press("ctrl+n", *"A fact.", "enter")
        await settle(pilot)
        assert facts_in_table(app) == ["A fact."]


async def test_ctrl_q_quits(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_the_window_shows_before_the_models_load_and_typing_stays_responsive(make_app, services):
    loaded, hold = threading.Event(), threading.Event()

    def slow_loader(progress):
        progress("load SmolLM2-135M-Instruct", 0, None)
        loaded.wait(10)
        return ScriptedAnswerer({"Hi": "Hello."})

    with services.store.session() as s:
        add_fact(s, "The capital of Vendaria is Lusk.")  # a pending job: the update starts at once
    app = make_app(loader=slow_loader, updater=ScriptedUpdater(hold=hold))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            assert app.query_one("#loading").display  # the loading indicator, models not there yet
            assert "SmolLM2" in str(app.query_one("#loading-label").render())
            while not app.query_one("TrainingPanel").losses:
                await pilot.pause(0.05)
            await pilot.press(*"Hi")  # the update trains and the models load: typing still works
            assert app.query_one("#question", Input).value == "Hi"
            await pilot.press("enter")  # asked before the models are there: answered once they are
            loaded.set()
            while app.answering:
                await pilot.pause(0.05)
            assert "Hello." in app.query_one(Answer).source
            assert not app.query_one("#loading").display
            hold.set()
            await settle(pilot)
    finally:
        loaded.set()
        hold.set()


async def test_escape_before_the_models_are_there_still_stops_the_answer(make_app):
    loaded = threading.Event()
    answerer = ScriptedAnswerer({"Hi": "Hello there, how are you?"})

    def slow_loader(progress):
        loaded.wait(10)
        return answerer

    app = make_app(loader=slow_loader)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(*"Hi", "enter")
            await pilot.pause()
            await pilot.press("escape")
            loaded.set()
            await settle(pilot)
            assert app.query_one(Answer).source.strip() == "*(stopped)*"
    finally:
        loaded.set()


async def test_each_answer_says_whether_the_expert_steered_it(make_app):
    scope = {"relevance": 1.0, "gate": 1.0, "alpha": 1.0, "steered": True,
             "matches": [{"text": "The capital of Vendaria is Lusk.", "score": 1.0, "via": "name", "facts": [1]}]}
    shut = {"relevance": 0.2, "gate": 0.0, "alpha": 0.0, "steered": False, "matches": []}
    answerer = ScriptedAnswerer(ANSWERS, PLAIN, meta={
        "What is the capital of Vendaria?": {"scope": scope, "context": []},
        "What is the capital of France?": {"scope": shut, "context": []}})
    app = make_app(answerer=answerer)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for question in ("What is the capital of France?", "What is the capital of Vendaria?"):
            await pilot.press(*question, "enter")
            await settle(pilot)
        france, vendaria = [w.render().plain for w in app.query(".scope")]
        assert france.startswith("large model alone")
        assert "expert steered at alpha 1.00" in vendaria and "The capital of Vendaria is Lusk. (named)" in vendaria
        await pilot.press("ctrl+t")  # the comparison repeats the line under the tuned answer
        await settle(pilot)
        assert "expert steered" in app.query_one("#tuned", Markdown).source


async def test_the_chat_says_when_what_it_knows_changed(make_app, services):
    from amend.store.adapters import register_adapter

    app = make_app(answerer=ScriptedAnswerer(ANSWERS))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.query(".notice")
        with services.store.session() as s:
            register_adapter(s, services.profile, 1, "/adapters/v1", "0" * 64, [], {})
        app.poll()
        await settle(pilot)
        [notice] = [w.render().plain for w in app.query(".notice")]
        assert "adapter v1 is active" in notice
