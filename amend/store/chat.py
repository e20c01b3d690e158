"""Chat sessions and their messages, so a conversation survives the TUI and is shared with the CLI."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from amend.store.errors import NotFound, StoreError
from amend.store.schema import ChatMessage, ChatSession

ROLES = ("system", "user", "assistant")


def create_session(session: Session, title: str = "", profile: str = "") -> ChatSession:
    chat = ChatSession(title=title, profile=profile)
    session.add(chat)
    session.flush()
    return chat


def get_session(session: Session, session_id: int) -> ChatSession:
    chat = session.get(ChatSession, session_id)
    if chat is None:
        raise NotFound(f"no chat session with id {session_id}")
    return chat


def add_message(session: Session, session_id: int, role: str, content: str, meta: dict | None = None) -> ChatMessage:
    if role not in ROLES:
        raise StoreError(f"unknown chat role {role!r} (expected one of {', '.join(ROLES)})")
    get_session(session, session_id)
    message = ChatMessage(session_id=session_id, role=role, content=content, meta=dict(meta or {}))
    session.add(message)
    session.flush()
    return message


def messages(session: Session, session_id: int) -> list[ChatMessage]:
    """The session's messages, oldest first."""
    get_session(session, session_id)
    return list(session.scalars(select(ChatMessage).where(ChatMessage.session_id == session_id).order_by(ChatMessage.id)))


def list_sessions(session: Session) -> list[ChatSession]:
    """Chat sessions, newest first."""
    return list(session.scalars(select(ChatSession).order_by(ChatSession.id.desc())))
