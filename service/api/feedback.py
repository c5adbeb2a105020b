"""Feedback from consoles (a popup accepted or dismissed) and reviewers (corrected flags)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from replyguard.schema import FeedbackCreate, FeedbackPublic
from service.assist import check_lengths, turn_texts
from service.deps import CallerDep, StateDep, StoreDep
from service.feedback import target
from service.metrics import FEEDBACK

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post("/feedback", response_model=FeedbackPublic, status_code=201)
async def feedback(body: FeedbackCreate, caller: CallerDep, store: StoreDep, state: StateDep) -> FeedbackPublic:
    """Store one answer about one agent turn; ``replyguard feedback export`` turns them into gold labels.

    Example: ``{"conversation_id": "c-1", "draft": "我理解您的心情。", "action": "accept",
    "flag": "boilerplate"}``
    """
    if body.conversation is not None:
        conv = body.conversation
        if len(conv.id) > 128:
            raise HTTPException(422, "conversation.id: at most 128 characters")
    else:
        conv = await run_in_threadpool(store.get_conversation, caller.tenant, body.conversation_id)
    check_lengths(state.settings, [("draft", body.draft or ""), *turn_texts(conv)])
    index, text = target(body, conv)
    out = await run_in_threadpool(store.add_feedback, caller.tenant, caller.key_id, body, conv, index, text)
    FEEDBACK.labels(body.action).inc()
    return out
