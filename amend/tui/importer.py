"""The import dialog: a file path, a dry run (counts, line-numbered errors), then the import.

Both steps run the store's all-or-nothing importer in a thread (a big file takes a while);
Import is enabled only after a clean dry run of the same path.
"""

from __future__ import annotations

import asyncio

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from amend.tui import data
from amend.tui.dialogs import Dialog

ERRORS_SHOWN = 200  # error lines drawn in the dialog (the importer keeps up to 1,000)


class ImportDialog(Dialog):
    """Returns the import's result, or None when cancelled."""

    DEFAULT_CSS = """
    ImportDialog > Vertical { width: 90; }
    ImportDialog #report-box { height: auto; max-height: 12; margin-top: 1; }
    ImportDialog #report { height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.checked: str | None = None  # the path whose dry run was clean

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Import facts from a file", classes="title")
            yield Label("TXT (one fact a line), CSV (a text column) or JSONL ({\"text\": ...}); "
                        "all or nothing.", classes="hint")
            yield Input(placeholder="Path of the file, e.g. ~/facts.txt", id="import-path")
            with VerticalScroll(id="report-box"):
                yield Static("Enter checks the file (a dry run); nothing is written until Import.",
                             id="report")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Check", id="check")
                yield Button("Import", id="import", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()

    @on(Input.Changed, "#import-path")
    def _path_changed(self) -> None:
        self.checked = None
        self.query_one("#import", Button).disabled = True

    @on(Input.Submitted, "#import-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.checked == self.path:
            self.run_import(dry_run=False)
        else:
            self.run_import(dry_run=True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "check":
            self.run_import(dry_run=True)
        elif event.button.id == "import":
            self.run_import(dry_run=False)

    @property
    def path(self) -> str:
        return self.query_one("#import-path", Input).value.strip()

    def _report(self, text: str) -> None:
        self.query_one("#report", Static).update(text)

    @work(exclusive=True)
    async def run_import(self, dry_run: bool) -> None:
        path = self.path
        if not path:
            self._report("[red]Type the path of a file first.[/red]")
            return
        self._report("Checking..." if dry_run else "Importing...")
        result = await asyncio.to_thread(data.import_file, self.store, path, dry_run)
        if not dry_run and result.ok:
            self.dismiss(result)
            return
        self._report(describe(result, dry_run))
        self.checked = path if (dry_run and result.ok and result.added) else None
        self.query_one("#import", Button).disabled = self.checked is None
        if self.checked:
            self.query_one("#import", Button).focus()


def describe(r: data.ImportCheck, dry_run: bool) -> str:
    """The dialog's report: counts, or the failure with its line-numbered errors."""
    if r.ok:
        verb = "would add" if dry_run else "added"
        text = (f"[green]Dry run: {verb} {r.added} fact{'s' if r.added != 1 else ''}[/green], "
                f"{r.duplicates} duplicate{'s' if r.duplicates != 1 else ''} skipped, "
                f"{r.skipped} blank or comment line{'s' if r.skipped != 1 else ''}.")
        if dry_run:
            text += "\nImport (or Enter again) writes them." if r.added else "\nNothing new to import."
        return text
    lines = [f"[red]{escape(r.message)}[/red]"]
    lines += [escape(e) for e in r.errors[:ERRORS_SHOWN]]
    if len(r.errors) > ERRORS_SHOWN:
        lines.append(f"... and {r.bad_lines - ERRORS_SHOWN} more")
    return "\n".join(lines)
