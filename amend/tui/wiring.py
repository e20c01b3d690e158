"""The real slow parts behind the app's interfaces: amend.assistant and amend.training.worker.

Imported only by `real_services()` and called only from worker threads, so torch is loaded
after the window is up. The trainer gets its own copy of the models, loaded at the first job
and kept: training wraps the small model in LoRA layers while it runs, which must not happen
under the assistant answering beside it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from amend.config import Settings
from amend.store.db import Store
from amend.tui.services import LoadProgress, UpdateProgress, UpdateReport

# transformers' from_pretrained is not thread-safe (it builds the model on the "meta" device
# under process-wide settings), so the assistant and the trainer load one after the other
_LOAD_LOCK = threading.Lock()


class AssistantAnswerer:
    """The proxy-tuned assistant as the app's `Answerer`."""

    def __init__(self, assistant) -> None:
        self.assistant = assistant
        self.device = str(getattr(assistant, "device", "") or assistant.lp.device)

    def stream(self, history: list[dict[str, str]], question: str, alpha: float | None = None) -> Iterator[str]:
        return self.assistant.ask(question, history=history, alpha=alpha)

    def stop(self) -> None:
        self.assistant.stop()

    def reload(self) -> None:
        self.assistant.reload()


def load_assistant(settings: Settings, progress: LoadProgress) -> AssistantAnswerer:
    from amend.assistant import Assistant

    with _LOAD_LOCK:
        return AssistantAnswerer(Assistant.load(settings, on_progress=progress))


class Trainer:
    """Runs the pending update jobs with the training worker, keeping its models between runs."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self._lp = None
        self._lock = threading.Lock()

    def _models(self):
        from amend.models.load import load_profile

        if self._lp is None:
            with _LOAD_LOCK:
                self._lp = load_profile(self.settings.profile, settings=self.settings)
        return self._lp

    def __call__(self, report: UpdateReport) -> str | None:
        from amend.training.worker import run_pending

        def on_progress(p) -> None:  # amend.training.pipeline.Progress
            report(UpdateProgress(p.stage, p.progress, p.message, p.step, p.total, p.loss, p.eta_s))

        with self._lock:
            results = run_pending(self.settings, self.settings.profile, on_progress, lp=self._models, store=self.store)
        return "; ".join(r.message for r in results if r.message) or None
