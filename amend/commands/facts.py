"""`amend facts`: add, list, show, edit, retract, restore, import and export facts.

Every change stores the fact and one update job in a single transaction; `--no-update` leaves
the job pending. Only the store is imported here: these commands start fast (no torch).

The conventions of simonw/llm and sqlite-utils: `-` is standard input (import) or output
(export); `list` streams its rows (-n/--limit, --offset) as a table, --json, --nl or --csv;
changes print JSON with --json (everything else they print then goes to stderr); an argument
that looks like a negative number or holds a space is a value, not an option. Texts are printed
with control characters escaped (amend.store.printable), so a fact cannot drive the terminal.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext, redirect_stdout
from textwrap import indent

import click

from .common import FACT_ID, TEXT, ValueFirstCommand, profile_option, progress_bars, settings

no_update_option = click.option(
    "--no-update", is_flag=True, help="Store the change and leave the update job pending (default: update the expert now)."
)
keep_both_option = click.option(
    "--keep-both", is_flag=True, help="If the new fact contradicts an active one, keep both (do not supersede)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (other messages go to stderr).")
format_option = click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "txt"]), default=None,
                             help="File format (default: from the extension; import tells standard input's from its "
                                  "first line, export writes JSONL to -).")
BIG_FILE = 1_000_000  # bytes: imports of bigger files show a progress bar


class FactsGroup(click.Group):
    command_class = ValueFirstCommand


def _open(s=None):
    from amend.store import open_store

    return open_store(s or settings())


def _stdout():
    """sys.stdout, or one line saying it is closed (`amend ... >&-` leaves it None)."""
    if sys.stdout is None:
        from amend.errors import UserError

        raise UserError("standard output is closed: nothing can be written")
    return sys.stdout


def _show(text: str | None) -> str:
    from amend.store.printable import printable

    return printable(text or "")


def _emit(as_json: bool, data: dict, line: str) -> None:
    """The result of a change: JSON on stdout with --json, else one line."""
    if as_json:
        from amend.store.printable import json_text

        click.echo(json_text(data, indent=2))
    else:
        click.echo(line)


def _after_change(settings, jobs, no_update: bool, as_json: bool = False) -> None:
    """What happens once a change is stored: the one place where the update is started."""
    jobs = [j for j in jobs if j is not None]
    if not jobs:
        return
    with redirect_stdout(sys.stderr) if as_json else nullcontext():  # stdout holds only the JSON
        if no_update:
            click.echo(f"update left pending (job {', '.join(str(j.id) for j in jobs)})")
            return
        from .update import run_foreground  # imports training (and torch) only now

        run_foreground(settings)


def _fact_json(fact) -> dict:
    return {"id": fact.id, "text": fact.text, "status": fact.status, "source": fact.source,
            "created": fact.created.isoformat(), "updated": fact.updated.isoformat(),
            "superseded_by": fact.superseded_by, "status_reason": fact.status_reason}


def _change(verb: str, as_json: bool, fact, job) -> None:
    _emit(as_json, _fact_json(fact) | {"job": job.id}, f"{verb} fact {fact.id}: {_show(fact.text)}")


@click.group(cls=FactsGroup)
def facts() -> None:
    """Add, change and list the facts the assistant learns."""


@facts.command()
@click.argument("text", type=TEXT)
@click.option("--source", "-s", type=TEXT, default=None, help="Where the fact comes from (free text).")
@no_update_option
@keep_both_option
@json_option
@profile_option
def add(text: str, source: str | None, no_update: bool, keep_both: bool, as_json: bool, profile: str | None) -> None:
    """Add a fact."""
    from amend.store.facts import add_fact

    s = settings(profile=profile)
    with _open(s) as store, store.session() as session:
        fact, job = add_fact(session, text, source=source, keep_both=keep_both)
    _change("added", as_json, fact, job)
    _after_change(s, [job], no_update, as_json)


class _TerminalSafe:
    """A text stream that escapes control characters, for data written to a terminal."""

    def __init__(self, stream):
        from amend.store.printable import printable

        self._stream, self._printable = stream, printable

    def write(self, text: str) -> int:
        return self._stream.write(self._printable(text.replace("\r\n", "\n"), keep="\n"))


def _write_list(rows, out, include_all: bool, width: int) -> int:
    """The plain listing: `ID  [STATUS] TEXT` a line; how many rows it wrote."""
    count = 0
    for f in rows:
        status = f"{f.status:<10} " if include_all else ""
        out.write(f"{f.id:>{width}}  {status}{_show(f.text)}\n")
        count += 1
    return count


@facts.command("list")
@click.option("--all", "include_all", is_flag=True, help="Also retracted and superseded facts.")
@click.option("--search", "-q", type=TEXT, default=None, metavar="Q", help="Only facts containing Q (any case).")
@click.option("--limit", "-n", type=click.IntRange(0, 2**63 - 1), default=None, metavar="N", help="At most N facts.")
@click.option("--offset", type=click.IntRange(0, 2**63 - 1), default=0, metavar="N", help="Skip the first N facts.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of facts.")
@click.option("--nl", "as_nl", is_flag=True, help="Print newline-delimited JSON: one fact a line.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header (as `export` writes it).")
def list_(include_all: bool, search: str | None, limit: int | None, offset: int, as_json: bool, as_nl: bool,
          as_csv: bool) -> None:
    """List the active facts (--all: every fact), oldest first, as they are read."""
    if as_json + as_nl + as_csv > 1:
        raise click.UsageError("choose one of --json, --nl and --csv")
    from sqlalchemy import func, select

    from amend.store.facts import iter_facts
    from amend.store.printable import json_text
    from amend.store.schema import Fact

    out = _stdout()
    with _open() as store, store.session(write=False) as session:
        rows = iter_facts(session, include_all=include_all, search=search, limit=limit, offset=offset)
        if as_csv:
            from amend.store.exporter import fact_record, write_records

            write_records(map(fact_record, rows), _TerminalSafe(out) if out.isatty() else out, "csv")
        elif as_nl:
            for f in rows:
                out.write(json_text(_fact_json(f)) + "\n")
        elif as_json:
            sep = "[\n"
            for f in rows:
                out.write(sep + indent(json_text(_fact_json(f), indent=2), "  "))
                sep = ",\n"
            out.write("[]\n" if sep == "[\n" else "\n]\n")
        else:
            width = len(str(session.scalar(select(func.max(Fact.id))) or 0))
            if not _write_list(rows, out, include_all, width):
                where = f" matching {_show(search)!r}" if search else ""
                out.write(f"no facts{where} (add one: amend facts add TEXT)\n")


@facts.command()
@click.argument("fact_id", metavar="ID", type=FACT_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(fact_id: int, as_json: bool) -> None:
    """Show a fact with its earlier texts and the statements derived from it."""
    from amend.store.derived import statements_for
    from amend.store.facts import get_fact

    with _open() as store, store.session(write=False) as session:
        fact = get_fact(session, fact_id)
        revisions = [{"text": r.text, "replaced": r.created.isoformat()} for r in fact.revisions]
        derived = [{"id": d.id, "text": d.text, "kind": d.kind, "question": d.question, "answer": d.answer,
                    "p_true": d.p_true,
                    "truth": d.truth, "accepted": d.accepted, "reason": d.reason, "profile": d.profile,
                    "parents": [p.id for p in d.parents]} for d in statements_for(session, fact_id)]
        data = _fact_json(fact) | {"revisions": revisions, "derived": derived}
    if as_json:
        _emit(True, data, "")
        return
    click.echo(f"fact {fact_id} ({data['status']}): {_show(data['text'])}")
    if data["source"]:
        click.echo(f"  source: {_show(data['source'])}")
    click.echo(f"  created {data['created']}, updated {data['updated']}")
    if data["superseded_by"]:
        click.echo(f"  superseded by fact {data['superseded_by']}")
    if data["status_reason"]:
        click.echo(f"  reason: {_show(data['status_reason'])}")
    if revisions:
        click.echo("earlier texts:")
        for r in revisions:
            click.echo(f"  {r['replaced']}  {_show(r['text'])}")
    if derived:
        click.echo("derived statements:")
        for d in derived:
            mark = "accepted" if d["accepted"] else "rejected"
            click.echo(f"  [{d['kind']}, p={d['p_true']:.2f}, {mark}] {_show(d['text'])}")
            if d["reason"]:
                click.echo(f"      {_show(d['reason'])}")


@facts.command()
@click.argument("fact_id", metavar="ID", type=FACT_ID)
@click.argument("text", type=TEXT)
@no_update_option
@json_option
@profile_option
def edit(fact_id: int, text: str, no_update: bool, as_json: bool, profile: str | None) -> None:
    """Give an active fact a new text (the old one stays in its history)."""
    from amend.store.facts import edit_fact

    s = settings(profile=profile)
    with _open(s) as store, store.session() as session:
        fact, job = edit_fact(session, fact_id, text)
    _change("edited", as_json, fact, job)
    _after_change(s, [job], no_update, as_json)


@facts.command()
@click.argument("fact_id", metavar="ID", type=FACT_ID)
@click.option("--reason", "-r", type=TEXT, default=None, help="Why (kept with the fact).")
@no_update_option
@json_option
@profile_option
def retract(fact_id: int, reason: str | None, no_update: bool, as_json: bool, profile: str | None) -> None:
    """Stop holding a fact true (it stays in `list --all`; `restore` brings it back)."""
    from amend.store.facts import retract_fact

    s = settings(profile=profile)
    with _open(s) as store, store.session() as session:
        fact, job = retract_fact(session, fact_id, reason)
    _change("retracted", as_json, fact, job)
    _after_change(s, [job], no_update, as_json)


@facts.command()
@click.argument("fact_id", metavar="ID", type=FACT_ID)
@no_update_option
@json_option
@profile_option
def restore(fact_id: int, no_update: bool, as_json: bool, profile: str | None) -> None:
    """Make a retracted or superseded fact active again."""
    from amend.store.facts import restore_fact

    s = settings(profile=profile)
    with _open(s) as store, store.session() as session:
        fact, job = restore_fact(session, fact_id)
    _change("restored", as_json, fact, job)
    _after_change(s, [job], no_update, as_json)


@facts.command("import")
@click.argument("file", type=click.Path(allow_dash=True, path_type=str))
@format_option
@click.option("--dry-run", is_flag=True, help="Check the file and count what would be added; write nothing.")
@no_update_option
@keep_both_option
@json_option
@profile_option
def import_(file: str, fmt: str | None, dry_run: bool, no_update: bool, keep_both: bool, as_json: bool,
            profile: str | None) -> None:
    """Import facts from a TXT, CSV or JSONL file (- reads standard input), all or nothing.

    TXT: one fact a line (blank lines and # comments skipped; \\# begins a fact with #). CSV: a
    header with a `text` (or `fact`) column, optional `source`. JSONL: objects with `text`,
    optional `source`. UTF-8, or UTF-16/32 with a byte order mark; CR, LF or CRLF line endings.
    Facts already held are skipped and counted; if any line is bad, every bad line is listed as
    FILE:LINE and nothing is written.
    """
    from amend.store.importer import ImportFailed, import_facts
    from amend.store.textfile import open_text

    s = settings(profile=profile)
    with open_text(file) as source:  # the file's own problems come before the database is touched
        big = (source.size or 0) > BIG_FILE and sys.stderr.isatty()  # a bar for people, nothing in scripts
        try:
            with _open(s) as store, progress_bars(enabled=big) as report, store.session() as session:
                result = import_facts(session, source, fmt=fmt, dry_run=dry_run, keep_both=keep_both,
                                      on_progress=report if big else None)
        except ImportFailed as e:
            for line in e.errors:
                click.echo(line, err=True)
            raise
    if as_json:
        _emit(True, {"file": result.name, "format": result.format, "dry_run": dry_run, "added": result.added,
                     "duplicates": result.duplicates, "skipped": result.skipped, "fact_ids": result.fact_ids,
                     "job": result.job.id if result.job else None}, "")
    else:
        verb = "would import" if dry_run else "imported"
        notes = [f"{result.duplicates} duplicate{'s' if result.duplicates != 1 else ''} skipped"]
        if result.skipped:
            notes.append(f"{result.skipped} blank or comment line{'s' if result.skipped != 1 else ''}")
        if result.format_guessed:
            notes.insert(0, f"read as {result.format.upper()}")
        click.echo(f"{verb} {result.added} fact{'s' if result.added != 1 else ''} from {result.name} ({', '.join(notes)})")
    _after_change(s, [result.job], no_update, as_json)


@facts.command()
@click.argument("file", type=click.Path(allow_dash=True, path_type=str))
@format_option
@click.option("--all", "include_all", is_flag=True, help="Also retracted and superseded facts.")
def export(file: str, fmt: str | None, include_all: bool) -> None:
    """Write the facts to a JSONL, CSV or TXT file (format from the extension; - is standard output).

    An existing file is replaced whole (a symbolic link is written through); CSV cells that a
    spreadsheet would run as formulas get a leading ' (import takes it off again).
    """
    from amend.store.exporter import export_facts
    from amend.store.formats import STDIO

    to_stdout = file == STDIO
    out = _stdout() if to_stdout else None
    if out is not None and out.isatty():
        out = _TerminalSafe(out)
    with _open() as store, store.session(write=False) as session:
        count = export_facts(session, file, fmt=fmt, include_all=include_all, stdout=out)
    where = "standard output" if to_stdout else _show(file)
    click.echo(f"exported {count} fact{'s' if count != 1 else ''} to {where}", err=to_stdout)
