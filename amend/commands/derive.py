"""`amend derive TEXT`: run the deductive closure for one fact and print it; writes nothing."""

from __future__ import annotations

import json

import click

from amend.errors import UserError

from .common import profile_option, progress_bars, settings


@click.command()
@click.argument("text")
@profile_option
@click.option("--related", "-r", "related", multiple=True, metavar="TEXT",
              help="A fact to combine with TEXT (repeatable); the most related active facts in the store are added.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def derive(text: str, profile: str | None, related: tuple[str, ...], as_json: bool) -> None:
    """Derive what follows from TEXT and what contradicts it, score each statement given the facts
    it came from, and show the most probable consistent set with the reason for each verdict
    (TEXT and the related facts are trusted). Nothing is stored."""
    from amend.models.load import load_profile
    from amend.training.dct.derive import DeriveSettings
    from amend.training.dct.derive import derive as run_derivation

    if not text.strip():
        raise UserError("derive: the fact is empty")
    s = settings(profile=profile)
    facts = [r for r in related if r.strip()] + _store_related(s, text)
    with progress_bars() as report:
        lp = load_profile(settings=s, on_progress=report)
        d = run_derivation(lp, text, facts, DeriveSettings.from_settings(s), on_progress=report)
    if as_json:
        click.echo(json.dumps(d.to_json(), indent=2))
    else:
        _table(d)


def _store_related(s, text: str) -> list[str]:
    """The related_k active facts nearest to TEXT, if there is a store; nothing is written to it."""
    from amend.store.db import open_store
    from amend.store.related import related_facts

    if not s.database_url and not (s.home / "amend.db").exists():
        return []  # no store yet: do not create one
    from amend.models.embed import embed

    store = open_store(s)
    try:
        with store.session() as session:
            found = [f.text for f, _ in related_facts(session, text, s.related_k, embed)]
            session.rollback()  # related_facts caches new vectors; derive writes nothing
    finally:
        store.dispose()
    return found


def _table(d) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{d.fact}  ({d.seconds:.1f} s, {d.generator}, {d.scoring} scores)", title_justify="left")
    for col, kw in [("kind", {}), ("statement / question", {"overflow": "fold"}), ("p_true", {"justify": "right"}),
                    ("accepted", {}), ("reason", {"overflow": "fold"})]:
        table.add_column(col, **kw)
    for st in d.statements:
        asked = st.question + (f" -> {st.answer}" if st.answer else "")
        table.add_row(st.kind, f"{escape(st.text)}\n[dim]{escape(asked)}[/dim]", f"{st.p_true:.2f}",
                      "[green]yes[/green]" if st.accepted else "[red]no[/red]", st.reason)
    console = Console()
    if d.related:
        console.print("related: " + "; ".join(d.related))
    console.print(table if d.statements else "no statements derived")
