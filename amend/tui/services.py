"""What the terminal UI needs from the rest of amend, as small interfaces, and the real wiring.

The app talks to the store directly (it is cheap and never imports torch) and to two slow parts
through the interfaces below, always from worker threads:

- an `Answerer` (the proxy-tuned assistant) that streams an answer piece by piece;
- an `Updater` that runs the pending update jobs (derive, score, train) and reports progress.

`real_services()` connects them to amend.assistant and amend.training; tests hand the app a
scripted answerer instead, so widget tests need no model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from amend.config import Settings
from amend.store.db import Store, open_store


class Answerer(Protocol):
    """A loaded assistant. Its methods run in worker threads, never on the UI thread."""

    device: str  # where the models run, shown in the status line

    def stream(self, history: list[dict[str, str]], question: str, alpha: float | None = None) -> Iterator[str]:
        """The answer to `question` after `history` (chat messages), to iterate piece by piece.

        alpha=None uses the settings; alpha=0 is the large model alone. A `stop()` from the
        moment this returns ends the iteration.
        """
        ...

    def stop(self) -> None:
        """Ask the running `stream` to end soon (it returns what it has)."""
        ...

    def reload(self) -> None:
        """Pick up the store's active adapter (after an update finished)."""
        ...


@dataclass
class UpdateProgress:
    """One progress report of an update, as the training panel shows it."""

    stage: str  # supersede, derive, score, train, save, ... (free text from the worker)
    fraction: float | None = None  # 0-1 over the whole update (the progress bar); None = unknown
    message: str = ""  # what is being done (e.g. "fact 3 (1/2)")
    step: int | None = None  # training step done, of `steps`
    steps: int | None = None
    loss: float | None = None  # the latest training loss
    eta_s: float | None = None  # seconds left, if the worker knows
    job_id: int | None = None


LoadProgress = Callable[[str, float, float | None], None]  # (stage, done, total), as models.pull
UpdateReport = Callable[[UpdateProgress], None]


class Updater(Protocol):
    def __call__(self, report: UpdateReport) -> str | None:
        """Run every pending update job, reporting progress; a summary, or None if none was pending."""
        ...


@dataclass
class Services:
    """Everything the app is given: settings, the open store and the two slow parts."""

    settings: Settings
    store: Store
    load_answerer: Callable[[LoadProgress], Answerer]  # called in a worker thread
    updater: Updater  # called in a worker thread
    profile: str = ""  # profile name shown in the status line
    extra: dict = field(default_factory=dict)  # free room for tests


def real_services(settings: Settings) -> Services:
    """The real assistant and training worker for `settings.profile` (imported lazily)."""
    from amend.tui import wiring

    store = open_store(settings)
    return Services(
        settings=settings,
        store=store,
        load_answerer=lambda progress: wiring.load_assistant(settings, progress),
        updater=wiring.Trainer(settings, store),
        profile=settings.profile,
    )
