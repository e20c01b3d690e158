"""The SQLite driver of the store, and sqlite-vec loaded into each of its connections.

sqlite-vec is a SQLite extension, so the driver must be able to load extensions. Python builds
made by pyenv (this project's machines) lack `sqlite3.Connection.enable_load_extension`, and
macOS's system Python too. Of the drivers on PyPI that bring a SQLite of their own:

- `sqlean.py` (chosen): the standard library's sqlite3 module, the same code, built against a
  recent SQLite with extension loading on; wheels for Linux (x86-64, ARM), macOS (Intel, Apple)
  and Windows; SQLAlchemy's own pysqlite dialect drives it through `create_engine(module=...)`,
  so nothing about the store's SQL, pragmas or error handling changes.
- `pysqlite3-binary`: also a drop-in copy of sqlite3, but wheels for Linux x86-64 only.
- `apsw`: a different API, not DB-API, so SQLAlchemy needs a third-party dialect for it.

Without sqlean.py the standard library's sqlite3 is used, and sqlite-vec where that one can load
extensions; where none loads, related facts use the in-memory index (amend/store/vectors.py).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

VEC_LOADED = "amend_sqlite_vec"  # key in a pooled connection's `info`: whether sqlite-vec loaded
MMAP_BYTES = 1 << 30  # PRAGMA mmap_size: sqlite-vec scans its vector chunks through the map, not the page cache


def dbapi_module() -> ModuleType:
    """sqlean.py's sqlite3 if it is installed, else the standard library's."""
    try:
        import sqlean

        return sqlean.dbapi2
    except ImportError:  # a platform without a sqlean.py wheel
        import sqlite3

        return sqlite3


def load_sqlite_vec(dbapi_conn: Any) -> bool:
    """Load sqlite-vec into a DB-API connection; False where the driver or platform cannot."""
    try:
        import sqlite_vec

        dbapi_conn.enable_load_extension(True)
        try:
            sqlite_vec.load(dbapi_conn)
        finally:
            dbapi_conn.enable_load_extension(False)
    except Exception:  # no sqlite_vec package, no enable_load_extension, a load error: no extension
        return False
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cur.close()
    return True
