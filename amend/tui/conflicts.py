"""The conflict notice: a new fact superseded an older one; name both and offer undo.

Superseding is decided by the update (a new fact contradicts an active one); the app notices it
in the store (status "superseded", superseded_by) and shows one notice per pair. Undo restores
the old fact (both are then active; retract either one to choose).
"""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Static

from amend.tui.data import FactRow


class ConflictNotice(Horizontal):
    DEFAULT_CSS = """
    ConflictNotice { height: auto; display: none; background: $warning-muted; padding: 0 1; }
    ConflictNotice.shown { display: block; }
    ConflictNotice Static { width: 1fr; padding: 1 0; }
    ConflictNotice Button { margin: 0 0 0 1; min-width: 10; }
    """

    class Undo(Message):
        def __init__(self, old_id: int) -> None:
            super().__init__()
            self.old_id = old_id

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.queue: list[tuple[FactRow, FactRow]] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="conflict-text")
        yield Button("Undo", id="undo", variant="warning")
        yield Button("Keep", id="keep")

    @property
    def current(self) -> tuple[FactRow, FactRow] | None:
        return self.queue[0] if self.queue else None

    def push(self, old: FactRow, new: FactRow) -> None:
        self.queue.append((old, new))
        self._show()

    def _show(self) -> None:
        self.set_class(bool(self.queue), "shown")
        if self.queue:
            old, new = self.queue[0]
            more = f" (+{len(self.queue) - 1} more)" if len(self.queue) > 1 else ""
            self.query_one("#conflict-text", Static).update(
                f"[b]Conflict{more}:[/b] fact #{new.id} “{escape(new.text)}” replaced #{old.id} "
                f"“{escape(old.text)}”. Undo restores #{old.id} (ctrl+u)."
            )

    def dismiss_current(self) -> None:
        if self.queue:
            self.queue.pop(0)
        self._show()

    def undo_current(self) -> None:
        if self.queue:
            old, _new = self.queue[0]
            self.post_message(self.Undo(old.id))
            self.dismiss_current()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "undo":
            self.undo_current()
        else:
            self.dismiss_current()
