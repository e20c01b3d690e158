"""What the terminal UI needs from the rest of amend, as small interfaces.

The app talks to the store directly (it is cheap and never imports torch) and to two slow parts
through the interfaces below, always from worker threads:

- an `Answerer` (the proxy-tuned assistant) that streams an answer piece by piece;
- an `Updater` that runs the pending update jobs (derive, score, train) and reports progress.

amend.tui.wiring.real_services() connects them to amend.assistant and amend.training; tests hand
the app a scripted answerer instead, so widget tests need no model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from amend.config import Settings
from amend.store.db import Store
from amend.training.pipeline import Progress


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

    def reload(self) -> bool | None:
        """Pick up the store's active adapter (after an update finished); False: not now (the
        models are busy with an update), try again later."""
        ...


@dataclass
class UpdateProgress(Progress):
    """One progress report of an update, as the training panel shows it: the pipeline's
    Progress (stage, progress 0-1, message, step of total, loss, eta_s) and the job it is for."""

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
    # one assistant job at a time: an answer, or taking up a new adapter (the app's and the updater's)
    model_lock: threading.Lock = field(default_factory=threading.Lock)
    extra: dict = field(default_factory=dict)  # free room for tests
