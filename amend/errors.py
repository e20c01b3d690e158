"""The one exception type a user sees as a single line (no traceback) with a non-zero exit."""


class UserError(Exception):
    """A mistake or a condition the user can act on; str(e) is the whole message."""
