"""`amend adapters`: list the expert's adapter versions, activate one, roll back.

Store only (no torch): these start fast. Activating checks the folder against its manifest, so
a damaged or missing version is refused instead of breaking the assistant later.
"""

from __future__ import annotations

import json

import click

from amend.errors import UserError

from .common import profile_option, settings


def _open(profile: str | None):
    from amend.store import open_store

    s = settings(profile=profile)
    return s, open_store(s)


def adapter_json(a) -> dict:
    metrics = a.metrics or {}
    return {
        "version": a.version, "active": bool(a.active), "created": a.created.isoformat(), "facts": list(a.facts or []),
        "profile": a.profile, "path": a.path, "sha256": a.sha256, "mode": metrics.get("mode"),
        "steps": metrics.get("steps"), "loss": metrics.get("final_loss"), "training_run": a.training_run_id,
    }


@click.group()
def adapters() -> None:
    """The expert's adapter versions (one folder each under $AMEND_HOME/adapters/<profile>/)."""


@adapters.command("list")
@profile_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of adapters.")
def list_(profile: str | None, as_json: bool) -> None:
    """Adapter versions of the profile, oldest first (* marks the active one)."""
    from amend.store.adapters import list_adapters

    s, store = _open(profile)
    with store.session(write=False) as session:
        rows = [adapter_json(a) for a in list_adapters(session, s.profile)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no adapters for profile {s.profile} yet (add a fact, then `amend update`)")
        return
    for r in rows:
        loss = f"loss {r['loss']:.3f}" if r["loss"] is not None else ""
        click.echo(f"{'*' if r['active'] else ' '} v{r['version']:<4} {r['created'][:19]}  "
                   f"{len(r['facts']):>4} facts  {r['mode'] or '':<11} {loss}")


def _check_folder(a) -> None:
    from amend.training.adapters import verify

    if not verify(a.path, a.sha256):
        raise UserError(f"adapter v{a.version} of {a.profile}: {a.path} is missing or does not match its manifest")


@adapters.command()
@click.argument("version", type=int)
@profile_option
def activate(version: int, profile: str | None) -> None:
    """Make adapter VERSION the active expert."""
    from amend.store.adapters import activate_adapter, get_adapter

    s, store = _open(profile)
    with store.session() as session:
        _check_folder(get_adapter(session, s.profile, version))
        a = activate_adapter(session, s.profile, version)
    click.echo(f"adapter v{a.version} of {s.profile} is active")


@adapters.command()
@profile_option
def rollback(profile: str | None) -> None:
    """Activate the version before the active one."""
    from amend.store.adapters import rollback_adapter

    s, store = _open(profile)
    with store.session() as session:
        a = rollback_adapter(session, s.profile)
        _check_folder(a)
    click.echo(f"rolled back: adapter v{a.version} of {s.profile} is active")
