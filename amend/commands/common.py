"""What the subcommands share: the --profile option, settings from flags, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from amend.config import Settings, load_settings
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
