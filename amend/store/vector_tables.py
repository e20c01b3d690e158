"""Vector indexes kept in the database (see amend/store/vectors.py for the interface and how
they keep in step): a sqlite-vec `vec0` table on SQLite, a pgvector table with an HNSW index on
PostgreSQL. Each is made at run time, named after its collection and model, and recorded with
the last change it applied in `vector_indexes`.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from amend.store.schema import VectorChange, VectorIndexState
from amend.store.vectors import Collection, Embed, Index, chunks

VEC0_K_MAX = 4096  # sqlite-vec answers at most this many neighbours per query
EF_SEARCH = 100  # pgvector HNSW candidate list per query (raised to 4x the results asked for)
HNSW_BUILD_MEMORY = "256MB"  # maintenance_work_mem for building the HNSW graph (100,000 x 384: about 200 MB)
SYNC_LOCK = 0x76656374  # "vect": PostgreSQL advisory lock serializing index updates


class _DatabaseIndex(Index):
    """An index table in the database; its position is its row in vector_indexes."""

    def sync(self, session: Session, embed: Embed) -> None:
        # the usual case, nothing new, in one round trip (it is most of a search's fixed cost)
        latest = select(func.max(VectorChange.seq)).scalar_subquery()
        row = session.execute(select(VectorIndexState.seq, VectorIndexState.dims, VectorIndexState.backend,
                                     VectorIndexState.model, latest.label("latest"))
                              .where(VectorIndexState.name == self.name)).first()
        if row is not None and (row.backend, row.model, row.seq) == (self.backend, self.model, row.latest or 0):
            self.dims = row.dims or None
            return
        super().sync(session, embed)

    def position(self, session: Session) -> int | None:
        state = session.get(VectorIndexState, self.name, populate_existing=True)
        if state is None or state.backend != self.backend or state.model != self.model:
            return None
        self.dims = state.dims or None
        return state.seq

    def set_position(self, session: Session, seq: int, token: int) -> None:
        session.get(VectorIndexState, self.name).seq = seq  # the token is not needed: this row
        session.flush()  # commits or rolls back together with the index

    def reset(self, session: Session, dims: int) -> None:
        session.execute(text(f'DROP TABLE IF EXISTS "{self.name}"'))
        for statement in self.create(dims) if dims else []:
            session.execute(text(statement))
        state = session.get(VectorIndexState, self.name) or VectorIndexState(name=self.name)
        state.collection, state.model, state.dims, state.backend, state.seq = (
            self.collection.name, self.model, dims, self.backend, 0)
        session.add(state)
        session.flush()
        self.dims = dims or None

    def create(self, dims: int) -> list[str]:
        """The statements that make the empty index table."""
        raise NotImplementedError


class SqliteVecIndex(_DatabaseIndex):
    """A sqlite-vec vec0 table: exact KNN (L2 over unit vectors: the cosine order)."""

    backend = "sqlite-vec"

    def create(self, dims: int) -> list[str]:
        # L2 rather than cosine: the vectors are unit length, so the order is the same and
        # cosine = 1 - L2^2 / 2; sqlite-vec's L2 loop is the faster (about 41 against 46 ms here)
        return [f'CREATE VIRTUAL TABLE "{self.name}" USING vec0(id integer primary key, '
                f'embedding float[{dims}] distance_metric=l2)']

    def upsert(self, session: Session, ids: list[int], vectors: np.ndarray) -> None:
        if self.dims is None:
            self.reset(session, vectors.shape[1])
        self.delete(session, ids)  # vec0 has no INSERT OR REPLACE
        session.execute(text(f'INSERT INTO "{self.name}" (id, embedding) VALUES (:id, :v)'),
                        [{"id": i, "v": v.tobytes()} for i, v in zip(ids, vectors)])

    def delete(self, session: Session, ids: list[int]) -> None:
        if ids and self.dims is not None:
            session.execute(text(f'DELETE FROM "{self.name}" WHERE id = :id'), [{"id": i} for i in ids])

    def search(self, session: Session, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        if self.dims is None:
            return []
        rows = session.execute(text(f'SELECT id, distance FROM "{self.name}" WHERE embedding MATCH :q AND k = :k'),
                               {"q": np.asarray(query, dtype=np.float32).tobytes(), "k": min(n, VEC0_K_MAX)})
        return [(r.id, 1.0 - r.distance * r.distance / 2) for r in rows]


class PgVectorIndex(_DatabaseIndex):
    """A pgvector table with an HNSW index (cosine); `schema` is where the extension lives."""

    backend = "pgvector"

    def __init__(self, collection: Collection, model: str, schema: str) -> None:
        super().__init__(collection, model)
        self.schema = schema
        self.bulk = False  # while rebuilding: the HNSW index is made after the rows

    def lock(self, session: Session) -> None:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SYNC_LOCK})

    def create(self, dims: int) -> list[str]:
        table = f'CREATE TABLE "{self.name}" (id integer PRIMARY KEY, embedding {self.schema}.vector({dims}) NOT NULL)'
        return [table] if self.bulk else [table, self.hnsw()]

    def hnsw(self) -> str:
        return f'CREATE INDEX "{self.name}_hnsw" ON "{self.name}" USING hnsw (embedding {self.schema}.vector_cosine_ops)'

    def rebuild(self, session: Session, embed: Embed) -> None:
        # all rows first, then the HNSW graph in one build: several times faster than row by row
        self.bulk = True
        try:
            super().rebuild(session, embed)
        finally:
            self.bulk = False
        if self.dims is not None:
            session.execute(text(f"SET LOCAL maintenance_work_mem = '{HNSW_BUILD_MEMORY}'"))
            session.execute(text(self.hnsw()))

    def upsert(self, session: Session, ids: list[int], vectors: np.ndarray) -> None:
        if self.dims is None:
            self.reset(session, vectors.shape[1])
        # binary COPY of float4[] into a temporary table, then one INSERT ... SELECT with the cast
        # to vector: no vector text to format and parse (100,000 x 384 numbers)
        with session.connection().connection.driver_connection.cursor() as cursor:  # psycopg's own
            cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS amend_vector_load (id integer, embedding real[]) "
                           "ON COMMIT DELETE ROWS")
            cursor.execute("TRUNCATE amend_vector_load")
            with cursor.copy("COPY amend_vector_load (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "float4[]"])
                for i, v in zip(ids, vectors.tolist()):
                    copy.write_row((i, v))
            cursor.execute(f'INSERT INTO "{self.name}" (id, embedding) SELECT id, embedding::{self.schema}.vector '
                           "FROM amend_vector_load ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding")

    def delete(self, session: Session, ids: list[int]) -> None:
        if ids and self.dims is not None:
            for part in chunks(ids):
                session.execute(text(f'DELETE FROM "{self.name}" WHERE id = ANY(:ids)'), {"ids": list(part)})

    def search(self, session: Session, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        if self.dims is None:
            return []
        s = self.schema
        session.execute(text(f"SET LOCAL hnsw.ef_search = {min(1000, max(EF_SEARCH, 4 * n))}"))
        q = "[" + ",".join(map(repr, np.asarray(query, dtype=np.float32).tolist())) + "]"
        rows = session.execute(text(
            f'SELECT id, 1 - (embedding OPERATOR({s}.<=>) CAST(:q AS {s}.vector)) AS score FROM "{self.name}" '
            f"ORDER BY embedding OPERATOR({s}.<=>) CAST(:q AS {s}.vector) LIMIT :n"), {"q": q, "n": n})
        return [(r.id, float(r.score)) for r in rows]


def pgvector_schema(session: Session) -> str | None:
    """The schema of the `vector` extension, created if it can be (superuser or trusted); None
    where PostgreSQL has no pgvector."""
    conn = session.connection()
    if "amend_pgvector" not in conn.info:
        find = text("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                    "WHERE e.extname = 'vector'")
        schema = session.scalar(find)
        if schema is None:
            try:
                with session.begin_nested():
                    session.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                schema = session.scalar(find)
            except Exception:  # not installed on the server, or no right to create it
                schema = None
        conn.info["amend_pgvector"] = schema
    return conn.info["amend_pgvector"]
