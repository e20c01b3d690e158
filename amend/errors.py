"""The one exception type a user sees as a single line (no traceback) with a non-zero exit.

Exit codes by kind: 1 for a mistake in what was asked (the default), 2 for a command line that
cannot be parsed (click's usage errors), 75 (EX_TEMPFAIL, sysexits.h) for a condition that
passes by itself, such as a database another process holds: trying again later can work.
"""

EXIT_USER = 1  # the input or the request is wrong; the message says how
EXIT_USAGE = 2  # the command line itself (click's UsageError)
EXIT_TEMPORARY = 75  # try again later (EX_TEMPFAIL)


class UserError(Exception):
    """A mistake or a condition the user can act on; str(e) is the whole message."""

    exit_code = EXIT_USER
