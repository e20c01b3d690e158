"""Vector indexes: the items (facts; derived statements next) nearest to a vector, in milliseconds
at 100,000 items, kept in step with the store.

One interface, three implementations, chosen per connection:

(the two database ones are in amend/store/vector_tables.py; vector_search.py chooses one)

- **sqlite-vec** (SQLite, where the extension loads: amend/store/sqlite_driver.py): a `vec0`
  virtual table of float32 unit vectors (L2 distance, which orders as cosine does). Its KNN query
  is an exact scan in C, read through the memory map.
- **pgvector** (PostgreSQL with the `vector` extension): a table with a `vector(d)` column and
  an HNSW index (cosine). HNSW is approximate; `ef_search` (EF_SEARCH, at least 4x the results
  asked for) keeps recall near 1 (benchmarks/related_facts.py measures it against an exact scan).
- **memory** (anywhere else): the vectors as one numpy matrix per process and index, a matrix
  product per query (BLAS), refreshed from the change log like the others.

Keeping in step: triggers append every insert, update and delete of a fact or statement to
`vector_changes` (migration 0003), whatever code made it. An index remembers the last seq it
applied (`vector_indexes.seq` in the database, or in memory) and before each search applies the
changes after it: members that changed are embedded if their cached vector is missing or stale
and upserted, the others (retracted, superseded, deleted) removed. With nothing new that costs
one indexed query. A database index changes inside the caller's transaction, so a rollback takes
its update back with everything else; the memory index checks the random token of the change it
saw last and rebuilds when that change was rolled back.

A collection says what an index holds: `FACTS` (the active facts, vectors cached in
fact_embeddings). Derived statements plug in the same way: a Collection whose `affected` maps
"statement" changes (and "fact" changes, through statement_parents) to statement ids, whose
`members` are the statements in scope and whose `vectors` read statement_embeddings.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from amend.store.embeddings import Embed, fact_vectors
from amend.store.schema import IS_ACTIVE, Fact, VectorChange

REBUILD_AFTER = 20_000  # more changes than this (an import): build anew, faster than one by one (HNSW)
CHUNK = 10_000  # ids per IN (...) list: under SQLite's and PostgreSQL's bound-parameter limits


@dataclass(frozen=True)
class Collection:
    """What an index holds, and where its vectors come from."""

    name: str  # part of the index's name
    affected: Callable[[Session, list[tuple[str, int]]], set[int]]  # changes (kind, id) -> item ids
    members: Callable[[Session, Sequence[int] | None], list[Any]]  # current members (.id, .text) among ids, or all
    vectors: Callable[[Session, list[Any], Embed, str], np.ndarray]  # (n, d) unit vectors of members


def _fact_changes(session: Session, changes: list[tuple[str, int]]) -> set[int]:
    return {item for kind, item in changes if kind == "fact"}


def _active_facts(session: Session, ids: Sequence[int] | None) -> list[Any]:
    query = select(Fact.id, Fact.text).where(IS_ACTIVE).order_by(Fact.id)
    if ids is None:
        return list(session.execute(query))
    return [row for part in chunks(sorted(ids)) for row in session.execute(query.where(Fact.id.in_(part)))]


def _fact_vectors(session: Session, facts: list[Any], embed: Embed, model: str) -> np.ndarray:
    parts = [fact_vectors(session, part, embed, model) for part in chunks(facts)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


FACTS = Collection("facts", _fact_changes, _active_facts, _fact_vectors)


def chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    return (items[i:i + size] for i in range(0, len(items), size))


def index_name(collection: Collection, model: str) -> str:
    """The index table's name: the collection and a hash of the model (names are free text)."""
    return f"vec_{collection.name}_{hashlib.sha256(model.encode()).hexdigest()[:12]}"


def not_an_index_table(name: str | None, type_: str, parent_names: dict) -> bool:
    """For Alembic's autogenerate (include_name): index tables, and sqlite-vec's shadow tables,
    are made at run time here, not by migrations."""
    return not (type_ == "table" and name is not None and name.startswith("vec_"))


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _ranked(hits: Iterable[tuple[int, float]], exclude: set[int], k: int) -> list[tuple[int, float]]:
    """Best first; equal scores by id, as a stable sort of the id-ordered members gives."""
    kept = [(int(i), float(s)) for i, s in hits if int(i) not in exclude]
    return sorted(kept, key=lambda h: (-h[1], h[0]))[:k]


# --- the change log ---------------------------------------------------------------------------

def latest_change(session: Session) -> tuple[int, int]:
    """(seq, token) of the newest change, (0, 0) when there is none."""
    row = session.execute(select(VectorChange.seq, VectorChange.token).order_by(VectorChange.seq.desc()).limit(1)).first()
    return (row.seq, row.token) if row else (0, 0)


def changes_between(session: Session, after: int, upto: int) -> list[tuple[str, int]]:
    rows = session.execute(select(VectorChange.kind, VectorChange.item_id).distinct()
                           .where(VectorChange.seq > after, VectorChange.seq <= upto))
    return [(r.kind, r.item_id) for r in rows]


