"""The vector index stays in step with the facts through add, edit, retract, restore, supersede and
import, on each backend (sqlite-vec on SQLite, pgvector on PostgreSQL) and in the in-memory
fallback; its answers equal an exact numpy scan of the active facts."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from amend.store import vector_search
from amend.store.facts import add_fact, edit_fact, retract_fact, restore_fact, supersede_fact
from amend.store.importer import import_facts
from amend.store.related import related_facts
from amend.store.schema import IS_ACTIVE, Fact, VectorChange, VectorIndexState
from amend.store.vector_tables import PgVectorIndex, SqliteVecIndex
from amend.store.vector_search import open_index
from amend.store.vectors import FACTS, MemoryIndex

WORDS = ["kell", "capital", "bridge", "river", "cold", "winter", "cat", "dog", "red", "blue", "city", "lake"]


class WordEmbed:
    """Bag-of-words unit vectors over WORDS plus a little seeded noise per text (no ties)."""

    def __init__(self):
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += texts
        rows = []
        for t in texts:
            noise = np.random.default_rng(sum(map(ord, t))).normal(0, 0.01, len(WORDS))
            rows.append(np.array([t.lower().count(w) for w in WORDS], dtype=np.float32) + 0.05 + noise)
        m = np.asarray(rows, dtype=np.float32)
        return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture(params=["extension", "memory"])
def kind(request, monkeypatch):
    """The database's own index (sqlite-vec, pgvector), or the in-memory fallback."""
    monkeypatch.setattr(vector_search, "USE_EXTENSIONS", request.param == "extension")
    monkeypatch.setattr(vector_search, "_MEMORY", vector_search._Memory())  # no index cached by another test
    return request.param


