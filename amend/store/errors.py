"""The store's user-facing errors (each a UserError: one line, no traceback)."""

from __future__ import annotations

from amend.errors import UserError


class StoreError(UserError):
    """A store operation the user asked for cannot be done; the message says why."""


class DuplicateFact(StoreError):
    """The text equals an active fact after normalization."""

    def __init__(self, message: str, existing_id: int):
        super().__init__(message)
        self.existing_id = existing_id


class InvalidFact(StoreError):
    """The text cannot be a fact: empty, too long, or containing a NUL byte."""


class NotFound(StoreError):
    """No row with the id given."""
