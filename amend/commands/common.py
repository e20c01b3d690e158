"""What the subcommands share: the --profile option, settings from flags, progress bars, and
the parsing of values: free text that must be UTF-8, fact ids, and arguments that begin with a
dash but are values (negative numbers, texts with a space), as argparse reads them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
import click.parser

from amend.config import Settings, load_settings
from amend.errors import UserError

if TYPE_CHECKING:
    from amend.models.pull import Progress

profile_option = click.option(
    "--profile", "-p", default=None, metavar="NAME",
    help="Model profile (tiny, qwen-coder, ...; default: the profile setting).",
)


def settings(**flags: object) -> Settings:
    """Effective settings, with these command-line flags on top (None means not given)."""
    return load_settings(flags)


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Progress]:
    """A rich progress display for stage/done/total reports (plain nothing when disabled)."""
    if not enabled or not sys.stderr.isatty():
        last = {"stage": None}

        def plain(stage: str, done: float, total: float | None) -> None:
            if enabled and stage != last["stage"]:
                click.echo(f"{stage} ...", err=True)
                last["stage"] = stage

        yield plain
        return

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress as Bar, SpinnerColumn, TextColumn, TimeRemainingColumn

    with Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
             TimeRemainingColumn(), console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: float, total: float | None) -> None:
            if stage not in tasks:
                for other in tasks.values():  # a new stage ends the ones before it
                    t = bar.tasks[other]
                    if t.total is None:
                        bar.update(other, total=1, completed=1)
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


# --- values on the command line ---

_UNDECODED = re.compile("[\udc80-\udcff]")  # argv bytes that were not UTF-8 (surrogate escapes)


class Utf8Text(click.ParamType):
    """Free text (a fact, a source, a reason, a search) that must have arrived as UTF-8.

    A value that did not is a mistake in the input, like an empty fact: one line, exit code 1.
    """

    name = "text"

    def convert(self, value, param, ctx):
        bad = _UNDECODED.search(value) if isinstance(value, str) else None
        if bad:
            what = param.get_error_hint(ctx) if param is not None else "the value"
            raise UserError(f"{what} is not valid UTF-8 (byte 0x{ord(bad.group()) - 0xDC00:02X}); "
                            "is the terminal's encoding UTF-8?")
        return value


class FactId(click.ParamType):
    """A fact id: any whole number (one no fact has is reported by the store as not found)."""

    name = "id"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return int(value.strip())
        except ValueError:
            self.fail(f"{value!r} is not a fact id (a whole number)", param, ctx)


TEXT = Utf8Text()
FACT_ID = FactId()

# argparse's rule: an argument that looks like a negative number, or holds a space, is a value
_VALUE = re.compile(r"-\d+|-\d*\.\d+|-.*\s.*", re.DOTALL)
# click >= 8.2 names its parser _OptionParser (OptionParser before); it is subclassed for one rule
_Parser = getattr(click.parser, "_OptionParser", None) or getattr(click.parser, "OptionParser")


class _ValueFirstParser(_Parser):
    def _process_opts(self, arg: str, state) -> None:
        name = arg.split("=", 1)[0]
        if name not in self._long_opt and name not in self._short_opt and _VALUE.fullmatch(arg):
            state.largs.append(arg)
            return
        super()._process_opts(arg, state)


class ValueFirstCommand(click.Command):
    """A command that reads `-1` and `"-5 degrees"` as arguments and says how to pass `-x`."""

    def make_parser(self, ctx: click.Context):
        parser = _ValueFirstParser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as e:
            if not e.possibilities and any(isinstance(p, click.Argument) for p in self.params):
                e.message = e.message.rstrip(".") + "; to pass a value that begins with '-', put -- before it"
            raise
