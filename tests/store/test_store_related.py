"""Related facts: nearest active facts by cosine, with cached vectors re-embedded only when stale."""

from __future__ import annotations

import numpy as np
import pytest

from amend.store.facts import add_fact, edit_fact, retract_fact
from amend.store.related import related_facts

WORDS = ["kell", "capital", "bridge", "river", "cold", "winter", "cat", "dog"]


class FakeEmbed:
    """Bag-of-words unit vectors over WORDS (deterministic); counts the texts it embeds."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        m = np.array([[t.lower().count(w) for w in WORDS] for t in texts], dtype=np.float32) + 1e-3
        return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_related_with_cache(store):
    embed = FakeEmbed()
    with store.session() as s:
        kell, _ = add_fact(s, "Kell is the capital")
        river, _ = add_fact(s, "The river has a bridge")
        cat, _ = add_fact(s, "The cat likes the dog")
    with store.session() as s:
        got = related_facts(s, "Which capital is Kell?", 2, embed)
        assert [f.id for f, _ in got] == [kell.id, river.id] or [f.id for f, _ in got][0] == kell.id
        assert got[0][1] > got[1][1] and got[0][1] == pytest.approx(1.0, abs=0.05)
        assert embed.calls[0] == [kell.text, river.text, cat.text]
    with store.session() as s:
        embed.calls.clear()
        got = related_facts(s, "a dog", 1, embed, exclude_ids=[kell.id])
        assert [f.id for f, _ in got] == [cat.id]
        assert embed.calls == [["a dog"]]  # fact vectors came from the cache
        edit_fact(s, river.id, "Cold winter on the river")
        retract_fact(s, cat.id)
    with store.session() as s:
        embed.calls.clear()
        got = related_facts(s, "cold winter", 5, embed)
        assert [f.id for f, _ in got] == [river.id, kell.id]
        assert embed.calls == [["Cold winter on the river"], ["cold winter"]]  # only the edited fact again
        assert related_facts(s, "x", 0, embed) == []


def test_a_new_model_re_embeds(store):
    embed = FakeEmbed()
    with store.session() as s:
        add_fact(s, "Kell is cold")
        related_facts(s, "kell", 1, embed, model="one")
        embed.calls.clear()
        related_facts(s, "kell", 1, embed, model="two")
        assert embed.calls == [["Kell is cold"], ["kell"]]


def test_empty_store(store):
    with store.session() as s:
        assert related_facts(s, "anything", 3, FakeEmbed()) == []


def test_real_embedding_model(home):
    from amend.config import load_settings
    from amend.models.embed import embed
    from amend.store import open_store

    store = open_store(load_settings())
    with store.session() as s:
        for text in ["The capital of Ostrava Minor is Kell.", "Kell lies on the river Vltava.",
                     "Cats are popular pets.", "The stock market fell on Monday."]:
            add_fact(s, text)
    with store.session() as s:
        got = related_facts(s, "What is the capital city of Ostrava Minor?", 2, embed)
        assert got[0][0].text == "The capital of Ostrava Minor is Kell."
        assert got[0][1] > 0.5 > got[1][1] - 0.3  # clearly the nearest
        assert all(-1.0 <= score <= 1.0 + 1e-5 for _, score in got)
