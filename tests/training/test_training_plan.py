"""What an update trains (plan.py): full, incremental, unlearn, none and off, decided from the
active facts, what the active adapter covers and the statements it was taught. No models."""

from __future__ import annotations

import pytest

from amend.store import open_store
from amend.store.derived import save_derivation
from amend.store.facts import add_fact, edit_fact, retract_fact
from amend.training.dataset import forget_examples
from amend.training.plan import make_plan

A, B, C = "The capital of Vendaria is Lusk.", "Mira Tallis was born in Oslo.", "The Harrow Bridge is in Cairo."


def st(text, accepted=True):
    return {"text": text, "kind": "implication", "question": f"Q: {text}", "p_true": 0.9 if accepted else 0.1,
            "truth": accepted, "accepted": accepted}


@pytest.fixture
def store(settings):
    s = open_store(settings)
    with s.session() as session:
        for text in (A, B, C):
            add_fact(session, text)
        save_derivation(session, [1], [st("Lusk is a city."), st("Lusk is in Vendaria.")], "tiny", "tiny", "v1")
    yield s
    s.dispose()


def plan(store, covered, taught=None):
    with store.session(write=False) as session:
        return make_plan(session, "tiny", covered, taught)


def test_no_adapter_means_a_full_retrain_that_records_its_statements(store):
    p = plan(store, None)
    assert p.mode == "full" and sorted(p.now) == [1, 2, 3] and p.forget == []
    assert {k.text for k in p.known} == {A, B, C, "Lusk is a city.", "Lusk is in Vendaria."}
    assert p.statements == {1: [["Lusk is a city.", "Q: Lusk is a city.", None],
                                ["Lusk is in Vendaria.", "Q: Lusk is in Vendaria.", None]]}


def test_new_facts_only_is_incremental_and_nothing_new_is_none(store):
    p = plan(store, {1: A, 2: B})
    assert p.mode == "incremental" and [k.text for k in p.known] == [C] and p.forget == []
    assert {k.text for k in p.replay_pool} == {A, B, "Lusk is a city.", "Lusk is in Vendaria."}
    assert plan(store, {1: A, 2: B, 3: C}).mode == "none"


def test_a_retraction_among_many_is_unlearned_and_among_few_retrained(store):
    with store.session() as session:
        retract_fact(session, 1)
    p = plan(store, {1: A, 2: B, 3: C})
    assert p.mode == "unlearn" and p.known == [] and sorted(p.now) == [2, 3]
    assert {k.text for k in p.forget} == {A, "Lusk is a city.", "Lusk is in Vendaria."}  # the fact and what it implied
    assert {k.text for k in p.replay_pool} == {B, C}
    assert plan(store, {1: A, 2: B}).mode == "full"  # one gone, one kept: a retrain costs no more


def test_an_edit_unlearns_the_old_text_and_learns_the_new(store):
    with store.session() as session:
        edit_fact(session, 2, "Mira Tallis was born in Bergen.")
    p = plan(store, {1: A, 2: B, 3: C})
    assert p.mode == "unlearn" and [(k.text, k.is_fact) for k in p.forget] == [(B, True)]
    assert [k.text for k in p.known if k.is_fact] == ["Mira Tallis was born in Bergen."]


def test_statements_the_graph_now_rejects_are_unlearned_and_new_ones_learned(store):
    taught = {1: [("Lusk is a city.", "Q: Lusk is a city.", None), ("Lusk is a port.", "Q: Lusk is a port.", None)]}
    with store.session() as session:  # a later settle rejected "Lusk is a port." (no longer accepted)
        save_derivation(session, [1], [st("Lusk is a city."), st("Lusk is in Vendaria."), st("Lusk is a port.", False)],
                        "tiny", "tiny", "v1")
    p = plan(store, {1: A, 2: B, 3: C}, taught)
    assert p.mode == "unlearn"
    assert [(k.text, k.question, k.is_fact) for k in p.forget] == [("Lusk is a port.", "Q: Lusk is a port.", False)]
    assert [k.text for k in p.known] == ["Lusk is in Vendaria."]  # accepted now, never taught
    assert p.statements == {1: [["Lusk is in Vendaria.", "Q: Lusk is in Vendaria.", None],
                                ["Lusk is a city.", "Q: Lusk is a city.", None]]}
    # the manifest of an adapter from before statements were recorded: only facts are compared
    assert plan(store, {1: A, 2: B, 3: C}, None).mode == "none"


def test_no_active_facts_switches_off(store):
    with store.session() as session:
        for fid in (1, 2, 3):
            retract_fact(session, fid)
    assert plan(store, {1: A}).mode == "off"


def test_a_retracted_fact_is_unlearned_under_the_question_it_was_taught(store):
    with store.session() as session:  # the fact's own row from derivation carries its question form
        save_derivation(session, [1], [{**st(A), "question": "What is the capital of Vendaria?", "answer": "Lusk"},
                                       st("Lusk is a city.")], "tiny", "tiny", "v1")
    taught = plan(store, None).statements
    assert taught[1][0] == [A, "What is the capital of Vendaria?", "Lusk"]
    with store.session() as session:
        retract_fact(session, 1)
    p = plan(store, {1: A, 2: B, 3: C}, {k: [tuple(x) for x in v] for k, v in taught.items()})
    assert [(k.text, k.question, k.answer, k.is_fact) for k in p.forget] == [
        (A, "What is the capital of Vendaria?", "Lusk", True), ("Lusk is a city.", "Q: Lusk is a city.", None, False)]
    # what is unlearned is every prompt as it was taught: the short answer leading the sentence
    forget = {(e.prompt, e.answer) for e in forget_examples(p.forget)}
    assert ("What is the capital of Vendaria?", f"Lusk. {A}") in forget


def test_a_facts_second_question_form_is_taught_recorded_and_unlearned(store):
    """A fact whose question asks for its subject has a second row with its text: a question that
    names the subject (derive._ask_about_subjects). It becomes the fact's `about`, the manifest
    records it, and a retraction unlearns it under that prompt too."""
    reversed_ = {**st(A), "question": "Which country has Lusk as its capital?"}
    about = {**st(A), "question": "The capital of Vendaria is which city?", "answer": "Lusk"}
    with store.session() as session:
        save_derivation(session, [1], [reversed_, about, st("Lusk is a city.")], "tiny", "tiny", "v1")
    full = plan(store, None)
    fact = next(k for k in full.known if k.is_fact and k.fact_id == 1)
    assert (fact.question, fact.answer, fact.about) == (reversed_["question"], None, (about["question"], "Lusk"))
    assert full.statements[1][:2] == [[A, reversed_["question"], None], [A, about["question"], "Lusk"]]
    with store.session() as session:
        retract_fact(session, 1)
    p = plan(store, {1: A, 2: B, 3: C}, {k: [tuple(x) for x in v] for k, v in full.statements.items()})
    [gone] = [k for k in p.forget if k.is_fact]
    assert gone.about == (about["question"], "Lusk")
    assert (about["question"], f"Lusk. {A}") in {(e.prompt, e.answer) for e in forget_examples(p.forget)}
