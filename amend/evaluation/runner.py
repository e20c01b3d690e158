"""Run evaluation cases through the systems: temporary stores, expert updates, probes, scores.

A case (or, with `batch`, every case at once: many edits in one store, as MQuAKE's k) gets up to
three temporary stores, each its own AMEND_HOME in the run's folder (see systems.py): its facts
are added to each, `seed` and `dct` run their update jobs (the real worker, `run_pending`;
derivation off for `seed`), then every system answers every probe of the case(s): the greedy
answers of `answer_batch` probes at a time in one batch (amend.assistant.batch), then each
probe's ranking. The models are loaded once by the caller and shared by all cases, systems and
updates; an assistant's adapter is taken out of the shared model (`close`) before the next update
trains on it. The run's folder (workdir.py) keeps every finished update and answer as it comes,
so a run given a folder of its own (`--work`) continues where it was stopped.

The result is JSON-ready: {"profile", "seconds", "systems": {SYSTEM: {KIND: {"ranking",
"generation", "n"}}}, "cases": [per-probe details], "updates": [one per expert update],
"stages": {stage: seconds, over every run of the folder}}. An update that fails is recorded in
"updates" with its error, and the systems it serves skip that case (the run goes on).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amend.config import Settings
from amend.evaluation.cases import Case
from amend.evaluation.metrics import ProbeResult, aggregate, score_probe
from amend.evaluation.systems import EvalAnswerer, System
from amend.evaluation.workdir import WorkDir, identity

OnAnswer = Callable[[int, int], None]  # (probe answers done, total)
OnStage = Callable[[str, str], None]  # (stage, e.g. "d01: dct update: train"; detail, e.g. "step 3/8")


@dataclass
class TempStore:
    """One temporary store: its settings (home inside the run's temporary folder) and the Store."""

    settings: Settings
    store: Any
    facts: int  # facts in the store


def open_temp_store(settings: Settings, folder: Path, facts: Sequence[str]) -> TempStore:
    """A SQLite store in `folder` holding `facts` (repeats skipped), each new one with its update
    job; the store there if there is one (a run continued: its facts are there already)."""
    from sqlalchemy import func, select

    from amend.store import DuplicateFact, open_store
    from amend.store.facts import add_fact
    from amend.store.schema import Fact

    # database_url cleared: never the user's own (possibly PostgreSQL) database. fact_first off:
    # in a fresh store the second phase retrains from the base model, so the first would add
    # time and change nothing that is scored
    s = dataclasses.replace(settings, home=folder, database_url="", fact_first=False)
    store = open_store(s)
    with store.session() as session:
        for text in facts:
            try:
                add_fact(session, text, source="eval")
            except DuplicateFact:
                pass  # the same fact from another case (--batch), or added before (--work)
        count = session.scalar(select(func.count(Fact.id)))
    return TempStore(s, store, count)


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
    work: Path | None = None,
) -> dict:
    """Every probe of every case, answered by every system (see the module docstring).
    `answer_batch`: how many probes' greedy answers go through the models as one batch
    (amend.assistant.batch; 1: one at a time). `work`: keep the run in this folder and continue
    the run there if there is one (workdir.py); None: a temporary folder."""
    on_answer = on_answer or (lambda done, total: None)
    on_stage = on_stage or (lambda stage, detail: None)
    started = time.perf_counter()
    ident = identity(cases, loaded.profile.name, batch, settings)
    with contextlib.ExitStack() as stack:
        folder = work if work is not None else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="amend-eval-")))
        run = WorkDir.open(folder, ident)
        results, updates = _run(run, cases, loaded, settings, systems, batch, answer_batch, on_answer, on_stage)
    return {
        "profile": loaded.profile.name,
        "seconds": round(time.perf_counter() - started, 2),
        "systems": {s.name: aggregate(r for r in results if r.system == s.name).get(s.name, {}) for s in systems},
        "cases": [r.to_json() for r in results],
        "updates": updates,
        "stages": run.stages,
    }


