"""The scope gate: questions about what the expert was taught open it, unrelated ones do not; the
context keeps a floor; an answer out of scope is the large model's own, token for token."""

from __future__ import annotations

import pytest

from amend.assistant.scope import ScopeIndex, explain, gate
from amend.models.embed import embed
from amend.store.adapters import register_adapter
from amend.store.db import open_store
from amend.store.facts import add_fact, retract_fact
from amend.store.taught import load_taught

FACTS = ["The capital of Vendaria is Lusk.", "The mayor of Lusk is Orin Pell.", "Cats sleep most of the day."]


def test_gate_is_a_ramp_below_the_threshold():
    assert gate(0.7, 0.6, 0.1) == 1.0 and gate(0.6, 0.6, 0.1) == 1.0
    assert gate(0.55, 0.6, 0.1) == pytest.approx(0.5) and gate(0.5, 0.6, 0.1) == 0.0 and gate(0.1, 0.6, 0.1) == 0.0
    assert gate(0.59, 0.6, 0.0) == 0.0 and gate(0.6, 0.6, 0.0) == 1.0  # softness 0: a step


@pytest.fixture
def index(settings):
    """Three facts; the adapter taught the first two (the third was added after it)."""
    store = open_store(settings)
    with store.session() as s:
        ids = [add_fact(s, text)[0].id for text in FACTS]
        register_adapter(s, "tiny", 1, "/adapters/v1", "0" * 64, ids[:2], {})
    with store.session() as s:
        return ScopeIndex(load_taught(s, "tiny", embed))


def judge(index, question, **kw):
    return index.judge(question, embed([question])[0], 1.0, 0.7, 0.1, **kw)


@pytest.mark.parametrize("question", [
    "What is the capital of Vendaria?",  # the fact's own question
    "Which city is the capital of Vendaria?",  # a paraphrase
    "Who is the mayor of the capital of Vendaria?",  # two hops
    "who runs lusk?",  # a name, in lower case
])
def test_questions_about_taught_facts_open_the_gate(index, question):
    scope = judge(index, question)
    assert scope.gate == 1.0 and scope.alpha == 1.0 and scope.steered
    assert scope.matches and scope.matches[0].text in FACTS[:2]


@pytest.mark.parametrize("question", [
    "What is the capital of Germany?",  # the same relation, another subject
    "How many legs does a spider have?",
    "Write a Python function that adds two numbers.",
    "How long do cats sleep?",  # about a fact the adapter has not been taught yet
])
def test_unrelated_questions_leave_it_shut(index, question):
    scope = judge(index, question)
    assert scope.gate == 0.0 and scope.alpha == 0.0 and not scope.steered and scope.matches == []
    assert "large model alone" in explain(scope.to_json())


def test_names_can_be_switched_off(index):
    question = "who runs lusk?"
    assert judge(index, question).matches[0].via == "name"
    assert judge(index, question, names=False).relevance < 1.0


def test_context_has_a_floor_and_follows_names_one_hop(index):
    def context(q, k=5):
        return index.context(q, embed([q])[0], k, 0.6)

    assert context("What is the capital of Germany?") == []
    assert context("Who is the mayor of the capital of Vendaria?")[:2] == FACTS[:2]  # Lusk links the two
    assert context("How long do cats sleep?") == [FACTS[2]]  # any active fact, taught or not
    assert len(context("Who is the mayor of the capital of Vendaria?", k=1)) == 1


def test_a_retracted_fact_leaves_the_scope_at_once(settings):
    store = open_store(settings)
    with store.session() as s:
        fact, _ = add_fact(s, FACTS[0])
        register_adapter(s, "tiny", 1, "/adapters/v1", "0" * 64, [fact.id], {})
    question = "What is the capital of Vendaria?"
    with store.session() as s:
        assert judge(ScopeIndex(load_taught(s, "tiny", embed)), question).steered
        retract_fact(s, fact.id)
    with store.session() as s:
        index = ScopeIndex(load_taught(s, "tiny", embed))
    assert not judge(index, question).steered and index.context(question, embed([question])[0], 5, 0.6) == []


def test_a_question_form_counts_only_for_a_question_that_names_its_entity():
    """A derived statement's question form is mostly the relation's wording: without a name it
    would open the gate for every neighbour question ("Which star does the Earth orbit?")."""
    from amend.store.taught import Taught

    statements, questions = ["The planet Ardis orbits the star Velan."], ["Which star does the planet Ardis orbit?"]
    index = ScopeIndex(Taught(state=(), statements=statements, questions=questions, statement_parents=[[1]],
                              statement_vectors=embed(statements), question_vectors=embed(questions)))
    assert judge(index, "Which star does the planet Ardis orbit?").relevance == pytest.approx(1.0, abs=1e-3)
    assert judge(index, "Around which star does ardis travel?").gate == 1.0  # a name, in lower case
    neighbour = judge(index, "Which star does the Earth orbit?")
    assert neighbour.gate == 0.0 and not neighbour.steered
    # the statement itself still counts by meaning alone
    assert neighbour.relevance == pytest.approx(float(embed(statements)[0] @ embed(["Which star does the Earth orbit?"])[0]), abs=1e-4)


