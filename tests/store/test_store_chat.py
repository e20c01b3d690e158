"""Chat sessions and messages."""

from __future__ import annotations

import pytest

from amend.store.chat import add_message, create_session, get_session, list_sessions, messages
from amend.store.errors import NotFound, StoreError


def test_sessions_and_messages(store):
    with store.session() as s:
        one = create_session(s, "first", "tiny")
        two = create_session(s, "second", "tiny")
        add_message(s, one.id, "user", "Where is Kell?")
        add_message(s, one.id, "assistant", "In Ostrava Minor.", meta={"alpha": 1.0, "tokens": 5})
    with store.session() as s:
        assert [c.title for c in list_sessions(s)] == ["second", "first"]
        msgs = messages(s, one.id)
        assert [(m.role, m.content) for m in msgs] == [("user", "Where is Kell?"), ("assistant", "In Ostrava Minor.")]
        assert msgs[1].meta == {"alpha": 1.0, "tokens": 5}
        assert [m.content for m in get_session(s, one.id).messages] == ["Where is Kell?", "In Ostrava Minor."]
        assert messages(s, two.id) == []
        with pytest.raises(NotFound, match="no chat session with id 99"):
            add_message(s, 99, "user", "x")
        with pytest.raises(StoreError, match="unknown chat role"):
            add_message(s, one.id, "robot", "x")