def _run(run: WorkDir, cases: Sequence[Case], loaded: Any, settings: Settings, systems: Sequence[System],
         batch: bool, answer_batch: int, on_answer: OnAnswer, on_stage: OnStage) -> tuple[list[ProbeResult], list[dict]]:
    """run_eval's loop over the groups of cases: (probe results, update summaries) in the order
    of cases, probes and systems, what `run` already holds taken from it."""
    from amend.assistant.session import Assistant
    from amend.training.worker import UpdateFailed

    groups = [list(cases)] if batch else [[c] for c in cases]
    total = sum(len(c.probes) for c in cases) * len(systems)
    answered, finished = run.answers(), run.updates()
    done = 0
    results, updates = [], []
    needed = list(dict.fromkeys(s.store for s in systems))
    on_answer(0, total)
    for n, group in enumerate(groups):
        name = "batch" if batch else group[0].id
        probes = [(case, i, probe) for case in group for i, probe in enumerate(case.probes)]
        todo = {s.name: [p for p in probes if (p[0].id, s.name, p[1]) not in answered] for s in systems}
        if not any(todo.values()):  # all answered before: the stores are not even opened
            done += len(probes) * len(systems)
            updates += [finished[(name, k)] for k in ("seed", "dct") if (name, k) in finished]
        else:
            stores = {k: open_temp_store(settings, run.store_dir("batch" if batch else f"{n:04d}", k), [
                f for c in group for f in c.facts]) for k in needed}
            try:
                failed = set()
                for key in ("seed", "dct"):
                    if key not in stores:
                        continue
                    if (name, key) not in finished:
                        t = time.perf_counter()
                        try:
                            summary = run_update(stores[key], loaded, key == "dct", on_stage, f"{name}: {key}")
                        except UpdateFailed as e:  # one failed case must not cost a long run's results
                            summary = {"error": str(e)}
                            on_stage(f"{name}: {key} update failed", str(e))
                        finished[(name, key)] = {"case": name, "store": key, **summary}
                        run.add_update(finished[(name, key)])
                        run.add_seconds(f"{name}: {key} update", time.perf_counter() - t)
                    updates.append(finished[(name, key)])
                    if "error" in finished[(name, key)]:
                        failed.add(key)
                for system in systems:
                    done += len(probes) - len(todo[system.name])
                    on_answer(done, total)
                    if system.store in failed:  # its probes are left out (see "updates" for why)
                        done += len(todo[system.name])
                        continue

                    def advance() -> None:
                        nonlocal done
                        done += 1
                        on_answer(done, total)

                    if todo[system.name]:
                        ts = stores[system.store]
                        _answer(run, Assistant(ts.settings, loaded, store=ts.store), system, todo[system.name],
                                f"{name}: {system.name}", answer_batch, on_stage, advance)
            finally:
                for ts in stores.values():
                    ts.store.dispose()
        answered = run.answers()
        results += [ProbeResult(**answered[(case.id, system.name, i)]) for system in systems
                    for case, i, _ in probes if (case.id, system.name, i) in answered]
        on_answer(done, total)
    return results, updates


def _answer(run: WorkDir, assistant: Any, system: System, probes: list[tuple[Case, int, Any]], stage: str,
            answer_batch: int, on_stage: OnStage, advance: Callable[[], None]) -> None:
    """Answer and score `probes` as `system`, `answer_batch` at a time, each chunk saved to the
    run's folder as it is done; the assistant is closed after (its adapter leaves the shared model)."""
    try:
        answerer = EvalAnswerer(assistant, system)
        for i in range(0, len(probes), answer_batch):
            t = time.perf_counter()
            chunk = probes[i: i + answer_batch]
            if answer_batch > 1:
                on_stage(stage, f"{len(chunk)} greedy answers in one batch")
                answerer.answer_ahead([p.question for _, _, p in chunk])
            scored = []
            for case, index, probe in chunk:
                on_stage(stage, probe.question)
                r = score_probe(answerer, probe, case.id, system.name)
                prepared = answerer.prepare(probe.question)
                r.facts_in_prompt, r.scope = prepared.facts, prepared.scope
                scored.append(((case.id, system.name, index), r.to_json()))
                advance()
            run.add_answers(scored)
            run.add_seconds(stage, time.perf_counter() - t)
    finally:
        assistant.close()  # the adapter comes out of the shared model