# --- an index, and the one in memory ----------------------------------------------------------------

class Index:
    """An index of one collection's vectors under one embedding model."""

    backend = ""
    dims: int | None = None  # vector length; None while the index holds nothing

    def __init__(self, collection: Collection, model: str) -> None:
        self.collection, self.model, self.name = collection, model, index_name(collection, model)

    # implemented by each kind of index
    def position(self, session: Session) -> int | None:
        """The seq of the last change applied; None when the index must be built (again)."""
        raise NotImplementedError

    def set_position(self, session: Session, seq: int, token: int) -> None:
        raise NotImplementedError

    def reset(self, session: Session, dims: int) -> None:
        """Empty the index, for vectors of `dims` numbers (0: none yet)."""
        raise NotImplementedError

    def upsert(self, session: Session, ids: list[int], vectors: np.ndarray) -> None:
        raise NotImplementedError

    def delete(self, session: Session, ids: list[int]) -> None:
        raise NotImplementedError

    def search(self, session: Session, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        """About the n nearest (id, cosine), in any order (ties at the cut may add a few)."""
        raise NotImplementedError

    def lock(self, session: Session) -> None:
        """Serialize updates of this index across processes (on SQLite the write lock does)."""

    def sync(self, session: Session, embed: Embed) -> None:
        """Apply the changes logged since this index last looked (all members when first built)."""
        if self.position(session) == latest_change(session)[0]:
            return  # the usual case: one indexed query
        self.lock(session)
        at = self.position(session)
        seq, token = latest_change(session)
        if at is None or at > seq or seq - at > REBUILD_AFTER:
            self.rebuild(session, embed)
        elif at < seq:
            ids = sorted(self.collection.affected(session, changes_between(session, at, seq)))
            members = self.collection.members(session, ids)
            keep = {m.id for m in members}
            self.delete(session, [i for i in ids if i not in keep])
            if members:
                vectors = _unit(self.collection.vectors(session, members, embed, self.model))
                if self.dims not in (None, vectors.shape[1]):  # the model's vectors changed length
                    self.rebuild(session, embed)
                else:
                    self.upsert(session, [m.id for m in members], vectors)
        self.set_position(session, seq, token)

    def rebuild(self, session: Session, embed: Embed) -> None:
        members = self.collection.members(session, None)
        if not members:
            self.reset(session, 0)
            return
        vectors = _unit(self.collection.vectors(session, members, embed, self.model))
        self.reset(session, vectors.shape[1])
        self.upsert(session, [m.id for m in members], vectors)


class MemoryIndex(Index):
    """The fallback: a numpy matrix per process (shared by its threads), refreshed from the log."""

    backend = "memory"

    def __init__(self, collection: Collection, model: str) -> None:
        super().__init__(collection, model)
        self.at: tuple[int, int] | None = None  # (seq, token) of the last change applied
        self.mutex = threading.RLock()  # one thread at a time updates and searches
        self.reset(None, 0)

    def position(self, session: Session) -> int | None:
        if self.at is None or self.at[0] == 0:
            return None if self.at is None else 0
        # the change applied last must still be there: a rolled-back change took its seq (and the
        # state read with it) back, and a later change may reuse the seq
        token = session.scalar(select(VectorChange.token).where(VectorChange.seq == self.at[0]))
        return self.at[0] if token == self.at[1] else None

    def set_position(self, session: Session, seq: int, token: int) -> None:
        self.at = (seq, token)

    def reset(self, session: Session | None, dims: int) -> None:
        self.dims = dims or None
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dims), dtype=np.float32)
        self.row: dict[int, int] = {}  # id -> row of `matrix`

    def upsert(self, session: Session, ids: list[int], vectors: np.ndarray) -> None:
        if self.dims is None:
            self.reset(session, vectors.shape[1])
        new = [j for j, i in enumerate(ids) if i not in self.row]
        for j, i in enumerate(ids):
            if i in self.row:
                self.matrix[self.row[i]] = vectors[j]
        if new:
            start = len(self.ids)
            self.ids = np.concatenate([self.ids, np.asarray([ids[j] for j in new], dtype=np.int64)])
            self.matrix = np.concatenate([self.matrix, vectors[new]])
            self.row.update((ids[j], start + n) for n, j in enumerate(new))

    def delete(self, session: Session, ids: list[int]) -> None:
        gone = [self.row.pop(i) for i in ids if i in self.row]
        if gone:
            keep = np.ones(len(self.ids), dtype=bool)
            keep[gone] = False
            self.ids, self.matrix = self.ids[keep], self.matrix[keep]
            self.row = {int(i): r for r, i in enumerate(self.ids)}

    def search(self, session: Session, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        if not len(self.ids):
            return []
        scores = self.matrix @ query
        if n < len(scores):
            top = np.argpartition(-scores, n - 1)[:n]
            top = np.union1d(top, np.flatnonzero(scores == scores[top].min()))  # ties at the cut
        else:
            top = np.arange(len(scores))
        return [(int(self.ids[r]), float(scores[r])) for r in top]
