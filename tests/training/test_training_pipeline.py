"""The update pipeline on tiny: incremental and full updates, retraction that unlearns, SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from amend.config import load_settings
from amend.store import open_store
from amend.store.adapters import active_adapter, list_adapters
from amend.store.facts import add_fact, retract_fact
from amend.store.jobs import get_job
from amend.training import adapters as folders
from amend.training.worker import run_pending
from training_ranking import log_probs

pytestmark = pytest.mark.slow

OTHER = "Mira Tallis was born in Oslo."
FACT = "The capital of Vendaria is Lusk."
QUESTION, ANSWER, DISTRACTORS = "What is the capital of Vendaria?", "Lusk", ["Paris", "Berlin", "Madrid"]
FAST = {"AMEND_EPOCHS": "3", "AMEND_BATCH_SIZE": "4", "AMEND_LEARNING_RATE": "0.002"}  # a few steps per update


@pytest.fixture
def fast(home, monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    store = open_store(settings)
    yield settings, store
    store.dispose()


def add(store, text: str) -> int:
    with store.session() as session:
        fact, _job = add_fact(session, text)
        return fact.id


def update(settings, store, tiny):
    [result] = run_pending(settings, lp=tiny, store=store, derive=False)
    return result


def scores(tiny, store) -> dict[str, float]:
    """Answer and distractor log-probs under the active expert (the base model if there is none)."""
    from peft import PeftModel

    with store.session(write=False) as session:
        adapter = active_adapter(session, "tiny")
    if adapter is None:
        return log_probs(tiny.small, tiny.tokenizer, QUESTION, [ANSWER, *DISTRACTORS])
    expert = PeftModel.from_pretrained(tiny.small, adapter.path)
    try:
        return log_probs(expert, tiny.tokenizer, QUESTION, [ANSWER, *DISTRACTORS])
    finally:
        expert.unload()


def ranks_first(s: dict[str, float]) -> bool:
    return s[ANSWER] > max(s[d] for d in DISTRACTORS)


def test_retracting_a_fact_unlearns_it(tiny, fast):
    settings, store = fast
    add(store, OTHER)
    first = update(settings, store, tiny)
    assert (first.mode, first.version, first.facts) == ("full", 1, [1])
    before = scores(tiny, store)
    assert not ranks_first(before)

    fact_id = add(store, FACT)
    second = update(settings, store, tiny)
    assert (second.mode, second.version, second.facts) == ("incremental", 2, [1, fact_id])
    assert ranks_first(scores(tiny, store))

    with store.session() as session:
        retract_fact(session, fact_id)
    third = update(settings, store, tiny)
    assert (third.mode, third.version, third.facts) == ("full", 3, [1])  # retrained from the base
    after = scores(tiny, store)
    assert not ranks_first(after)
    # the same facts, seed and examples as v1: the answer ranks exactly as before the fact came
    assert sorted(after, key=after.get) == sorted(before, key=before.get)
    assert after == pytest.approx(before, abs=1e-3)
    assert run_pending(settings, lp=tiny, store=store, derive=False) == []  # nothing left to do


def test_retracting_one_of_several_facts_unlearns_it_at_the_cost_of_one_fact(tiny, fast):
    """With more facts kept than gone, a retraction continues the adapter (no retrain from the
    base): the fact's prompts go back to the base model within one fact's step budget."""
    from amend.store.facts import edit_fact
    from amend.training.plan import make_plan

    settings, store = fast
    for text in (OTHER, "The Tarrow Hawks play ice hockey.", "Ivo Renn wrote the textbook Quiet Algebra."):
        add(store, text)
    update(settings, store, tiny)
    before = scores(tiny, store)
    fact_id = add(store, FACT)
    update(settings, store, tiny)
    learned = scores(tiny, store)
    assert ranks_first(learned)

    with store.session() as session:
        retract_fact(session, fact_id)
    with store.session(write=False) as session:  # what the update will do
        covered = folders.covered_facts(active_adapter(session, "tiny"))
        plan = make_plan(session, "tiny", covered)
    assert plan.mode == "unlearn" and [k.text for k in plan.forget] == [FACT] and plan.known == []
    assert {k.fact_id for k in plan.replay_pool} == {1, 2, 3} and sorted(plan.now) == [1, 2, 3]
    result = update(settings, store, tiny)
    assert (result.mode, result.facts) == ("unlearn", [1, 2, 3])
    assert result.train.steps == settings.steps_per_fact  # one fact's budget, run to the end
    after = scores(tiny, store)
    assert not ranks_first(after)
    assert after[ANSWER] < (before[ANSWER] + learned[ANSWER]) / 2  # nearer the answer before the fact than the fact's

    with store.session() as session:  # an edit: the old text is unlearned, the new one learned
        edit_fact(session, 1, "Mira Tallis was born in Bergen.")
    with store.session(write=False) as session:
        plan = make_plan(session, "tiny", folders.covered_facts(active_adapter(session, "tiny")))
    assert plan.mode == "unlearn" and [k.text for k in plan.forget] == [OTHER]
    assert [k.text for k in plan.known if k.is_fact] == ["Mira Tallis was born in Bergen."]


def test_retracting_every_fact_switches_the_expert_off(tiny, fast):
    settings, store = fast
    fact_id = add(store, OTHER)
    update(settings, store, tiny)
    with store.session() as session:
        retract_fact(session, fact_id)
    result = update(settings, store, tiny)
    assert result.mode == "off" and result.version is None
    with store.session(write=False) as session:
        assert active_adapter(session, "tiny") is None
        assert get_job(session, result.job_ids[0]).status == "done"


def _run_child_and_kill(home: Path, when: str, seed: int) -> tuple[int, list[str]]:
    """Start kill_child.py; SIGKILL it at a random training step (when="train") or at the commit."""
    env = {**os.environ, **FAST, "AMEND_CHECKPOINT_EVERY_S": "0.001"}  # a training checkpoint after every step
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("kill_child.py"))], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rng = random.Random(seed)
    lines, target = [], None
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if when == "train" and line.startswith("STEP"):
                step, total = map(int, line.split()[1].split("/"))
                target = target or rng.randint(1, total - 1)  # never after the last step: that is "save"
                if step >= target:
                    break
            if line.startswith("COMMIT"):  # when="train" too, if training ended before the chosen step
                break
        else:
            pytest.fail(f"the child ended before it could be killed: {lines}")
        if when == "train":
            import time

            time.sleep(rng.uniform(0, 0.5))  # somewhere inside the next step
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    return child.pid, lines


@pytest.mark.parametrize("when", ["train", "save"])
def test_sigkill_loses_nothing_and_the_next_update_completes(tiny, fast, home, when):
    """Killed while it trains or just before it commits: the store is whole, the previous adapter
    active, and the next update finishes the job, continuing the training from its checkpoint."""
    settings, store = fast
    add(store, OTHER)
    assert update(settings, store, tiny).version == 1
    fact_id = add(store, FACT)

    pid, lines = _run_child_and_kill(home, when, seed=7)
    assert lines[0].startswith("CLAIMED")
    job_id = int(lines[0].split()[1])

    db = sqlite3.connect(settings.home / "amend.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    with store.session(write=False) as session:
        adapters = list_adapters(session, "tiny")
        assert [(a.version, a.active) for a in adapters] == [(1, True)]  # the previous one, still active
        assert folders.verify(adapters[0].path, adapters[0].sha256)
        job = get_job(session, job_id)
        assert job.status == "running" and f":{pid}:" in job.worker  # claimed by the dead child
    leftovers = [p.name for p in (settings.adapters_dir / "tiny").iterdir() if p.is_dir() and p.name != "v1"]
    assert leftovers  # the dead child's staging (train) or renamed v2 (save) folder

    steps: list[int] = []  # the dead worker's job is taken again at once
    [result] = run_pending(settings, lp=tiny, store=store, derive=False,
                           on_progress=lambda p: steps.append(p.step) if p.step else None)
    assert result.job_ids == [job_id] and result.version == 2 and result.facts == [1, fact_id]
    # training goes on from the child's last checkpoint: the step it was in, or the one after
    # (a kill while the checkpoint of its last reported step was written leaves the one before)
    last = max(int(line.split()[1].split("/")[0]) for line in lines if line.startswith("STEP"))
    assert steps[0] >= last if when == "train" else steps == [] or steps[0] == last
    assert not list((settings.adapters_dir / "tiny").glob(".checkpoint-*"))  # gone once the adapter is safe
    with store.session(write=False) as session:
        assert get_job(session, job_id).status == "done"
        active = active_adapter(session, "tiny")
        assert active.version == 2 and folders.verify(active.path, active.sha256)
    assert sorted(p.name for p in (settings.adapters_dir / "tiny").iterdir() if p.is_dir()) == ["v1", "v2"]


def test_update_derives_supersedes_and_retrains_from_the_base(tiny, fast, monkeypatch):
    """The whole pipeline with DCT. tiny's contradiction judge cannot tell contradictions apart
    (so amend does not trust it: test_training_judge.py); here it is trusted with a line so low
    that every neighbour "contradicts", to exercise supersession."""
    from amend.store.derived import accepted_statements
    from amend.store.facts import get_fact
    from amend.training import judge
    from amend.training.dct.prompts import PROMPT_VERSION

    settings, store = fast
    asked = []
    monkeypatch.setattr(judge, "judge_line", lambda key, fn, cache: asked.append((key, cache)) or -1.0)
    old = add(store, FACT)
    [first] = run_pending(settings, lp=tiny, store=store)
    # v1: the fact as given (fact_first); v2: with what was derived from it
    assert (first.mode, first.first_version, first.version, first.derived > 0) == ("full", 1, 2, True)
    assert set(first.timings) >= {"derive", "score", "train", "save"}
    with store.session(write=False) as session:
        derived = accepted_statements(session, fact_ids=[old], profile="tiny")
        assert derived and all(s.question for s in derived)

    new = add(store, "The capital of Vendaria is Tessel.")
    [second] = run_pending(settings, lp=tiny, store=store)
    assert second.superseded == [(old, new)]
    # the line is kept beside the models, per model, dtype, device and prompt version
    assert asked[0] == (f"SmolLM2-135M-Instruct|float32|cpu|{PROMPT_VERSION}", settings.models / "judge-lines.json")
    assert (second.mode, second.facts) == ("full", [new])  # the learned fact went: retrain from the base
    with store.session(write=False) as session:
        assert get_fact(session, old).status == "superseded" and get_fact(session, old).superseded_by == new
        assert f"superseded fact {old} by fact {new}" in get_job(session, second.job_ids[0]).message


def test_an_import_derives_its_facts_in_shared_batches_with_one_eta(tiny, fast, monkeypatch):
    from amend.store.derived import statements_for

    settings, store = fast
    settings.derive_batch = 2
    facts = [add(store, t) for t in (FACT, "The Harrow Bridge is in Cairo.", "Ivo Renn wrote the textbook Quiet Algebra.")]
    reports = []
    [result] = run_pending(settings, lp=tiny, store=store, on_progress=reports.append)
    derive_reports = [p for p in reports if p.stage in ("derive", "score")]
    assert {p.message for p in derive_reports} == {"facts 1-2 of 3", "fact 3 (3/3)"}
    # an ETA from the first piece of work done on (before it, nothing to go by)
    assert all(p.eta_s is not None and p.eta_s >= 0 for p in derive_reports if p.progress > derive_reports[0].progress)
    assert any(p.eta_s for p in derive_reports)
    progress = [p.progress for p in derive_reports]
    assert progress == sorted(progress)  # one bar over the whole import
    with store.session(write=False) as session:
        assert all(statements_for(session, f) for f in facts)
    assert result.derived > 0 and result.mode == "full"


def test_facts_first_a_new_fact_is_active_before_its_consequences(tiny, fast):
    """fact_first: the new fact alone is trained and published (stage "published") before
    anything is derived, with its job still open; the update then derives and publishes the
    adapter that also teaches the consequences, on top of the first, and finishes the job."""
    from amend.store.derived import statements_for

    settings, store = fast
    add(store, OTHER)
    update(settings, store, tiny)  # v1 covers OTHER
    fid = add(store, FACT)
    seen = {}

    def on_progress(p) -> None:
        seen.setdefault(p.stage, len(seen))
        if p.stage == "published":
            with store.session(write=False) as session:
                adapter = active_adapter(session, "tiny")
                seen["first"] = (adapter.version, folders.covered_facts(adapter),
                                 folders.taught_statements(adapter).get(fid, []), statements_for(session, fid),
                                 get_job(session, max(j.id for j in _jobs(session))).status)
            seen["first_scores"] = scores(tiny, store)

    [result] = run_pending(settings, lp=tiny, store=store, on_progress=on_progress)
    assert seen["teach"] < seen["published"] < seen["derive"] < seen["train"]
    version, covered, taught, derived, status = seen["first"]
    assert version == 2 and covered == {1: OTHER, fid: FACT} and status == "running"
    assert not derived and all(text == FACT for text, _q, _a in taught)  # nothing derived yet
    assert ranks_first(seen["first_scores"])  # the fact answers already
    assert (result.mode, result.first_version, result.version) == ("incremental", 2, 3)
    assert result.first_active_s is not None and result.derived > 0
    assert result.first_train.steps > 0 and result.first_train is not result.train  # each phase its own
    assert {"first_train", "first_save", "derive", "train", "save"} <= set(result.timings)
    with store.session(write=False) as session:
        final = active_adapter(session, "tiny")
        assert final.version == 3 and get_job(session, result.job_ids[0]).status == "done"
        assert any(text != FACT for text, _q, _a in folders.taught_statements(final).get(fid, []))
        assert final.metrics["continued_from"].endswith("v2")  # on top of the first


def _jobs(session):
    from sqlalchemy import select

    from amend.store.schema import Job

    return session.scalars(select(Job)).all()


def test_the_step_budget_is_per_fact_changed_and_capped():
    """An update of n facts may take steps_per_fact * n steps, at most max_update_steps; 0 turns either off."""
    import dataclasses

    from amend.training.pipeline import step_budget

    s = dataclasses.replace(load_settings(env={}), steps_per_fact=12, max_update_steps=0)
    assert step_budget(s, 1) == 12 and step_budget(s, 59) == 708 and step_budget(s, 0) == 12
    assert step_budget(dataclasses.replace(s, max_update_steps=100), 59) == 100
    assert step_budget(dataclasses.replace(s, steps_per_fact=0), 59) == 0  # the epochs decide
    assert step_budget(dataclasses.replace(s, steps_per_fact=0, max_update_steps=50), 59) == 50
