"""What the active expert was taught: facts the adapter covers, their accepted statements, cached
statement vectors, and a fingerprint that changes with any of them."""

from __future__ import annotations

import numpy as np

from amend.store.adapters import register_adapter
from amend.store.derived import save_derivation
from amend.store.facts import add_fact, edit_fact, retract_fact
from amend.store.taught import knowledge_state, load_taught, statement_vectors

from test_store_related import FakeEmbed

STATEMENTS = [
    {"text": "Kell is a city.", "kind": "implication", "question": "Which capital is Kell?", "p_true": 0.9, "truth": True,
     "accepted": True},
    {"text": "Kell is a river.", "kind": "contradiction", "question": None, "p_true": 0.2, "truth": False,
     "accepted": False},
]


def _teach(store, fact_ids, version=1):
    with store.session() as s:
        register_adapter(s, "tiny", version, f"/adapters/v{version}", "0" * 64, fact_ids, {})


def test_only_what_the_active_adapter_covers_is_taught(store):
    embed = FakeEmbed()
    with store.session() as s:
        kell, _ = add_fact(s, "Kell is the capital")
        cat, _ = add_fact(s, "The cat likes the dog")
        save_derivation(s, [kell], STATEMENTS, "tiny", "gen", "v")
    with store.session() as s:
        before = load_taught(s, "tiny", embed)
    assert before.fact_texts == ["Kell is the capital", "The cat likes the dog"]  # for the context
    assert before.taught_facts == set() and before.statements == [] and before.adapter_version is None

    _teach(store, [kell.id])
    with store.session() as s:
        taught = load_taught(s, "tiny", embed)
    assert taught.taught_facts == {kell.id} and taught.adapter_version == 1
    assert taught.statements == ["Kell is a city."] and taught.questions == ["Which capital is Kell?"]  # accepted only
    assert taught.statement_parents == [[kell.id]]
    assert taught.statement_vectors.shape == taught.question_vectors.shape == (1, taught.fact_vectors.shape[1])

    with store.session() as s:  # an edited or retracted fact leaves the scope before any retraining
        edit_fact(s, kell.id, "Kell is the cold capital")
        retract_fact(s, cat.id)
    with store.session() as s:
        after = load_taught(s, "tiny", embed)
    assert after.taught_facts == set() and after.statements == [] and after.fact_ids == [kell.id]


def test_statement_vectors_are_cached_per_field(store):
    embed = FakeEmbed()
    with store.session() as s:
        kell, _ = add_fact(s, "Kell is the capital")
        saved = save_derivation(s, [kell], STATEMENTS, "tiny", "gen", "v")
        first = statement_vectors(s, saved, "text", embed)
        questions = statement_vectors(s, saved, "question", embed)
    assert embed.calls == [["Kell is a city.", "Kell is a river."], ["Which capital is Kell?", "Kell is a river."]]
    assert first.shape == questions.shape == (2, 8)
    assert not np.allclose(first[0], questions[0]) and np.allclose(first[1], questions[1])  # no question: the text
    embed.calls.clear()
    with store.session() as s:
        again = statement_vectors(s, saved, "text", embed)
        assert embed.calls == [] and np.array_equal(again, first)
        statement_vectors(s, saved, "text", embed, model="another")
        assert embed.calls == [["Kell is a city.", "Kell is a river."]]  # a new model re-embeds


def test_the_fingerprint_follows_facts_statements_and_adapters(store):
    with store.session() as s:
        states = [knowledge_state(s, "tiny")]
        kell, _ = add_fact(s, "Kell is the capital")
    with store.session() as s:
        states.append(knowledge_state(s, "tiny"))
        assert knowledge_state(s, "tiny") == states[-1]  # nothing changed
        save_derivation(s, [kell], STATEMENTS, "tiny", "gen", "v")
    with store.session() as s:
        states.append(knowledge_state(s, "tiny"))
        assert knowledge_state(s, "other") != states[-1]  # statements are per profile
    _teach(store, [kell.id])
    with store.session() as s:
        states.append(knowledge_state(s, "tiny"))
        edit_fact(s, kell.id, "Kell is the old capital")
    with store.session() as s:
        states.append(knowledge_state(s, "tiny"))
    assert len(set(states)) == len(states)
