"""Versioned adapter folders: staged, hashed, renamed into place and activated in one transaction.

Layout: `$AMEND_HOME/adapters/<profile>/v<N>/` holds the peft files (adapter_config.json,
adapter_model.safetensors) and `manifest.json`: the SHA-256 of every other file, the facts the
adapter covers ({id: text}, so a later edit of one is noticed), the derived statements it was
taught per fact (so a later re-settle that rejects one is noticed), the training metrics, the
profile and the base model's key. The Adapter row's sha256 is that of manifest.json, so one
digest vouches for the whole folder.

Publishing is crash-safe in this order: train into `.tmp-<pid>-*` inside the profile's folder,
write the manifest, `os.rename` to `v<N>` (atomic on one file system), then register and
activate the row in one transaction. A process killed before the commit leaves an orphan folder
and the previous adapter active; `clean_orphans` (run at the start of every update, under the
same file lock as publishing) deletes folders that no row names and whose writer is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from amend.config import Settings
from amend.store.adapters import active_adapter, list_adapters, next_version, register_adapter
from amend.store.schema import Adapter

MANIFEST = "manifest.json"
STAGING_PREFIX = ".tmp-"


def profile_dir(settings: Settings, profile: str) -> Path:
    return settings.adapters_dir / profile


def _lock(settings: Settings, profile: str) -> FileLock:
    folder = profile_dir(settings, profile)
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".lock"))


def staging_dir(settings: Settings, profile: str) -> Path:
    """A fresh temporary folder inside the profile's adapter folder (same file system as vN)."""
    folder = profile_dir(settings, profile)
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, profile: str, base_model: str, facts: dict[int, str], metrics: dict,
                   version: int | None = None, statements: dict[int, list[list[str]]] | None = None) -> str:
    """Write manifest.json into `folder` (after the adapter files); returns its SHA-256.
    `statements`: the derived statements it was taught, per fact, as [text, question, short
    answer] rows (adapters written before short answers have [text, question])."""
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    manifest = {
        "version": version, "profile": profile, "base_model": base_model, "files": files,
        "facts": {str(k): v for k, v in sorted(facts.items())}, "metrics": metrics,
    }
    if statements is not None:
        manifest["statements"] = {str(k): v for k, v in sorted(statements.items())}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    with path.open("rb") as f:
        os.fsync(f.fileno())
    return sha256_file(path)


def read_manifest(folder: Path | str) -> dict | None:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def verify(folder: Path | str, sha256: str | None = None) -> bool:
    """The folder's files match its manifest (and the manifest matches `sha256`, if given)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None or (sha256 and sha256_file(folder / MANIFEST) != sha256):
        return False
    return all((folder / n).is_file() and sha256_file(folder / n) == h for n, h in manifest["files"].items())


def covered_facts(adapter: Adapter | None) -> dict[int, str] | None:
    """{fact id: text} the adapter was trained on (from its manifest); None if unknown."""
    if adapter is None:
        return {}
    manifest = read_manifest(adapter.path)
    if manifest is None:
        return None
    return {int(k): v for k, v in manifest.get("facts", {}).items()}


def taught_statements(adapter: Adapter | None) -> dict[int, list[tuple[str, str | None, str | None]]] | None:
    """{fact id: [(statement, question)]} the adapter was taught beside its facts; None if its
    manifest does not say (one written before amend recorded them)."""
    manifest = read_manifest(adapter.path) if adapter is not None else None
    if manifest is None or "statements" not in manifest:
        return None
    return {int(k): [(row[0], row[1], row[2] if len(row) > 2 else None) for row in v]
            for k, v in manifest["statements"].items()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_orphans(store, settings: Settings, profile: str) -> list[Path]:
    """Delete staging folders of dead processes and vN folders no row names; returns them.

    The rows are read under the publishing lock, so a folder being published is never taken
    for an orphan.
    """
    folder = profile_dir(settings, profile)
    if not folder.is_dir():
        return []
    removed = []
    with _lock(settings, profile):
        with store.session(write=False) as session:
            known = {Path(a.path).resolve() for a in list_adapters(session, profile)}
        for child in folder.iterdir():
            if not child.is_dir():
                continue
            if child.name.startswith(STAGING_PREFIX):
                pid = child.name[len(STAGING_PREFIX):].split("-", 1)[0]
                if pid.isdigit() and _alive(int(pid)):
                    continue  # a live process (maybe this one) is still writing it
            elif child.resolve() in known or not child.name.startswith("v"):
                continue
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


@dataclass
class Published:
    version: int
    path: Path
    sha256: str


def publish(store, settings: Settings, profile: str, staged: Path, base_model: str, facts: dict[int, str],
            metrics: dict, training_run_id: int | None = None, in_transaction=None,
            statements: dict[int, list[list[str]]] | None = None) -> Published:
    """Give `staged` its manifest, rename it to v<N> and register+activate it in one transaction.

    `in_transaction(session, path)` runs after the rename, inside the same transaction (the
    pipeline finishes its jobs there, so an adapter and the jobs it completes commit together).
    """
    with _lock(settings, profile), store.session() as session:
        version = next_version(session, profile)
        final = profile_dir(settings, profile) / f"v{version}"
        if final.exists():  # left by a process that died before its commit (no row names it)
            shutil.rmtree(final)
        sha = write_manifest(staged, profile, base_model, facts, metrics, version, statements)
        os.rename(staged, final)
        register_adapter(session, profile, version, str(final), sha, sorted(facts), metrics,
                         training_run_id=training_run_id, activate=True)
        if in_transaction:
            in_transaction(session, final)
    return Published(version, final, sha)


def active_folder(session, profile: str) -> Path | None:
    """The active adapter's folder if it exists and matches its manifest, else None."""
    adapter = active_adapter(session, profile)
    if adapter is None or not verify(adapter.path, adapter.sha256):
        return None
    return Path(adapter.path)