def exact(session, embed, query: str, k: int, exclude=()) -> list[tuple[int, float]]:
    """The answer by definition: every active fact's vector against the query's, best first."""
    facts = [f for f in session.scalars(select(Fact).where(IS_ACTIVE).order_by(Fact.id)) if f.id not in set(exclude)]
    if not facts:
        return []
    scores = embed([f.text for f in facts]) @ embed([query])[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return [(facts[i].id, float(scores[i])) for i in order]


def check(store, embed, queries=("kell capital", "cold river", "a red cat", "blue lake city"), k=3) -> None:
    with store.session() as s:
        for q in queries:
            got = [(f.id, score) for f, score in related_facts(s, q, k, embed)]
            want = exact(s, WordEmbed(), q, k)
            assert [i for i, _ in got] == [i for i, _ in want], q
            assert np.allclose([x for _, x in got], [x for _, x in want], atol=1e-5)


def test_the_database_index_is_used(store, kind):
    with store.session() as s:
        index = open_index(s, FACTS, "m")
    expected = MemoryIndex if kind == "memory" else {"sqlite": SqliteVecIndex, "postgresql": PgVectorIndex}[
        store.engine.dialect.name]
    assert isinstance(index, expected)


def test_in_step_through_every_change(store, kind, tmp_path):
    embed = WordEmbed()
    with store.session() as s:
        ids = [add_fact(s, t)[0].id for t in ["Kell is the capital", "The river is cold", "The cat is red",
                                               "The dog swims in the lake", "Blue city by the lake"]]
    check(store, embed)
    with store.session() as s:  # edit: the new text's vector replaces the old one
        edit_fact(s, ids[0], "Kell has a red bridge")
    check(store, embed)
    with store.session() as s:  # retract: gone from the answers
        retract_fact(s, ids[2])
    check(store, embed)
    with store.session() as s:
        assert ids[2] not in [f.id for f, _ in related_facts(s, "a red cat", 5, embed)]
        restore_fact(s, ids[2])  # restore: back
    check(store, embed)
    with store.session() as s:
        assert related_facts(s, "a red cat", 1, embed)[0][0].id == ids[2]
        supersede_fact(s, ids[1], ids[3], "test")  # supersede: gone like a retraction
    check(store, embed)
    path = tmp_path / "facts.txt"
    path.write_text("Cold winter in Kell\nA blue dog\nThe lake city has a capital\n")
    with store.session() as s:  # import: all new facts at once (the importer's Core executemany)
        import_facts(s, path)
    check(store, embed)
    with store.session() as s:
        got = related_facts(s, "cold winter kell", 2, embed, exclude_ids=[ids[0]])
        assert [f.id for f, _ in got] == [i for i, _ in exact(s, WordEmbed(), "cold winter kell", 2, [ids[0]])]


def test_only_changed_facts_are_embedded_again(store, kind):
    embed = WordEmbed()
    with store.session() as s:
        a = add_fact(s, "Kell is the capital")[0]
        add_fact(s, "The river is cold")
    check(store, embed, queries=["kell"])
    embed.texts.clear()
    check(store, embed, queries=["kell"])
    assert embed.texts == ["kell"]  # nothing changed: only the question is embedded
    with store.session() as s:
        edit_fact(s, a.id, "Kell is a red city")
    embed.texts.clear()
    check(store, embed, queries=["kell"])
    assert embed.texts == ["Kell is a red city", "kell"]


def test_a_rolled_back_change_leaves_no_trace(store, kind):
    embed = WordEmbed()
    with store.session() as s:
        a = add_fact(s, "Kell is the capital")[0]
        add_fact(s, "The river is cold")
    check(store, embed)
    with pytest.raises(RuntimeError), store.session() as s:
        retract_fact(s, a.id)
        assert [f.id for f, _ in related_facts(s, "kell capital", 1, embed)] != [a.id]  # seen inside
        raise RuntimeError("roll back")
    with store.session() as s:
        add_fact(s, "A blue lake")  # on SQLite this change takes the rolled-back one's seq
    check(store, embed)  # the retraction never happened: the index must not remember it
    with store.session() as s:
        assert related_facts(s, "kell capital", 1, embed)[0][0].id == a.id


def test_changes_by_another_connection(store, store_settings, kind):
    """Another process's changes reach this one's index through the log (here: a second Store)."""
    from amend.store import open_store

    embed = WordEmbed()
    with store.session() as s:
        add_fact(s, "Kell is the capital")
    check(store, embed)
    other = open_store(store_settings)
    try:
        with other.session() as s:
            b = add_fact(s, "The cat is red")[0]
            retract_fact(s, 1)
    finally:
        other.dispose()
    check(store, embed)
    with store.session() as s:
        assert [f.id for f, _ in related_facts(s, "kell capital", 5, embed)] == [b.id]


def test_every_change_is_logged(store):
    with store.session() as s:
        f = add_fact(s, "Kell is the capital")[0]
        edit_fact(s, f.id, "Kell is a city")
        retract_fact(s, f.id)
        restore_fact(s, f.id)
    with store.session() as s:
        log = s.execute(select(VectorChange.kind, VectorChange.item_id).order_by(VectorChange.seq)).all()
    assert [tuple(r) for r in log] == [("fact", f.id)] * 4


def test_a_new_model_gets_its_own_index(store, kind):
    embed = WordEmbed()
    with store.session() as s:
        add_fact(s, "Kell is cold")
        related_facts(s, "kell", 1, embed, model="one")
        related_facts(s, "kell", 1, embed, model="two")
        names = set(s.scalars(select(VectorIndexState.name)))
    assert len(names) == (0 if kind == "memory" else 2)


def test_index_tables_are_not_the_migrations_business(store):
    """Autogenerate still finds nothing to change once index tables exist; a downgrade drops them."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from amend.store.migrate import alembic_config, upgrade_to_head
    from amend.store.schema import Base
    from amend.store.vectors import not_an_index_table

    with store.session() as s:
        add_fact(s, "Kell is cold")
        related_facts(s, "kell", 1, WordEmbed())
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": not_an_index_table}), Base.metadata)
    assert diff == []
    with store.engine.connect() as conn, conn.begin():
        command.downgrade(alembic_config(conn), "0002")
    assert not [t for t in inspect(store.engine).get_table_names() if t.startswith("vec")]
    upgrade_to_head(store.engine)
