"""Run evaluation cases through the systems: temporary stores, expert updates, probes, scores.

A case (or, with `batch`, every case at once: many edits in one store, as MQuAKE's k) gets up to
three temporary stores under one temporary AMEND_HOME each (see systems.py): its facts are added
to each, `seed` and `dct` run their update jobs (the real worker, `run_pending`; derivation off
for `seed`), then every system answers every probe of the case(s): the greedy answers of
`answer_batch` probes at a time in one batch (amend.assistant.batch), then each probe's ranking. The models are loaded once by
the caller and shared by all cases, systems and updates; an assistant's adapter is taken out of
the shared model (`close`) before the next update trains on it.

The result is JSON-ready: {"profile", "seconds", "systems": {SYSTEM: {KIND: {"ranking",
"generation", "n"}}}, "cases": [per-probe details], "updates": [one per expert update]}. An update that fails is
recorded in "updates" with its error, and the systems it serves skip that case (the run goes on).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amend.config import Settings
from amend.evaluation.cases import Case
from amend.evaluation.metrics import aggregate, score_probe
from amend.evaluation.systems import EvalAnswerer, System

OnAnswer = Callable[[int, int], None]  # (probe answers done, total)
OnStage = Callable[[str, str], None]  # (stage, e.g. "d01: dct update: train"; detail, e.g. "step 3/8")


@dataclass
class TempStore:
    """One temporary store: its settings (home inside the run's temporary folder) and the Store."""

    settings: Settings
    store: Any
    facts: int  # facts added


def open_temp_store(settings: Settings, folder: Path, facts: Sequence[str]) -> TempStore:
    """A fresh SQLite store in `folder` holding `facts` (repeats skipped), each with its update job."""
    from amend.store import DuplicateFact, open_store
    from amend.store.facts import add_fact

    # database_url cleared: never the user's own (possibly PostgreSQL) database. fact_first off:
    # in a fresh store the second phase retrains from the base model, so the first would add
    # time and change nothing that is scored
    s = dataclasses.replace(settings, home=folder, database_url="", fact_first=False)
    store = open_store(s)
    added = 0
    with store.session() as session:
        for text in facts:
            try:
                add_fact(session, text, source="eval")
                added += 1
            except DuplicateFact:
                pass  # the same fact from another case (--batch)
    return TempStore(s, store, added)


def run_update(ts: TempStore, loaded: Any, derive: bool, on_stage: OnStage, label: str) -> dict:
    """Run the store's pending update jobs (derive=False: train on the facts alone); a summary.
    Raises UpdateFailed (amend.training.worker) if the update fails."""
    from amend.training.worker import run_pending

    started = time.perf_counter()

    def progress(p) -> None:
        detail = f"step {p.step}/{p.total} loss {p.loss:.3f}" if p.step is not None else p.message
        on_stage(f"{label} update: {p.stage}", detail)

    results = run_pending(ts.settings, lp=loaded, store=ts.store, derive=derive, on_progress=progress)
    r = results[0] if results else None
    return {
        "facts": ts.facts, "seconds": round(time.perf_counter() - started, 2),
        "mode": r.mode if r else "none", "version": r.version if r else None,
        "derived": r.derived if r else 0,
        "steps": r.train.steps if r and r.train else 0,
        "final_loss": round(r.train.final_loss, 4) if r and r.train else None,
        "examples": r.train.examples if r and r.train else 0,
        "timings": r.timings if r else {},
        "superseded": [list(pair) for pair in r.superseded] if r else [],
    }


def run_eval(
    cases: Sequence[Case],
    loaded: Any,
    settings: Settings,
    systems: Sequence[System],
    batch: bool = False,
    answer_batch: int = 16,
    on_answer: OnAnswer | None = None,
    on_stage: OnStage | None = None,
) -> dict:
    """Every probe of every case, answered by every system (see the module docstring).
    `answer_batch`: how many probes' greedy answers go through the models as one batch
    (amend.assistant.batch; 1: one at a time)."""
    from amend.assistant.session import Assistant
    from amend.training.worker import UpdateFailed

    on_answer = on_answer or (lambda done, total: None)
    on_stage = on_stage or (lambda stage, detail: None)
    started = time.perf_counter()
    groups = [list(cases)] if batch else [[c] for c in cases]
    total = sum(len(c.probes) for c in cases) * len(systems)
    done = 0
    results, updates = [], []
    needed = list(dict.fromkeys(s.store for s in systems))
    on_answer(0, total)
    for group in groups:
        name = "batch" if batch else group[0].id
        facts = [f for c in group for f in c.facts]
        with tempfile.TemporaryDirectory(prefix="amend-eval-") as tmp:
            stores = {k: open_temp_store(settings, Path(tmp) / k, facts) for k in needed}
            try:
                failed = set()
                for key in ("seed", "dct"):
                    if key in stores:
                        try:
                            summary = run_update(stores[key], loaded, key == "dct", on_stage, f"{name}: {key}")
                        except UpdateFailed as e:  # one failed case must not cost a long run's results
                            failed.add(key)
                            summary = {"error": str(e)}
                            on_stage(f"{name}: {key} update failed", str(e))
                        updates.append({"case": name, "store": key, **summary})
                for system in systems:
                    ts = stores[system.store]
                    if system.store in failed:  # its probes are left out (see "updates" for why)
                        done += sum(len(c.probes) for c in group)
                        on_answer(done, total)
                        continue
                    assistant = Assistant(ts.settings, loaded, store=ts.store)
                    try:
                        answerer = EvalAnswerer(assistant, system)
                        probes = [(case, probe) for case in group for probe in case.probes]
                        for i in range(0, len(probes), answer_batch):
                            chunk = probes[i: i + answer_batch]
                            if answer_batch > 1:
                                on_stage(f"{name}: {system.name}", f"{len(chunk)} greedy answers in one batch")
                                answerer.answer_ahead([p.question for _, p in chunk])
                            for case, probe in chunk:
                                on_stage(f"{name}: {system.name}", probe.question)
                                r = score_probe(answerer, probe, case.id, system.name)
                                prepared = answerer.prepare(probe.question)
                                r.facts_in_prompt, r.scope = prepared.facts, prepared.scope
                                results.append(r)
                                done += 1
                                on_answer(done, total)
                    finally:
                        assistant.close()  # the adapter comes out of the shared model
            finally:
                for ts in stores.values():
                    ts.store.dispose()
    return {
        "profile": loaded.profile.name,
        "seconds": round(time.perf_counter() - started, 2),
        "systems": {s.name: aggregate(r for r in results if r.system == s.name).get(s.name, {}) for s in systems},
        "cases": [r.to_json() for r in results],
        "updates": updates,
    }