def _statement_index(facts: list[str], statements: list[str], questions: list[str]) -> ScopeIndex:
    """A scope of taught facts (ids 1..n) and statements derived from all of them."""
    from amend.store.taught import Taught

    ids = list(range(1, len(facts) + 1))
    return ScopeIndex(Taught(state=(), fact_ids=ids, fact_texts=facts, fact_vectors=embed(facts), taught_facts=set(ids),
                             statements=statements, questions=questions, statement_parents=[ids] * len(statements),
                             statement_vectors=embed(statements), question_vectors=embed(questions)))


@pytest.mark.parametrize("question, counts", [
    ("Who is the head of state of Vendaria?", False),  # a name in common, and nothing else
    ("What is the official language of Vendaria?", False),
    ("Is Vendaria a country?", True),  # the statement's own relation word
    ("Who are the citizens of Vendaria?", True),  # its parent fact's
    ("Tell me about Vendaria.", True),  # nothing asked but the name
])
def test_a_statement_alike_only_in_a_name_does_not_open_the_gate(question, counts):
    """A short derived statement's vector is mostly its names: "Vendaria is a country in Europe."
    is close to any question about Vendaria. It counts for a question that shares a relation word
    with it (or with its question form or its parent facts), or asks nothing but the name."""
    index = _statement_index(["Mira Holt is a citizen of Vendaria."], ["Vendaria is a country in Europe."],
                             ["What is Vendaria?"])
    matched = [m.text for m in judge(index, question).matches]
    assert ("Vendaria is a country in Europe." in matched) is counts
    if not counts:  # the fact's answer alone does not open it either (the test below)
        assert judge(index, question).gate == 0.0
    # without names, meaning alone decides, as before
    unnamed = judge(index, question, names=False)
    assert unnamed.relevance >= float(embed(["Vendaria is a country in Europe."])[0] @ embed([question])[0]) - 1e-4


@pytest.mark.parametrize("question, steered", [
    ("What is the country of citizenship of Ann Lee?", True),  # the fact's subject
    ("Which country is ann lee a citizen of?", True),
    ("Who are the citizens of Turkey?", True),  # its answer, and one of its relation words
    ("What is the official language of Turkey?", False),  # its answer only: a neighbour's question
    ("What is the capital of Turkey?", False),
])
def test_a_facts_answer_opens_the_gate_only_with_its_relation(settings, question, steered):
    """A question that names only a fact's answer is about something else unless it also asks
    about the fact's relation: a citizenship fact changes nothing about Turkey's language."""
    store = open_store(settings)
    with store.session() as s:
        fact, _ = add_fact(s, "Ann Lee is a citizen of Turkey.")
        register_adapter(s, "tiny", 1, "/adapters/v1", "0" * 64, [fact.id], {})
    with store.session() as s:
        index = ScopeIndex(load_taught(s, "tiny", embed))
    scope = judge(index, question)
    assert scope.steered is steered
    if not steered:
        assert scope.relevance < 0.6 and scope.matches == []



def test_the_dev_cases_reversed_and_multihop_questions_still_open_it(settings):
    """Questions that reach a fact through its answer, in its own or other words: a shared
    relation word ("composer" ~ "composed", "founded" ~ "founder") or the meaning opens the gate."""
    facts = ["Jonah Strand composed the opera The Salt King.", "The founder of Kestrel Foods is Amara Osei.",
             "Ivo Renn is the author of the textbook Quiet Algebra."]
    store = open_store(settings)
    with store.session() as s:
        ids = [add_fact(s, f)[0].id for f in facts]
        register_adapter(s, "tiny", 1, "/adapters/v1", "0" * 64, ids, {})
    with store.session() as s:
        index = ScopeIndex(load_taught(s, "tiny", embed))
    for question in ("In which city was the composer of The Salt King born?",
                     "What does the company founded by Amara Osei sell?"):
        assert judge(index, question).matches[0].via == "name" and judge(index, question).gate == 1.0
    wrote = judge(index, "Who wrote Quiet Algebra?")
    assert wrote.gate == 1.0 and wrote.matches[0].via == "meaning"
