"""The Facts tab: a filter box, a switch for retracted facts, and the table of facts with its keys."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import DataTable, Input, Label, Switch

from amend.store.printable import printable
from amend.tui import data

STATUS_STYLE = {"active": "green", "retracted": "red", "superseded": "yellow"}


class FactsTable(DataTable):
    """The facts; keys act on the selected row (Enter shows its history and derivations)."""

    BINDINGS = [
        Binding("e", "edit", "Edit"),
        Binding("d", "retract", "Retract"),
        Binding("r", "restore", "Restore"),
        Binding("enter", "select_cursor", "Details", show=True),
    ]

    @property
    def selected_id(self) -> int | None:
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return int(key.value) if key.value is not None else None

    def action_edit(self) -> None:
        if (fid := self.selected_id) is not None:
            self.app.edit_fact(fid)

    def action_retract(self) -> None:
        if (fid := self.selected_id) is not None:
            self.app.retract_fact(fid)

    def action_restore(self) -> None:
        if (fid := self.selected_id) is not None:
            self.app.restore_fact(fid)


class FactsPane(Vertical):
    DEFAULT_CSS = """
    FactsPane #fact-bar { height: 3; }
    FactsPane #fact-filter { width: 1fr; }
    FactsPane #fact-bar Label { padding: 1 1 0 2; }
    FactsPane FactsTable { height: 1fr; }
    FactsPane #fact-empty { color: $text-muted; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="fact-bar"):
            yield Input(placeholder="Filter facts", id="fact-filter")
            yield Label("retracted too")
            yield Switch(False, id="show-all")
        yield FactsTable(cursor_type="row", zebra_stripes=True, id="fact-table")
        yield Label("No facts yet: ctrl+n adds one, ctrl+o imports a file.", id="fact-empty")

    def on_mount(self) -> None:
        self.reload()

    @on(Input.Changed, "#fact-filter")
    @on(Switch.Changed, "#show-all")
    def _filter_changed(self) -> None:
        self.reload()

    def on_resize(self, event: Resize) -> None:
        self.reload()

    def reload(self, select: int | None = None) -> None:
        """Read the facts again (keeping the cursor on `select` or the current row)."""
        table = self.query_one(FactsTable)
        keep = select if select is not None else table.selected_id
        rows = data.facts(
            self.app.services.store,
            include_all=self.query_one("#show-all", Switch).value,
            search=self.query_one("#fact-filter", Input).value.strip(),
        )
        text_width = max(20, self.app.size.width - 27)  # the pane spans the window, shown or not
        table.clear(columns=True)
        table.add_column("#", width=4, key="id")
        table.add_column("Status", width=13, key="status")
        table.add_column("Fact", width=text_width, key="text")
        for row in rows:
            status = row.status + (f" by #{row.superseded_by}" if row.superseded_by else "")
            table.add_row(str(row.id), Text(status, style=STATUS_STYLE.get(row.status, "")),
                          Text(_clip(row.text, text_width)), key=str(row.id))
        self.query_one("#fact-empty").display = not rows
        ids = [r.id for r in rows]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))

    @on(DataTable.RowSelected, "#fact-table")
    def _show(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.app.show_fact(int(event.row_key.value))


def _clip(text: str, width: int) -> str:
    """One line of at most width cells: whitespace runs become a space, controls are escaped."""
    text = printable(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"
