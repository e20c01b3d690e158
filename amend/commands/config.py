"""`amend config`: the effective settings and where each came from."""

from __future__ import annotations

import json

import click

from amend.config import Settings, setting_names
from amend.errors import UserError

from .common import settings


def machine_rows(s: Settings) -> dict[str, tuple[str, str]]:
    """What amend picked for this machine: the models' dtypes (and why) and the OpenMP settings."""
    from amend.machine import thread_report
    from amend.models.load import choose_dtypes
    from amend.models.profiles import get_profile

    rows = {}
    try:
        profile = get_profile(s)
    except UserError as e:
        rows["dtypes"] = ("?", str(e))
    else:
        device = "cpu" if s.device in ("auto", "cpu") else s.device
        chosen = choose_dtypes(s, profile, device)
        where = "on the CPU (a GPU uses the profile's dtypes)" if s.device == "auto" else f"on {device}"
        rows["dtypes"] = (f"large {chosen.large}, small {chosen.small}", f"{profile.name} {where}: {chosen.reason}")
    for name, (value, source) in thread_report().items():
        rows[name] = (value, source)
    return rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {name: {value, source}}.")
def config(as_json: bool) -> None:
    """Print the effective settings and where each came from.

    Precedence: flags > AMEND_<NAME> environment variables > $AMEND_HOME/config.toml > defaults.
    """
    s = settings()
    rows = {name: (getattr(s, name), s.sources[name]) for name in setting_names()}
    rows["database"] = (s.db_url, "derived from database_url and home")
    rows.update(machine_rows(s))
    if as_json:
        click.echo(json.dumps({k: {"value": str(v), "source": src} for k, (v, src) in rows.items()}, indent=2))
        return
    width = max(map(len, rows))
    for name, (value, source) in rows.items():
        click.echo(f"{name:<{width}}  {value}  ({source})")
    click.echo(f"\nconfig file: {s.config_file}{'' if s.config_file.exists() else ' (not present)'}")
    if s.user_profiles:
        click.echo(f"profiles declared there: {', '.join(s.user_profiles)}")
