"""`amend chat`: the terminal UI (chat, facts, import, training progress) in one window."""

from __future__ import annotations

import os
import sys

import click

from .common import profile_option, settings


@click.command()
@profile_option
@click.option("--session", "session_id", type=int, default=None, metavar="N",
              help="Resume chat session N (its earlier messages are shown and kept as context).")
def chat(profile: str | None, session_id: int | None) -> None:
    """Chat with the assistant and teach it facts, in a terminal UI.

    Ask in the Chat tab; add a fact with ctrl+n and watch the expert update; browse, edit,
    retract and import facts in the Facts tab. F1 lists every key; ctrl+q quits.
    """
    from amend.models.profiles import get_profile
    from amend.tui import data
    from amend.tui.wiring import real_services

    s = settings(profile=profile)
    s.profile = get_profile(s).name  # an unknown profile is one line here, not a broken window
    services = real_services(s)
    if session_id is not None:
        data.chat_messages(services.store, session_id)  # NotFound: "no chat session with id N"

    from amend.tui.app import run_app

    app = run_app(services, session_id)
    if app.session_id is not None:
        click.echo(f"Chat session {app.session_id} kept: `amend chat --session {app.session_id}` resumes it.")
    if app.updating:
        click.echo("An update was still running; `amend update` finishes it.")
    if app.busy_threads:
        # a model thread (loading, answering or training) cannot be interrupted; the store and
        # the adapters are safe against a stop at any moment, so leave without waiting for it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(app.return_code or 0)
