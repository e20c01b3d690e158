"""The Chat tab: the conversation as Markdown, the question box, and the alpha=0 comparison.

An answer is produced in a worker thread and streamed into a Markdown widget through
`Markdown.get_stream` (it batches fragments when they arrive faster than they can be drawn).
The thread waits for the models if they are still loading, holds the app's model lock while
it decodes, saves the exchange in the store's chat session, and talks back only by posting
messages. The app owns the models (`app.answerer`) and the session id.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, LoadingIndicator, Markdown, Static

from amend.assistant.scope import explain
from amend.errors import UserError
from amend.tui import data

HISTORY_MESSAGES = 20  # earlier chat messages sent with a question (the model's context is finite)


class Question(Static):
    DEFAULT_CSS = """
    Question { margin: 1 0 0 0; padding: 0 1; background: $boost; text-style: bold; }
    """


class Answer(Markdown):
    DEFAULT_CSS = """
    Answer { margin: 0 0 0 2; padding: 0; }
    """


@dataclass
class Piece(Message):
    target: Markdown
    text: str


@dataclass
class AnswerDone(Message):
    target: Markdown
    question: str
    text: str
    stopped: bool
    error: str | None
    alpha: float | None  # None: the proxy-tuned answer; 0: the large model alone (comparison)
    meta: dict | None = None  # what the assistant decided (scope, facts in the prompt), if it says


@dataclass
class Unfinished:
    """The proxy-tuned answer in progress, so that what it has is saved even if the app quits
    before its worker thread gets to it (see `ChatPane.save_unfinished`)."""

    question: str
    pieces: list[str] = field(default_factory=list)
    saved: set[str] = field(default_factory=set)  # roles saved so far: "user", "assistant"
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)


class ChatPane(Vertical):
    DEFAULT_CSS = """
    ChatPane #log { height: 1fr; padding: 0 1; }
    ChatPane #loading { height: 1; padding: 0 1; }
    ChatPane #loading LoadingIndicator { width: 8; height: 1; }
    ChatPane #loading Label { width: 1fr; color: $text-muted; }
    ChatPane #compare { height: 1fr; display: none; border-top: solid $primary; }
    ChatPane #compare.shown { display: block; }
    ChatPane #compare Vertical { width: 1fr; padding: 0 1; }
    ChatPane #compare .side-title { text-style: bold; color: $accent; }
    ChatPane #compare VerticalScroll { height: 1fr; }
    ChatPane #question { dock: bottom; }
    ChatPane #welcome { color: $text-muted; padding: 1 1; }
    ChatPane .thinking { height: 1; width: 8; margin-left: 2; }
    ChatPane .scope { margin: 0 0 0 2; color: $text-muted; text-style: italic; }
    ChatPane .notice { margin: 1 0 0 0; padding: 0 1; color: $warning; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history: list[dict[str, str]] = []  # the conversation so far (user/assistant)
        self.last: tuple[list[dict[str, str]], str, str] | None = None  # history, question, answer
        self.last_note = ""  # what steered the last answer (the line under it)
        self.compared: dict[str, str] = {}  # question -> the large model's own answer
        self.answering = False
        self._stopped = False  # Esc was pressed during the current answer
        self._streams: dict[int, object] = {}  # id(Markdown) -> its MarkdownStream
        self.unfinished: Unfinished | None = None  # the proxy-tuned answer being produced

    def compose(self) -> ComposeResult:
        with Horizontal(id="loading"):
            yield LoadingIndicator()
            yield Label("Loading the models...", id="loading-label")
        with VerticalScroll(id="log"):
            yield Static(
                "Ask anything below. Teach me with ctrl+n (add a fact); ctrl+t compares with the "
                "large model alone; F1 lists every key.",
                id="welcome",
            )
        with Horizontal(id="compare"):
            with Vertical():
                yield Label("Proxy-tuned (your facts)", classes="side-title")
                with VerticalScroll():
                    yield Markdown("", id="tuned")
            with Vertical():
                yield Label("Large model alone (alpha=0)", classes="side-title")
                with VerticalScroll():
                    yield Markdown("", id="plain")
        yield Input(placeholder="Ask a question (Enter sends, Esc stops the answer)", id="question")

    # --- display ---

    def loading(self, text: str | None, busy: bool = True) -> None:
        """Show the loading line with `text` (and the indicator while `busy`), or hide it (None)."""
        box = self.query_one("#loading")
        box.display = text is not None
        box.query_one(LoadingIndicator).display = busy
        if text is not None:
            self.query_one("#loading-label", Label).update(text)

    async def add_question(self, question: str) -> Answer:
        """Show a question and an empty answer below it; returns the answer widget to stream into."""
        log = self.query_one("#log", VerticalScroll)
        answer = Answer("")
        await log.mount_all([Question(escape(question)), answer, LoadingIndicator(classes="thinking")])
        log.scroll_end(animate=False)
        return answer

    def done_thinking(self) -> None:
        """The answer has begun (or ended): take its loading indicator away."""
        for w in self.query(".thinking"):
            w.remove()

    async def notice(self, text: str) -> None:
        """A line in the conversation that says something changed (e.g. what the assistant knows)."""
        log = self.query_one("#log", VerticalScroll)
        await log.mount(Static(escape(text), classes="notice"))
        self.scroll_to_end()

    def scroll_to_end(self) -> None:
        """Keep the newest text in view (after the pending layout, as the answer grows)."""
        log = self.query_one("#log", VerticalScroll)
        self.call_after_refresh(log.scroll_end, animate=False)

    @property
    def comparing(self) -> bool:
        return self.query_one("#compare").has_class("shown")

    def show_compare(self, show: bool) -> None:
        self.query_one("#compare").set_class(show, "shown")

    # --- a session ---

    async def resume(self, session_id: int) -> None:
        """Show an earlier session's exchanges and keep them as the history."""
        self.history = data.chat_messages(self.app.services.store, session_id)
        question = None
        for i, m in enumerate(self.history):
            if m["role"] == "user":
                question = m["content"]
            elif question is not None:
                widget = await self.add_question(question)
                self.done_thinking()
                await widget.update(m["content"])
                self.last = (self.history[: i - 1][-HISTORY_MESSAGES:], question, m["content"])
                question = None

    # --- asking ---

    @on(Input.Submitted, "#question")
    async def ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.answering:
            self.app.notify("Still answering: Esc stops it.", severity="warning")
            return
        event.input.value = ""
        self.show_compare(False)
        target = await self.add_question(question)
        self._start(target, self.history[-HISTORY_MESSAGES:], question, None)

    def _start(self, target: Markdown, history: list[dict[str, str]], question: str, alpha: float | None) -> None:
        self.answering, self._stopped = True, False
        self.app.refresh_bindings()
        self._streams[id(target)] = Markdown.get_stream(target)
        self.answer(history, question, target, alpha)

    @work(thread=True, group="answer")
    def answer(self, history: list[dict[str, str]], question: str, target: Markdown, alpha: float | None) -> None:
        """Stream an answer into `target` (alpha=None: proxy-tuned, saved in the session)."""
        app = self.app
        current = Unfinished(question) if alpha is None else None
        self.unfinished = current or self.unfinished
        pieces: list[str] = current.pieces if current else []
        error = None
        stopped = False
        meta = None
        try:
            if current:
                self._save_once(current, "user", question)
            app.models_ready.wait()
            if app.answerer is None:
                raise UserError(f"no models: {app.load_error}")
            with app.model_lock:
                if not self._stopped:
                    generation = app.answerer.stream(history, question, alpha)
                    if self._stopped:  # Esc came while the answer was being set up
                        app.answerer.stop()
                    for piece in generation:
                        pieces.append(piece)
                        self.post_message(Piece(target, piece))
                    meta = getattr(generation, "meta", None)
                stopped = self._stopped
        except UserError as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - shown in the chat instead of crashing the app
            error = f"{type(e).__name__}: {e}"
        text = "".join(pieces)
        if current and not error:
            self._save_once(current, "assistant", text, {"stopped": stopped, "adapter": app.adapter_version})
        if current:
            current.done.set()
        self.post_message(AnswerDone(target, question, text, stopped, error, alpha, meta))

    def _save_once(self, current: Unfinished, role: str, content: str, meta: dict | None = None) -> None:
        with current.lock:
            if role not in current.saved:
                self._save(role, content, meta)
                current.saved.add(role)

    def save_unfinished(self, wait_s: float) -> None:
        """On quit: stop the answer, give its thread `wait_s` to save it, else save the question
        and the answer so far from here (marked stopped). Blocking: call it from a thread."""
        current = self.unfinished
        if current is None or current.done.is_set():
            return
        self.stop()
        if current.done.wait(wait_s):
            return
        self._save_once(current, "user", current.question)
        self._save_once(current, "assistant", "".join(current.pieces),
                        {"stopped": True, "adapter": self.app.adapter_version, "quit": True})

    def _save(self, role: str, content: str, meta: dict | None = None) -> None:
        """Persist a chat message (a session is created with the first question). Worker thread."""
        app = self.app
        if app.session_id is None:
            app.session_id = data.new_chat(app.services.store, content, app.services.profile)
        data.save_message(app.services.store, app.session_id, role, content, meta)

    async def on_piece(self, message: Piece) -> None:
        stream = self._streams.get(id(message.target))
        if stream is not None:
            self.done_thinking()
            await stream.write(message.text)
            self.scroll_to_end()

    async def on_answer_done(self, message: AnswerDone) -> None:
        stream = self._streams.pop(id(message.target), None)
        self.done_thinking()
        if stream is not None:
            await stream.stop()
        if message.error:
            await message.target.append(f"\n\n*(no answer: {message.error})*")
        elif message.stopped:
            await message.target.append("\n\n*(stopped)*")
        note = ""
        if message.alpha is None and not message.error and message.meta and "scope" in message.meta:
            note = explain(message.meta["scope"], message.meta.get("context") or [])
            await self.query_one("#log", VerticalScroll).mount(Static(escape(note), classes="scope"),
                                                                  after=message.target)
        self.scroll_to_end()
        self.answering = False
        if message.alpha is not None:
            self.compared[message.question] = message.text
        elif not message.error:
            self.last = (self.history[-HISTORY_MESSAGES:], message.question, message.text)
            self.last_note = note
            self.history += [{"role": "user", "content": message.question},
                             {"role": "assistant", "content": message.text}]
        self.app.refresh_bindings()

    def stop(self) -> None:
        """End the answer in progress (it keeps what it has)."""
        if self.answering:
            self._stopped = True
            if self.app.answerer is not None:
                self.app.answerer.stop()

    async def toggle_compare(self) -> None:
        """Show (or hide) the large model's own answer to the last question beside the tuned one."""
        if self.comparing:
            self.show_compare(False)
            return
        if self.last is None:
            self.app.notify("Ask a question first: the comparison is for the last question.")
            return
        history, question, answer = self.last
        self.show_compare(True)
        await self.query_one("#tuned", Markdown).update(answer + (f"\n\n*{self.last_note}*" if self.last_note else ""))
        plain = self.query_one("#plain", Markdown)
        if question in self.compared:
            await plain.update(self.compared[question])
        elif not self.answering:
            await plain.update("")
            self._start(plain, history, question, 0.0)
