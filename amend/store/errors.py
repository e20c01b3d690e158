"""The store's user-facing errors (each a UserError: one line, no traceback)."""

from __future__ import annotations

from amend.errors import EXIT_TEMPORARY, UserError


class StoreError(UserError):
    """A store operation the user asked for cannot be done; the message says why."""


class DuplicateFact(StoreError):
    """The text equals an active fact after normalization."""

    def __init__(self, message: str, existing_id: int):
        super().__init__(message)
        self.existing_id = existing_id


class InvalidFact(StoreError):
    """The text (or source) cannot be stored: empty, too long, not valid Unicode, a NUL byte, no words."""


class NotFound(StoreError):
    """No row with the id given."""


class DatabaseBusy(StoreError):
    """Another process held the database longer than the lock timeout; trying again can work."""

    exit_code = EXIT_TEMPORARY
