"""Stored conversations: create, append turns as they happen, check drafts against the history.

The stored texts are redacted (by default), and the history is re-read on every check; the
encoder's text cache means only the draft itself goes through the model each keystroke.
"""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from replyguard.schema import AssistResponse, Conversation, ConversationCreate, DraftCheck, Turn
from service.assist import check_lengths, judge_draft, turn_texts
from service.deps import CallerDep, StateDep, StoreDep

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
ConvId = Path(min_length=1, max_length=128, description="conversation id")


@router.post("", response_model=Conversation, response_model_exclude_none=True, status_code=201)
async def create(body: ConversationCreate, caller: CallerDep, store: StoreDep, state: StateDep) -> Conversation:
    """Start a conversation (``id`` generated when absent); 409 if the id is taken."""
    check_lengths(state.settings, turn_texts(body))
    return await run_in_threadpool(store.create_conversation, caller.tenant, body)


@router.get("/{cid}", response_model=Conversation, response_model_exclude_none=True)
async def get(caller: CallerDep, store: StoreDep, cid: str = ConvId) -> Conversation:
    """The stored conversation (texts as stored, i.e. redacted)."""
    return await run_in_threadpool(store.get_conversation, caller.tenant, cid)


@router.post("/{cid}/turns", response_model=Conversation, response_model_exclude_none=True)
async def append(turn: Turn, caller: CallerDep, store: StoreDep, state: StateDep,
                 cid: str = ConvId) -> Conversation:
    """Append one turn (a customer message, a sent agent reply, a system notice)."""
    check_lengths(state.settings, [("text", turn.text)])
    return await run_in_threadpool(store.append_turns, caller.tenant, cid, [turn])


@router.post("/{cid}/check", response_model=AssistResponse, response_model_exclude_none=True)
async def check(body: DraftCheck, caller: CallerDep, store: StoreDep, state: StateDep,
                cid: str = ConvId) -> AssistResponse:
    """Findings for ``draft`` as the next agent turn of the stored conversation."""
    conv = await run_in_threadpool(store.get_conversation, caller.tenant, cid)
    return await judge_draft(state, caller, conv, body.draft, "session")
