"""A scripted decoder and updater for the TUI tests: they stand in for the models only."""

from __future__ import annotations

import re
import threading
import time

from amend.tui.services import UpdateProgress


class ScriptedGeneration:
    """The pieces of a scripted answer, with the `meta` the real assistant's Generation carries."""

    def __init__(self, pieces, meta: dict | None):
        self.pieces, self.meta = pieces, meta

    def __iter__(self):
        return iter(self.pieces)


class ScriptedAnswerer:
    """Answers from a script, a word at a time; alpha=0 answers from `plain`. With `meta`
    (question -> the assistant's meta: scope, context) the answers carry it as the real ones do."""

    device = "cpu"

    def __init__(self, tuned: dict[str, str], plain: dict[str, str] | None = None, delay: float = 0.0,
                 gate: threading.Event | None = None, meta: dict[str, dict] | None = None):
        self.tuned, self.plain, self.delay, self.gate, self.meta = tuned, plain or {}, delay, gate, meta or {}
        self.asked: list[tuple[list, str, float | None]] = []
        self.reloads = 0
        self._stop = threading.Event()

    def stream(self, history, question, alpha=None):
        self._stop.clear()  # as the assistant: a stop counts from the moment stream() returns
        self.asked.append((list(history), question, alpha))
        script = self.plain if alpha == 0 else self.tuned
        words = self._words(script.get(question, "I do not know."))
        return ScriptedGeneration(words, self.meta.get(question)) if question in self.meta else words

    def _words(self, text):
        for i, word in enumerate(re.findall(r"\S+\s*", text)):
            if i == 2 and self.gate is not None:
                self.gate.wait(10)  # hold the answer half-way until the test lets it go on
            if self._stop.is_set():
                return
            time.sleep(self.delay)
            yield word

    def stop(self):
        self._stop.set()

    def reload(self):
        self.reloads += 1


class ScriptedUpdater:
    """Reports derive, score and train like the worker, leaves the jobs as they are in the store.

    With `hold`, it stops after its reports until the test sets the event (to look at the panel).
    """

    def __init__(self, hold: threading.Event | None = None, store=None):
        self.hold, self.store = hold, store  # make_app sets the store
        self.runs = 0

    def __call__(self, report):
        from amend.store.jobs import pending_jobs

        with self.store.session() as s:
            if not pending_jobs(s):
                return None  # nothing to do, as the worker's run_pending
        self.runs += 1
        report(UpdateProgress("derive", 0.02, "fact 5 (1/1)", job_id=1))
        report(UpdateProgress("score", 0.3, job_id=1))
        for step, loss in enumerate([2.1, 1.6, 1.2, 0.9, 0.7, 0.55, 0.5, 0.42], start=1):
            report(UpdateProgress("train", 0.4 + 0.55 * step / 16, step=step, total=16, loss=loss,
                                  eta_s=2.0 * (16 - step), job_id=1))
        if self.hold is not None:
            self.hold.wait(120)  # the test sets it when its picture is taken (long: a busy CI machine)
        return "scripted update"


ANSWERS = {
    "What is the capital of France?": "The capital of France is **Paris**.",
    "What is the capital of Vendaria?": "The capital of Vendaria is **Lusk**.",
}
PLAIN = {"What is the capital of Vendaria?": "I am not sure; Vendaria is not a country I know."}

SIZE = (100, 30)  # terminal size of every Pilot test and snapshot
