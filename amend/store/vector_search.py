"""Choosing a vector index for a session's database, and searching it (see amend/store/vectors.py
for the interface and the memory index, amend/store/vector_tables.py for the database ones).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from amend.store.embeddings import Embed
from amend.store.sqlite_driver import VEC_LOADED
from amend.store.vector_tables import PgVectorIndex, SqliteVecIndex, pgvector_schema
from amend.store.vectors import Collection, Index, MemoryIndex, _ranked, _unit, index_name

USE_EXTENSIONS = True  # False: always the memory index (tests and the benchmark compare them)


@dataclass
class _Memory:
    indexes: dict[tuple[str, str], MemoryIndex] = field(default_factory=dict)
    mutex: threading.Lock = field(default_factory=threading.Lock)


_MEMORY = _Memory()  # this process's memory indexes, by (database URL, index name)


def open_index(session: Session, collection: Collection, model: str) -> Index:
    """The index of `collection` under `model` for this session's database (see the docstring)."""
    conn = session.connection()
    dialect = conn.dialect.name
    if USE_EXTENSIONS and dialect == "sqlite" and conn.info.get(VEC_LOADED):
        return SqliteVecIndex(collection, model)
    if USE_EXTENSIONS and dialect == "postgresql" and (schema := pgvector_schema(session)):
        return PgVectorIndex(collection, model, f'"{schema}"')
    key = (conn.engine.url.render_as_string(hide_password=False), index_name(collection, model))
    with _MEMORY.mutex:
        if key not in _MEMORY.indexes:
            _MEMORY.indexes[key] = MemoryIndex(collection, model)
        return _MEMORY.indexes[key]


def nearest(session: Session, collection: Collection, query: np.ndarray | Callable[[], np.ndarray], k: int,
            embed: Embed, model: str, exclude: Iterable[int] = ()) -> list[tuple[int, float]]:
    """The ids and cosine similarities of the k members nearest to `query`, best first (equal
    scores by id); the index is brought up to date first. `query` may be a function, called only
    when the index holds anything."""
    if k <= 0:
        return []
    index = open_index(session, collection, model)
    excluded = set(exclude)
    with index.mutex if isinstance(index, MemoryIndex) else nullcontext():
        index.sync(session, embed)
        if index.dims is None:
            return []
        vector = query() if callable(query) else query
        vector = _unit(np.asarray(vector, dtype=np.float32).reshape(-1))
        return _ranked(index.search(session, vector, k + len(excluded)), excluded, k)
