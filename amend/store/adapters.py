"""Adapter versions of each profile's expert: register, activate, roll back.

Activation is one transaction: the previous active version is switched off before the new one
is switched on (a partial unique index allows one active adapter per profile).
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from amend.store.errors import NotFound, StoreError
from amend.store.schema import Adapter


def next_version(session: Session, profile: str) -> int:
    """1 + the newest version of this profile (1 for the first)."""
    newest = session.scalar(select(func.max(Adapter.version)).where(Adapter.profile == profile))
    return (newest or 0) + 1


def _deactivate(session: Session, profile: str) -> None:
    session.execute(
        update(Adapter).where(Adapter.profile == profile, Adapter.active.is_(True)).values(active=False)
    )
    session.flush()


def register_adapter(session: Session, profile: str, version: int, path: str, sha256: str, facts: list[int],
                     metrics: dict, training_run_id: int | None = None, activate: bool = True) -> Adapter:
    """Record a saved adapter; with activate, it becomes the profile's active one."""
    if activate:
        _deactivate(session, profile)
    adapter = Adapter(profile=profile, version=version, path=str(path), sha256=sha256, facts=list(facts),
                      metrics=dict(metrics or {}), training_run_id=training_run_id, active=activate)
    session.add(adapter)
    session.flush()
    return adapter


def active_adapter(session: Session, profile: str) -> Adapter | None:
    return session.scalars(select(Adapter).where(Adapter.profile == profile, Adapter.active.is_(True))).first()


def list_adapters(session: Session, profile: str | None = None) -> list[Adapter]:
    """Adapters by profile, then version, oldest first."""
    query = select(Adapter).order_by(Adapter.profile, Adapter.version)
    if profile is not None:
        query = query.where(Adapter.profile == profile)
    return list(session.scalars(query))


def get_adapter(session: Session, profile: str, version: int) -> Adapter:
    adapter = session.scalars(select(Adapter).where(Adapter.profile == profile, Adapter.version == version)).first()
    if adapter is None:
        raise NotFound(f"no adapter version {version} for profile {profile}")
    return adapter


def activate_adapter(session: Session, profile: str, version: int) -> Adapter:
    adapter = get_adapter(session, profile, version)
    if not adapter.active:
        _deactivate(session, profile)
        adapter.active = True
        session.flush()
    return adapter


def deactivate_adapters(session: Session, profile: str) -> None:
    """No active adapter for the profile: the assistant answers with the large model alone."""
    _deactivate(session, profile)


def rollback_adapter(session: Session, profile: str) -> Adapter:
    """Activate the version before the active one."""
    current = active_adapter(session, profile)
    if current is None:
        raise StoreError(f"profile {profile} has no active adapter to roll back")
    before = session.scalars(
        select(Adapter).where(Adapter.profile == profile, Adapter.version < current.version)
        .order_by(Adapter.version.desc())
    ).first()
    if before is None:
        raise StoreError(f"profile {profile} has no adapter version before {current.version}")
    return activate_adapter(session, profile, before.version)
