"""The real slow parts behind the app's interfaces: amend.assistant and amend.training.worker.

`real_services(settings)` builds them. Torch is imported only inside the worker threads that
call them, so the window is up before any model loads.

One copy of each model per process: the assistant loads the profile once (`ChatModels`) and the
trainer uses the same loaded models. What an update does with them:

- deriving and scoring only read the large model (and, for `tiny`, where one model plays both
  parts, the trainer's thread sees it as the plain base model: `ProxyModels.as_base`, while the
  assistant keeps answering with its expert in another thread);
- training wraps a copy of the small model's module tree in LoRA layers, and that copy shares
  the weight tensors with the original (amend.training.lora, `isolate=True`): no second copy of
  the weights, and nothing the assistant decodes with changes while answers stream.

Taking up a new adapter changes the assistant's module tree, so it is not done while an update
works on the models (`ChatModels.structure`): the app tries again once the update has ended.
The one exception is the update's own facts-first adapter (amend.training.pipeline, stage
"published"): the trainer takes it up itself between the two phases, when it uses no model,
after any answer in progress (`Services.model_lock`), so the chat answers with a new fact
while its consequences are still being derived.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext

from amend.config import Settings
from amend.store.db import Store, open_store
from amend.tui.services import LoadProgress, Services, UpdateProgress, UpdateReport


class ChatModels:
    """The chat's assistant, loaded once (by whichever thread asks first) and shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.assistant = None  # amend.assistant.Assistant, once loaded
        self._load_lock = threading.Lock()
        self.structure = threading.Lock()  # held while an update runs or the adapter is swapped

    def get(self, progress: LoadProgress | None = None):
        """The loaded Assistant (loading it here if no other thread has yet)."""
        with self._load_lock:
            if self.assistant is None:
                from amend.assistant import Assistant

                kwargs = {"on_progress": progress} if progress else {}
                self.assistant = Assistant.load(self.settings, **kwargs)
            return self.assistant


class ChatAnswerer:
    """The proxy-tuned assistant as the app's `Answerer`."""

    def __init__(self, assistant, structure: threading.Lock | None = None) -> None:
        self.assistant = assistant
        self.device = str(getattr(assistant, "device", "") or assistant.lp.device)
        self._structure = structure or threading.Lock()

    def stream(self, history: list[dict[str, str]], question: str, alpha: float | None = None) -> Iterator[str]:
        return self.assistant.ask(question, history=history, alpha=alpha)

    def stop(self) -> None:
        self.assistant.stop()

    def reload(self) -> bool:
        """Take up the store's active adapter, unless an update is using the models (False)."""
        if not self._structure.acquire(blocking=False):
            return False
        try:
            self.assistant.reload()
        finally:
            self._structure.release()
        return True


class Trainer:
    """Runs the pending update jobs with the training worker, on the assistant's models."""

    def __init__(self, settings: Settings, store: Store, models: ChatModels | None = None,
                 model_lock: threading.Lock | None = None) -> None:
        self.settings, self.store = settings, store
        self.models = models or ChatModels(settings)
        self.model_lock = model_lock or threading.Lock()  # the app's: held while an answer streams
        self._lock = threading.Lock()

    def __call__(self, report: UpdateReport) -> str | None:
        from amend.training.worker import run_pending

        def on_progress(p) -> None:  # amend.training.pipeline.Progress
            if p.stage == "published":
                self.take_up()
            report(UpdateProgress(**vars(p)))

        with self._lock, self.models.structure, ExitStack() as stack:
            def lp():  # called by run_pending only when there is a job
                assistant = self.models.get()
                stack.enter_context(base_view(assistant))
                return assistant.lp

            results = run_pending(self.settings, self.settings.profile, on_progress, lp=lp, store=self.store,
                                  isolate=True)
        return "; ".join(r.message for r in results if r.message) or None

    def take_up(self) -> None:
        """Between an update's two phases (this thread holds `structure` and uses no model): the
        assistant takes up the facts-first adapter, after the answer in progress."""
        if self.models.assistant is None:
            return
        with self.model_lock:
            try:
                self.models.assistant.reload()
            except Exception:  # noqa: BLE001 - the assistant keeps its adapter; the app retries after the update
                pass


def base_view(assistant):
    """For this thread, the shared model of a one-model profile as the base model (the assistant's
    expert is injected into it); for two models, nothing to do: the large one carries no LoRA."""
    models = assistant.decoder.models
    if models.shared and (models.peft is None or models.rows_by_hooks):
        return models.as_base()
    return nullcontext()


def real_services(settings: Settings) -> Services:
    """The real assistant and training worker for `settings.profile`, sharing one set of models."""
    store = open_store(settings)
    models = ChatModels(settings)
    model_lock = threading.Lock()
    return Services(
        settings=settings,
        store=store,
        load_answerer=lambda progress: ChatAnswerer(models.get(progress), models.structure),
        updater=Trainer(settings, store, models, model_lock),
        profile=settings.profile,
        model_lock=model_lock,
    )
