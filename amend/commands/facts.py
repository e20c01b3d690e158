"""`amend facts`: add, list, show, edit, retract, restore, import and export facts.

Every change stores the fact and one update job in a single transaction; `--no-update` leaves
the job pending. Only the store is imported here: these commands start fast (no torch).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import profile_option, progress_bars, settings

no_update_option = click.option(
    "--no-update", is_flag=True, help="Store the change and leave the update job pending (default: update the expert now)."
)
keep_both_option = click.option(
    "--keep-both", is_flag=True, help="If the new fact contradicts an active one, keep both (do not supersede)."
)
BIG_FILE = 1_000_000  # bytes: imports of bigger files show a progress bar


def _store(profile: str | None = None):
    from amend.store import open_store

    s = settings(profile=profile)
    return s, open_store(s)


def _after_change(settings, jobs, no_update: bool) -> None:
    """What happens once a change is stored: the one place where the update is started."""
    jobs = [j for j in jobs if j is not None]
    if not jobs:
        return
    if no_update:
        click.echo(f"update left pending (job {', '.join(str(j.id) for j in jobs)})")
        return
    from .update import run_foreground  # imports training (and torch) only now

    run_foreground(settings)


def _fact_json(fact) -> dict:
    return {"id": fact.id, "text": fact.text, "status": fact.status, "source": fact.source,
            "created": fact.created.isoformat(), "updated": fact.updated.isoformat(),
            "superseded_by": fact.superseded_by, "status_reason": fact.status_reason}


@click.group()
def facts() -> None:
    """Add, change and list the facts the assistant learns."""


@facts.command()
@click.argument("text")
@click.option("--source", "-s", default=None, help="Where the fact comes from (free text).")
@no_update_option
@keep_both_option
@profile_option
def add(text: str, source: str | None, no_update: bool, keep_both: bool, profile: str | None) -> None:
    """Add a fact."""
    from amend.store.facts import add_fact

    s, store = _store(profile)
    with store.session() as session:
        fact, job = add_fact(session, text, source=source, keep_both=keep_both)
    click.echo(f"added fact {fact.id}: {fact.text}")
    _after_change(s, [job], no_update)


@facts.command("list")
@click.option("--all", "include_all", is_flag=True, help="Also retracted and superseded facts.")
@click.option("--search", "-q", default=None, metavar="Q", help="Only facts containing Q (any case).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of facts.")
def list_(include_all: bool, search: str | None, as_json: bool) -> None:
    """List the active facts (--all: every fact)."""
    from amend.store.facts import list_facts

    _, store = _store()
    with store.session(write=False) as session:
        rows = list_facts(session, include_all=include_all, search=search)
    if as_json:
        click.echo(json.dumps([_fact_json(f) for f in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no facts" + (f" matching {search!r}" if search else "") + " (add one: amend facts add TEXT)")
        return
    width = len(str(rows[-1].id))
    for f in rows:
        status = f"{f.status:<10} " if include_all else ""
        click.echo(f"{f.id:>{width}}  {status}{f.text}")


@facts.command()
@click.argument("fact_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(fact_id: int, as_json: bool) -> None:
    """Show a fact with its earlier texts and the statements derived from it."""
    from amend.store.derived import statements_for
    from amend.store.facts import get_fact

    _, store = _store()
    with store.session(write=False) as session:
        fact = get_fact(session, fact_id)
        revisions = [{"text": r.text, "replaced": r.created.isoformat()} for r in fact.revisions]
        derived = [{"id": d.id, "text": d.text, "kind": d.kind, "question": d.question, "p_true": d.p_true,
                    "truth": d.truth, "accepted": d.accepted, "reason": d.reason, "profile": d.profile,
                    "parents": [p.id for p in d.parents]} for d in statements_for(session, fact_id)]
        data = _fact_json(fact) | {"revisions": revisions, "derived": derived}
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"fact {fact_id} ({data['status']}): {data['text']}")
    if data["source"]:
        click.echo(f"  source: {data['source']}")
    click.echo(f"  created {data['created']}, updated {data['updated']}")
    if data["superseded_by"]:
        click.echo(f"  superseded by fact {data['superseded_by']}")
    if data["status_reason"]:
        click.echo(f"  reason: {data['status_reason']}")
    if revisions:
        click.echo("earlier texts:")
        for r in revisions:
            click.echo(f"  {r['replaced']}  {r['text']}")
    if derived:
        click.echo("derived statements:")
        for d in derived:
            mark = "accepted" if d["accepted"] else "rejected"
            click.echo(f"  [{d['kind']}, p={d['p_true']:.2f}, {mark}] {d['text']}")
            if d["reason"]:
                click.echo(f"      {d['reason']}")


@facts.command()
@click.argument("fact_id", metavar="ID", type=int)
@click.argument("text")
@no_update_option
@profile_option
def edit(fact_id: int, text: str, no_update: bool, profile: str | None) -> None:
    """Give a fact a new text (the old one stays in its history)."""
    from amend.store.facts import edit_fact

    s, store = _store(profile)
    with store.session() as session:
        fact, job = edit_fact(session, fact_id, text)
    click.echo(f"edited fact {fact.id}: {fact.text}")
    _after_change(s, [job], no_update)


@facts.command()
@click.argument("fact_id", metavar="ID", type=int)
@click.option("--reason", "-r", default=None, help="Why (kept with the fact).")
@no_update_option
@profile_option
def retract(fact_id: int, reason: str | None, no_update: bool, profile: str | None) -> None:
    """Stop holding a fact true (it stays in `list --all`; `restore` brings it back)."""
    from amend.store.facts import retract_fact

    s, store = _store(profile)
    with store.session() as session:
        fact, job = retract_fact(session, fact_id, reason)
    click.echo(f"retracted fact {fact.id}: {fact.text}")
    _after_change(s, [job], no_update)


@facts.command()
@click.argument("fact_id", metavar="ID", type=int)
@no_update_option
@profile_option
def restore(fact_id: int, no_update: bool, profile: str | None) -> None:
    """Make a retracted or superseded fact active again."""
    from amend.store.facts import restore_fact

    s, store = _store(profile)
    with store.session() as session:
        fact, job = restore_fact(session, fact_id)
    click.echo(f"restored fact {fact.id}: {fact.text}")
    _after_change(s, [job], no_update)


@facts.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "txt"]), default=None,
              help="File format (default: from the extension).")
@click.option("--dry-run", is_flag=True, help="Check the file and count what would be added; write nothing.")
@no_update_option
@keep_both_option
@profile_option
def import_(file: Path, fmt: str | None, dry_run: bool, no_update: bool, keep_both: bool, profile: str | None) -> None:
    """Import facts from a TXT, CSV or JSONL file, all or nothing.

    TXT: one fact a line (blank lines and # comments skipped). CSV: a header with a `text` (or
    `fact`) column, optional `source`. JSONL: objects with `text`, optional `source`. Facts
    already held are skipped and counted; if any line is bad, every bad line is listed and
    nothing is written.
    """
    from amend.store.importer import ImportFailed, import_facts

    s, store = _store(profile)
    big = file.is_file() and file.stat().st_size > BIG_FILE
    try:
        with progress_bars(enabled=big) as report, store.session() as session:
            result = import_facts(session, file, fmt=fmt, dry_run=dry_run, keep_both=keep_both,
                                  on_progress=report if big else None)
    except ImportFailed as e:
        for line in e.errors:
            click.echo(line, err=True)
        raise
    verb = "would import" if dry_run else "imported"
    notes = [f"{result.duplicates} duplicate{'s' if result.duplicates != 1 else ''} skipped"]
    if result.skipped:
        notes.append(f"{result.skipped} blank or comment line{'s' if result.skipped != 1 else ''}")
    click.echo(f"{verb} {result.added} fact{'s' if result.added != 1 else ''} from {file} ({', '.join(notes)})")
    _after_change(s, [result.job], no_update)


@facts.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "txt"]), default=None,
              help="File format (default: from the extension).")
@click.option("--all", "include_all", is_flag=True, help="Also retracted and superseded facts.")
def export(file: Path, fmt: str | None, include_all: bool) -> None:
    """Write the facts to a JSONL, CSV or TXT file (format from the extension)."""
    from amend.store.exporter import export_facts

    _, store = _store()
    with store.session(write=False) as session:
        count = export_facts(session, file, fmt=fmt, include_all=include_all)
    click.echo(f"exported {count} fact{'s' if count != 1 else ''} to {file}")
