"""A fact's details: its earlier texts and the statements derived from it (with their parents,
question form and the reason each was accepted or rejected).

Texts are shown with control characters escaped (amend.store.printable) and markup escaped.
"""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from amend.store.printable import printable
from amend.tui.data import FactDetail, StatementRow
from amend.tui.dialogs import Dialog


def _safe(text: str) -> str:
    """A text for markup: control characters and markup escaped."""
    return escape(printable(text))


class FactDetailScreen(Dialog):
    """History and derivations of one fact; highlighting a statement shows the facts it came from,
    its question form and why it was accepted or rejected."""

    DEFAULT_CSS = """
    FactDetailScreen > Vertical { width: 100; height: 90%; }
    FactDetailScreen #statements { height: 1fr; min-height: 4; }
    FactDetailScreen #parents { height: auto; max-height: 8; }
    """
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, detail: FactDetail) -> None:
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        f = self.detail.fact
        about = [f"[b]Fact #{f.id}[/b] ({f.status}{f' by #{f.superseded_by}' if f.superseded_by else ''})",
                 _safe(f.text)]
        if f.source:
            about.append(f"source: {_safe(f.source)}")
        if f.reason:
            about.append(f"reason: {_safe(f.reason)}")
        about.append("")
        if self.detail.history:
            about.append("[b]Earlier texts[/b] (oldest first)")
            about += [f"  {i}. {_safe(t)}" for i, t in enumerate(self.detail.history, 1)]
        else:
            about.append("[b]Earlier texts[/b]: none (never edited)")
        with Vertical():
            yield Static("\n".join(about), id="about")
            n = len(self.detail.statements)
            accepted = sum(s.accepted for s in self.detail.statements)
            yield Label(f"[b]Derived statements[/b]: {n}, {accepted} accepted"
                        + ("" if n else " (none yet: the update derives them)"), classes="title")
            yield DataTable(cursor_type="row", id="statements")
            yield Static("", id="parents")
            yield Label("↑↓ choose a statement · Esc closes", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#statements", DataTable)
        table.add_column("Kind", width=13)
        table.add_column("p(true)", width=7)
        table.add_column("Accepted", width=8)
        box = min(100, int(self.app.size.width * 0.95)) - 6  # the dialog's inner width
        table.add_column("Statement", width=max(20, box - 28 - 8 - 2))  # other columns, cell padding, scrollbar
        for s in self.detail.statements:
            accepted = Text("yes", style="green") if s.accepted else Text("no", style="red")
            table.add_row(s.kind, f"{s.p_true:.2f}", accepted, Text(printable(s.text)), key=str(s.id))
        if self.detail.statements:
            table.focus()
            self._show_parents(self.detail.statements[0])

    @on(DataTable.RowHighlighted, "#statements")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        for s in self.detail.statements:
            if str(s.id) == event.row_key.value:
                self._show_parents(s)

    def _show_parents(self, s: StatementRow) -> None:
        verdict = "[green]accepted[/green]" if s.accepted else "[red]rejected[/red]"
        lines = [f"[b]{_safe(s.text)}[/b] ({verdict}, truth {'true' if s.truth else 'false'})"]
        if s.reason:
            lines.append(f"  why: {_safe(s.reason)}")
        if s.question:
            lines.append(f"  asked as: {_safe(s.question)}" + (f" (short answer: {_safe(s.answer)})" if s.answer else ""))
        lines += [f"  from #{p.id} ({p.status}): {_safe(p.text)}" for p in s.parents]
        self.query_one("#parents", Static).update("\n".join(lines))

    def action_close(self) -> None:
        self.dismiss(None)
