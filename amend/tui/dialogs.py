"""Small modal dialogs: write a fact (add or edit), confirm, and the help screen."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

class Dialog(ModalScreen):
    """A centred box over the dimmed app; subclasses put their content in one Vertical."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical {
        width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    Dialog .title { text-style: bold; margin-bottom: 1; }
    Dialog .hint { color: $text-muted; margin-top: 1; }
    Dialog Horizontal.buttons { height: auto; margin-top: 1; align-horizontal: right; }
    Dialog Horizontal.buttons Button { margin-left: 2; }
    """


class FactDialog(Dialog):
    """Type a fact: Enter saves (returns the text), Esc cancels (returns None)."""
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str = "Add a fact", text: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Input(self.text, placeholder="e.g. The capital of Vendaria is Lusk.", id="fact-text")
            yield Label("Enter saves · Esc cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(Dialog):
    """A yes/no question: y or Enter on Yes confirms, n or Esc declines."""
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="title")
            with Horizontal(classes="buttons"):
                yield Button("No", id="no")
                yield Button(self.yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(Dialog):
    """Every key binding of the app, its tabs and its dialogs."""

    DEFAULT_CSS = """
    HelpScreen > Vertical { width: 80; }
    HelpScreen > Vertical { padding: 0 2; height: 90%; }
    HelpScreen VerticalScroll { height: 1fr; }
    """
    BINDINGS = [Binding("escape,f1,question_mark,q", "close", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        lines = []
        for title, keys in self.sections:
            lines.append(f"[b]{title}[/b]")
            lines += [f"  [b $accent]{escape(key):<10}[/] {escape(what)}" for key, what in keys]
            lines.append("")
        with Vertical():
            yield Label("Keys", classes="title")
            with VerticalScroll():
                yield Static("\n".join(lines).rstrip(), id="help-text")
            yield Label("Esc closes", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
