"""Reads and writes of conversations and feedback; every stored text passes the Scrubber."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from replyguard.schema import Conversation, ConversationCreate, FeedbackCreate, FeedbackPublic, Turn
from service.db import FeedbackRow, StoredConversation, StoredTurn
from service.privacy import Scrubber


class NotFound(LookupError):
    """No such conversation for this tenant."""


class Conflict(ValueError):
    """The conversation id is taken."""


class Store:
    """Tenant-scoped storage. Texts are redacted on the way in (when the settings say so)."""

    def __init__(self, sessions: sessionmaker, scrub: Scrubber) -> None:
        self.sessions = sessions
        self.scrub = scrub

    def ping(self) -> None:
        with self.sessions() as s:
            s.execute(text("SELECT 1"))

    # -- conversations -----------------------------------------------------------------------
    def _turn_row(self, turn: Turn, position: int) -> StoredTurn:
        return StoredTurn(position=position, role=turn.role, text=self.scrub.store(turn.text),
                          agent_id=turn.agent_id, ts=turn.ts, extra=dict(turn.model_extra or {}))

    def create_conversation(self, tenant: str, data: ConversationCreate) -> Conversation:
        cid = data.id or f"c-{uuid.uuid4().hex[:16]}"
        row = StoredConversation(tenant=tenant, ext_id=cid, lang=data.lang, channel=data.channel,
                                 extra=dict(data.model_extra or {}),
                                 turns=[self._turn_row(t, i) for i, t in enumerate(data.turns)])
        with self.sessions() as s:
            s.add(row)
            try:
                s.commit()
            except IntegrityError as e:
                raise Conflict(f"conversation {cid!r} exists") from e
            return _public(row)

    def _get_row(self, s: Session, tenant: str, cid: str) -> StoredConversation:
        row = s.scalar(select(StoredConversation).where(StoredConversation.tenant == tenant,
                                                        StoredConversation.ext_id == cid))
        if row is None:
            raise NotFound(cid)
        return row

    def get_conversation(self, tenant: str, cid: str) -> Conversation:
        with self.sessions() as s:
            return _public(self._get_row(s, tenant, cid))

    def append_turns(self, tenant: str, cid: str, turns: list[Turn]) -> Conversation:
        """Append turns at the end; a concurrent append to the same conversation is retried."""
        for attempt in range(5):
            with self.sessions() as s:
                row = self._get_row(s, tenant, cid)
                start = len(row.turns)
                row.turns.extend(self._turn_row(t, start + i) for i, t in enumerate(turns))
                try:
                    s.commit()
                except IntegrityError:
                    if attempt == 4:
                        raise
                    continue
                s.refresh(row)
                return _public(row)
        raise AssertionError("unreachable")

    # -- feedback ----------------------------------------------------------------------------
    def add_feedback(self, tenant: str, key_id: str | None, fb: FeedbackCreate, conv: Conversation,
                     index: int, text_: str) -> FeedbackPublic:
        """Store ``fb`` about the agent turn ``text_`` at ``index`` of ``conv`` (context = turns before it)."""
        context = [t.model_dump(exclude_none=True) | {"text": self.scrub.store(t.text)} for t in conv.turns[:index]]
        row = FeedbackRow(tenant=tenant, key_id=key_id, conversation_id=conv.id, lang=conv.lang,
                          turn_index=index, context=context, text=self.scrub.store(text_), action=fb.action,
                          flag=fb.flag, gold=list(fb.gold), skip=list(fb.skip),
                          note=self.scrub.store(fb.note) if fb.note else None)
        with self.sessions() as s:
            s.add(row)
            s.commit()
            return FeedbackPublic(id=row.id, conversation_id=row.conversation_id, turn_index=row.turn_index,
                                  action=fb.action, created_at=row.created_at.isoformat())

    def feedback(self, tenant: str | None = None) -> list[FeedbackRow]:
        """All feedback rows (of one tenant, or all), oldest first."""
        q = select(FeedbackRow).order_by(FeedbackRow.id)
        if tenant is not None:
            q = q.where(FeedbackRow.tenant == tenant)
        with self.sessions() as s:
            return list(s.scalars(q))


def _public(row: StoredConversation) -> Conversation:
    turns = [{**(t.extra or {}), "role": t.role, "text": t.text, "agent_id": t.agent_id, "ts": t.ts}
             for t in row.turns]
    return Conversation.model_validate({**(row.extra or {}), "id": row.ext_id, "lang": row.lang,
                                        "channel": row.channel, "turns": turns})
