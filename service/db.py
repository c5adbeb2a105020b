"""Storage: API keys, live conversations and feedback, in any SQLAlchemy 2.x database.

Tables are created on start (``create_all``); SQLite is the default and runs in WAL mode so
several workers can read while one writes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker
from sqlalchemy.pool import StaticPool


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, list[dict]: JSON}


class ApiKey(Base):
    """A key is shown once at creation; only its SHA-256 is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StoredConversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("tenant", "ext_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    ext_id: Mapped[str] = mapped_column(String(128))
    lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    channel: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    turns: Mapped[list[StoredTurn]] = relationship(order_by="StoredTurn.position", cascade="all, delete-orphan",
                                                     lazy="selectin")


class StoredTurn(Base):
    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("conversation_pk", "position"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_pk: Mapped[int] = mapped_column(ForeignKey("conversations.pk", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    ts: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FeedbackRow(Base):
    """One popup answer or reviewer correction, with a snapshot of the turn and its context."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    conversation_id: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    turn_index: Mapped[int] = mapped_column(Integer)
    context: Mapped[list[dict]] = mapped_column()  # turns before the judged one (redacted)
    text: Mapped[str] = mapped_column(Text)  # the judged agent turn or draft (redacted)
    action: Mapped[str] = mapped_column(String(16))
    flag: Mapped[str | None] = mapped_column(String(32), nullable=True)
    gold: Mapped[list[str]] = mapped_column(default=list)
    skip: Mapped[list[str]] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def make_engine(url: str) -> Engine:
    """Engine for ``url`` with the tables created; SQLite files get their folder and WAL mode."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:  # one in-memory database shared by every thread, not one per connection
            kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    Base.metadata.create_all(engine)
    return engine


def make_sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
