"""Adapter versions: numbering, one active per profile, activate and roll back."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from amend.store.adapters import (activate_adapter, active_adapter, deactivate_adapters, list_adapters, next_version,
                                  register_adapter, rollback_adapter)
from amend.store.errors import NotFound, StoreError
from amend.store.schema import Adapter


def register(s, profile="tiny", activate=True):
    v = next_version(s, profile)
    return register_adapter(s, profile, v, f"/a/{profile}/v{v}", "ab" * 32, [1, 2], {"loss": 0.1}, activate=activate)


def test_versions_and_activation(store):
    with store.session() as s:
        assert next_version(s, "tiny") == 1
        assert active_adapter(s, "tiny") is None
        a1 = register(s)
        a2 = register(s)
        register(s, profile="qwen-coder")
    with store.session() as s:
        assert next_version(s, "tiny") == 3
        assert active_adapter(s, "tiny").version == 2
        assert active_adapter(s, "qwen-coder").version == 1
        assert [(a.version, a.active) for a in list_adapters(s, "tiny")] == [(1, False), (2, True)]
        assert len(list_adapters(s)) == 3
        assert (a1.facts, a1.metrics, a2.path) == ([1, 2], {"loss": 0.1}, "/a/tiny/v2")
        register(s, activate=False)
        assert active_adapter(s, "tiny").version == 2


def test_rollback_and_activate(store):
    with store.session() as s:
        with pytest.raises(StoreError, match="no active adapter"):
            rollback_adapter(s, "tiny")
        register(s)
        with pytest.raises(StoreError, match="no adapter version before 1"):
            rollback_adapter(s, "tiny")
        register(s)
        register(s)
    with store.session() as s:
        assert rollback_adapter(s, "tiny").version == 2
    with store.session() as s:
        assert rollback_adapter(s, "tiny").version == 1
        assert activate_adapter(s, "tiny", 3).version == 3
        assert [a.version for a in list_adapters(s, "tiny") if a.active] == [3]
        with pytest.raises(NotFound):
            activate_adapter(s, "tiny", 9)
        deactivate_adapters(s, "tiny")
        assert active_adapter(s, "tiny") is None


def test_database_refuses_two_active(store):
    with pytest.raises(IntegrityError):
        with store.session() as s:
            register(s)
            s.add(Adapter(profile="tiny", version=2, path="p", sha256="x", facts=[], metrics={}, active=True))
            s.flush()
