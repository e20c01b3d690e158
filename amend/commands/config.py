"""`amend config`: the effective settings and where each came from."""

from __future__ import annotations

import json

import click

from amend.config import setting_names

from .common import settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {name: {value, source}}.")
def config(as_json: bool) -> None:
    """Print the effective settings and where each came from.

    Precedence: flags > AMEND_<NAME> environment variables > $AMEND_HOME/config.toml > defaults.
    """
    s = settings()
    rows = {name: (getattr(s, name), s.sources[name]) for name in setting_names()}
    rows["database"] = (s.db_url, "derived from database_url and home")
    if as_json:
        click.echo(json.dumps({k: {"value": str(v), "source": src} for k, (v, src) in rows.items()}, indent=2))
        return
    width = max(map(len, rows))
    for name, (value, source) in rows.items():
        click.echo(f"{name:<{width}}  {value}  ({source})")
    click.echo(f"\nconfig file: {s.config_file}{'' if s.config_file.exists() else ' (not present)'}")
    if s.user_profiles:
        click.echo(f"profiles declared there: {', '.join(s.user_profiles)}")
