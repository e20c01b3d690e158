"""Fact texts holding control characters are shown escaped in the Facts tab and the detail screen."""

from __future__ import annotations

from textual.widgets import DataTable, Static
from tui_scripted import SIZE

from amend.store.facts import add_fact, edit_fact
from amend.tui.detail import FactDetailScreen


async def test_control_characters_are_shown_escaped(make_app, services):
    with services.store.session() as s:
        fact, _ = add_fact(s, "Kell is \x1b[31mred\x1b[0m\u202e", source="at\x07las")
        edit_fact(s, fact.id, "Kell is \x1b[32mgreen [b]now[/b]")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f3")
        await pilot.pause()
        table = app.query_one("#fact-table", DataTable)
        assert str(table.get_row_at(0)[2]) == "Kell is \\x1b[32mgreen [b]now[/b]"
        await pilot.press("enter")
        assert isinstance(app.screen, FactDetailScreen)
        about = str(app.screen.query_one("#about", Static).render())
        assert "Kell is \\x1b[32mgreen" in about
        assert "1. Kell is \\x1b[31mred\\x1b[0m\\u202e" in about and "source: at\\x07las" in about
        assert "\x1b" not in about and "\u202e" not in about
