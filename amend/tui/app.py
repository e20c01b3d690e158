"""The `amend chat` app: chat with the assistant and teach it in one window.

Threads: the models load, answers stream and updates train in worker threads, which talk back
only by posting messages (thread-safe, never blocking), so the UI never waits for a model.
One lock keeps the assistant to one job at a time (an answer, or a reload of the new adapter
after an update); training runs beside it, on the same loaded models (amend.tui.wiring).
Quitting saves the answer in progress and its question first.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from rich.markup import escape
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Footer, Input, TabbedContent, TabPane

from amend.errors import UserError
from amend.tui import data
from amend.tui.chat import ChatPane
from amend.tui.conflicts import ConflictNotice
from amend.tui.detail import FactDetailScreen
from amend.tui.dialogs import ConfirmDialog, FactDialog, HelpScreen
from amend.tui.facts import FactsPane, FactsTable
from amend.tui.importer import ImportDialog
from amend.tui.services import Answerer, Services, UpdateProgress
from amend.tui.training import StatusLine, TrainingPanel

POLL_S = 1.0  # how often the status line and conflicts are read from the store
QUIT_WAIT_S = 3.0  # at quit, how long an answer in progress gets to stop and save itself
RETRY = object()  # the adapter version to compare with when a reload must be tried again


# --- messages from worker threads ---

@dataclass
class Loaded(Message):
    answerer: Answerer | None
    error: str | None = None


@dataclass
class LoadStage(Message):
    text: str


@dataclass
class UpdateReport(Message):
    progress: UpdateProgress


@dataclass
class UpdateDone(Message):
    summary: str | None  # what the update did; None when nothing was pending
    error: str | None


@dataclass
class WriteDone(Message):
    what: str  # a notice for the user
    fact_id: int | None
    error: str | None


class AmendApp(App):
    TITLE = "amend"
    ENABLE_COMMAND_PALETTE = False  # no use here; frees the footer for the app's own keys
    CSS = """
    Screen { layout: vertical; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    """
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+n", "add_fact", "Add fact", priority=True),
        Binding("ctrl+o", "import_file", "Import"),
        Binding("ctrl+t", "compare", "Compare α=0"),
        Binding("escape", "stop", "Stop answer"),
        Binding("ctrl+u", "undo_conflict", "Undo conflict"),
        Binding("ctrl+r", "update", "Update now", show=False),
        Binding("f2", "tab('chat')", "Chat", show=False),
        Binding("f3", "tab('facts')", "Facts", show=False),
    ]
    # keys shown on the help screen, per place (the footer shows those of the focused place)
    HELP = [
        ("Everywhere", [("ctrl+q", "quit"), ("F1 or ?", "this help"), ("F2 / F3", "Chat / Facts tab"),
                        ("ctrl+n", "add a fact"), ("ctrl+o", "import facts from a file"),
                        ("ctrl+u", "undo a conflict (restore the superseded fact)"),
                        ("ctrl+r", "run the pending updates now (e.g. after a failure)")]),
        ("Chat", [("Enter", "ask the question"), ("Esc", "stop the answer"),
                  ("ctrl+t", "the large model's own answer (alpha=0) beside the tuned one")]),
        ("Facts table", [("↑ ↓", "choose a fact"), ("Enter", "history and derived statements"),
                         ("e", "edit"), ("d", "retract (asks first)"), ("r", "restore"),
                         ("Tab", "filter box and the switch for retracted facts")]),
        ("Dialogs", [("Enter", "save / check / import"), ("Esc", "cancel or close"),
                     ("y / n", "answer a question")]),
    ]

    def __init__(self, services: Services, session_id: int | None = None) -> None:
        super().__init__()
        self.services = services
        self.session_id = session_id
        self.answerer: Answerer | None = None
        self.device = "…"
        self.updating = False
        self.update_again = False
        self.adapter_version: int | None = None
        self.models_ready = threading.Event()  # set once loading ended (well or not)
        self.load_error: str | None = None
        self.model_lock = services.model_lock  # one assistant job at a time (an answer, a reload)
        self._seen_superseded: set[int] = set()
        self._external_job = False  # the panel shows a job another process runs
        self._answerer_version: object = None  # the adapter version the assistant has loaded (or RETRY)

    # --- layout and start ---

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="chat"):
            with TabPane("Chat", id="chat"):
                yield ChatPane()
            with TabPane("Facts", id="facts"):
                yield FactsPane()
        yield ConflictNotice()
        yield TrainingPanel()
        yield StatusLine()
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = self.services.profile
        self.query_one("#question", Input).focus()
        self._seen_superseded = {old.id for old, _ in data.superseded(self.services.store)}
        if self.session_id is not None:
            await self.query_one(ChatPane).resume(self.session_id)
        self.poll()
        self.set_interval(POLL_S, self.poll)
        self.load_models()
        self.start_update()  # jobs left pending, or an adapter behind the facts (the worker checks)

    def poll(self) -> None:
        """Status line, progress of a job run elsewhere, new conflicts: read from the store."""
        try:
            status, panel = self.query_one(StatusLine), self.query_one(TrainingPanel)
        except NoMatches:  # the app is closing and its widgets are gone (a timer's or a worker's last call)
            return
        o = data.overview(self.services.store, self.services.profile)
        if self.adapter_version != o.adapter_version and self.models_ready.is_set():
            self.run_worker(self.query_one(ChatPane).notice(
                f"What I know changed: adapter v{o.adapter_version} is active; the next answers use it."
                if o.adapter_version is not None else "No facts are left: the large model answers alone."))
        self.adapter_version = o.adapter_version
        status.set_status(self.services.profile, self.device, o.adapter_version, o.pending,
                          o.running.id if o.running else None)
        if not self.updating and o.running is not None:  # another process (amend worker) runs it
            self._external_job = True
            panel.show(UpdateProgress(o.running.stage, o.running.progress, o.running.message, job_id=o.running.id))
        elif not self.updating and self._external_job:
            self._external_job = False
            panel.finish("Update done by another worker.")
            self.query_one(FactsPane).reload()
        if (self.answerer is not None and not self.updating and o.adapter_version != self._answerer_version):
            self._answerer_version = o.adapter_version
            self.reload_answerer()
        self.check_conflicts()

    def check_conflicts(self) -> None:
        """A notice for each fact superseded since the last look (restored ones may come again)."""
        notice = self.query_one(ConflictNotice)
        pairs = data.superseded(self.services.store)
        for old, new in pairs:
            if old.id not in self._seen_superseded:
                notice.push(old, new)
        self._seen_superseded = {old.id for old, _ in pairs}

    # --- loading the models ---

    @work(thread=True, group="load")
    def load_models(self) -> None:
        def progress(stage: str, done: float, total: float | None) -> None:
            self.post_message(LoadStage(f"Loading the models: {stage}..."))

        try:
            answerer = self.services.load_answerer(progress)
        except UserError as e:
            self.post_message(Loaded(None, str(e)))
        except Exception as e:  # noqa: BLE001 - shown to the user; the app keeps working on facts
            self.post_message(Loaded(None, f"{type(e).__name__}: {e}"))
        else:
            self.post_message(Loaded(answerer))

    def on_load_stage(self, message: LoadStage) -> None:
        self.query_one(ChatPane).loading(message.text)

    def on_loaded(self, message: Loaded) -> None:
        self.answerer, self.load_error = message.answerer, message.error
        self.models_ready.set()
        chat = self.query_one(ChatPane)
        if message.answerer is None:
            chat.loading(f"[red]Could not load the models: {escape(message.error)}[/red]", busy=False)
            self.notify(f"Could not load the models: {message.error}", severity="error", timeout=10, markup=False)
        else:
            self.device = message.answerer.device
            self._answerer_version = data.overview(self.services.store, self.services.profile).adapter_version
            chat.loading(None)
            self.poll()

    # --- chat (the pane does the work) ---

    @property
    def answering(self) -> bool:
        panes = self.query(ChatPane)
        return bool(panes) and panes.first().answering

    def action_stop(self) -> None:
        self.query_one(ChatPane).stop()

    async def action_compare(self) -> None:
        self.query_one(TabbedContent).active = "chat"
        await self.query_one(ChatPane).toggle_compare()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.answering
        if action == "undo_conflict":
            return self.is_mounted and self.query_one(ConflictNotice).current is not None
        return True

    # --- facts ---

    def action_add_fact(self) -> None:
        def save(text: str | None) -> None:
            if text:
                self.store_write(lambda: data.add_fact(self.services.store, text), "Added fact #{id}.")

        self.push_screen(FactDialog("Add a fact"), save)

    def edit_fact(self, fact_id: int) -> None:
        row = data.fact(self.services.store, fact_id)

        def save(text: str | None) -> None:
            if text and text != row.text:
                self.store_write(lambda: data.edit_fact(self.services.store, fact_id, text), "Edited fact #{id}.")

        self.push_screen(FactDialog(f"Edit fact #{fact_id}", row.text), save)

    def retract_fact(self, fact_id: int) -> None:
        row = data.fact(self.services.store, fact_id)
        if row.status != "active":
            self.notify(f"Fact #{fact_id} is {row.status} already (r restores it).", severity="warning")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.store_write(lambda: data.retract_fact(self.services.store, fact_id, "retracted in amend chat"),
                           "Retracted fact #{id}.")

        self.push_screen(ConfirmDialog(f"Retract fact #{fact_id}?\n“{escape(row.text)}”\n\nThe expert "
                                       "will unlearn it (it stays in the store; r restores it).",
                                       yes="Retract"), answer)

    def restore_fact(self, fact_id: int) -> None:
        self.store_write(lambda: data.restore_fact(self.services.store, fact_id), "Restored fact #{id}.")

    def show_fact(self, fact_id: int) -> None:
        self.push_screen(FactDetailScreen(data.detail(self.services.store, fact_id)))

    @work(thread=True, group="write")
    def store_write(self, change, done: str) -> None:
        """Run a store change (it writes a job too) in a thread; then the update runs."""
        try:
            row, _job = change()
        except UserError as e:
            self.post_message(WriteDone("", None, str(e)))
        else:
            self.post_message(WriteDone(done.format(id=row.id), row.id, None))

    def on_write_done(self, message: WriteDone) -> None:
        if message.error:
            self.notify(message.error, severity="error", markup=False)
            return
        self.notify(message.what)
        if not message.what.startswith("Added"):  # an edit, retraction or restoration counts at once
            self.run_worker(self.query_one(ChatPane).notice(
                f"{message.what} The next answers follow it (the expert is retrained in the background)."))
        self.query_one(FactsPane).reload(select=message.fact_id)
        self.query_one(TabbedContent).active = "facts"
        self.query_one(FactsTable).focus()
        self.poll()
        self.start_update()

    def on_conflict_notice_undo(self, message: ConflictNotice.Undo) -> None:
        self.restore_fact(message.old_id)

    def action_undo_conflict(self) -> None:
        self.query_one(ConflictNotice).undo_current()

    def action_import_file(self) -> None:
        def done(result: data.ImportCheck | None) -> None:
            if result is not None:
                self.notify(f"Imported {result.added} facts ({result.duplicates} duplicates skipped).")
                self.query_one(FactsPane).reload()
                self.query_one(TabbedContent).active = "facts"
                self.poll()
                if result.job_id is not None:
                    self.start_update()

        self.push_screen(ImportDialog(self.services.store), done)

    # --- updates (derive, score, train) ---

    def action_update(self) -> None:
        self.start_update()

    def start_update(self) -> None:
        """Run the pending jobs in a worker (once more afterwards if asked while one runs)."""
        if self.updating:
            self.update_again = True
            return
        self.updating = True
        self.run_updates()

    @work(thread=True, group="update")
    def run_updates(self) -> None:
        summary = error = None
        try:
            summary = self.services.updater(lambda p: self.post_message(UpdateReport(p)))
        except UserError as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - shown in the panel; the app keeps working
            error = f"{type(e).__name__}: {e}"
        self.post_message(UpdateDone(summary, error))

    def on_update_report(self, message: UpdateReport) -> None:
        self.query_one(TrainingPanel).show(message.progress)

    def on_update_done(self, message: UpdateDone) -> None:
        self.updating = False
        panel = self.query_one(TrainingPanel)
        if message.error:
            panel.finish(f"[red]Update failed: {escape(message.error)}[/red]")
            self.notify(f"Update failed: {message.error}", severity="error", timeout=10, markup=False)
        elif message.summary is not None or panel.active:
            panel.finish(f"Update done: {escape(message.summary or 'finished')}")
            self.query_one(FactsPane).reload()
        self.poll()  # the status line; the assistant takes up a new adapter
        if self.update_again:
            self.update_again = False
            self.start_update()

    @work(thread=True, group="reload")
    def reload_answerer(self) -> None:
        """Give the assistant the new adapter (after any answer in progress; if an update has the
        models just now, the next poll after it tries again)."""
        with self.model_lock:
            try:
                if self.answerer.reload() is False:
                    self._answerer_version = RETRY
            except Exception as e:  # noqa: BLE001 - the assistant keeps the adapter it had
                self.post_message(WriteDone("", None, f"could not load the new adapter: {e}"))

    # --- the rest ---

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.HELP))

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        (self.query_one("#question") if tab == "chat" else self.query_one(FactsTable)).focus()

    async def action_quit(self) -> None:
        """Quit. An answer in progress stops, and it is saved with its question first (by its
        own thread within QUIT_WAIT_S, else from here with what it has)."""
        await asyncio.to_thread(self.query_one(ChatPane).save_unfinished, QUIT_WAIT_S)
        self.exit()

    @property
    def busy_threads(self) -> bool:
        """Whether a model thread may still be running (the caller exits without waiting for it)."""
        return self.updating or self.answering or not self.models_ready.is_set()


def run_app(services: Services, session_id: int | None = None) -> AmendApp:
    """Run the app until it quits; see `busy_threads` for threads that may still be running.

    The app runs on a loop of its own: asyncio.run() would wait, on the way out, for every
    worker thread (a training run can take minutes); the caller decides instead.
    """
    app = AmendApp(services, session_id)
    loop = asyncio.new_event_loop()
    try:
        app.run(loop=loop)
    finally:
        asyncio.set_event_loop(None)
    return app
