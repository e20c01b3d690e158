"""The `amend` command (also `python -m amend`): the root group and its subcommands.

A UserError raised anywhere below becomes one line on stderr (control characters escaped) and
its exit code (1; 75 for a busy database, see amend.errors), never a traceback; click's usage
errors exit with 2.
"""

from __future__ import annotations

import sys

import click

from amend.commands import ask as ask_cmd
from amend.commands import chat as chat_cmd
from amend.commands import config as config_cmd
from amend.commands import db as db_cmd
from amend.commands import derive as derive_cmd
from amend.commands import eval as eval_cmd
from amend.commands import facts as facts_cmd
from amend.commands import models as models_cmd
from amend.commands import adapters as adapters_cmd
from amend.commands import update as update_cmd
from amend.errors import UserError


class AmendGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as e:
            from amend.store.printable import printable

            error = click.ClickException(printable(str(e)))
            error.exit_code = e.exit_code
            raise error from None


@click.group(cls=AmendGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amend")
def cli() -> None:
    """amend: a terminal assistant whose knowledge you can edit.

    State facts; amend derives what follows from them and what contradicts them, teaches the
    consistent set to a small expert model (LoRA), and answers with a large model that the
    expert steers token by token (proxy-tuning).

    Settings come from flags, then AMEND_* environment variables, then $AMEND_HOME/config.toml.
    """


cli.add_command(ask_cmd.ask)
cli.add_command(chat_cmd.chat)
cli.add_command(config_cmd.config)
cli.add_command(db_cmd.db)
cli.add_command(derive_cmd.derive)
cli.add_command(eval_cmd.eval_cmd)
cli.add_command(facts_cmd.facts)
cli.add_command(models_cmd.models)
cli.add_command(adapters_cmd.adapters)
cli.add_command(update_cmd.update)
cli.add_command(update_cmd.worker)


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # a character the terminal's encoding lacks is escaped, not fatal
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    cli(prog_name="amend")
