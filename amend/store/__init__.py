"""amend.store: the facts, their history, derived statements, jobs, adapters and chats.

SQLAlchemy 2.0 models (schema.py) on SQLite or PostgreSQL (db.py), migrated by Alembic on open.
Never imports torch: store commands start fast.
"""

from amend.store.db import Store, open_store
from amend.store.errors import DatabaseBusy, DuplicateFact, InvalidFact, NotFound, StoreError

__all__ = ["DatabaseBusy", "DuplicateFact", "InvalidFact", "NotFound", "Store", "StoreError", "open_store"]
