"""WebSocket for agent consoles: keep the conversation open, send drafts as the agent types.

Client messages (JSON objects)::

    {"type": "auth", "key": "rg_..."}                      # when no X-API-Key header was sent
    {"type": "init", "conversation_id": "c-1"}             # follow a stored conversation, or
    {"type": "init", "conversation": {...}}                # start from a given one (not stored)
    {"type": "turn", "role": "customer", "text": "..."}    # a message was sent
    {"type": "draft", "text": "...", "seq": 7}             # the agent's unsent reply

Server messages: ``ready`` / ``ack`` (turn count), ``findings`` (with the draft's ``seq`` so a
console can drop answers to stale drafts), ``error`` (the socket stays open), ``pong``.
A bad message never closes the socket; a missing key closes it with code 4401.
"""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from replyguard.schema import MAX_TURNS, Conversation, Turn
from service.assist import check_lengths, judge_draft
from service.deps import StateDep, identify, limit
from service.errors import validation_errors
from service.keys import Caller
from service.metrics import WS_MESSAGES
from service.runner import Busy
from service.state import AppState
from service.store import NotFound

router = APIRouter(tags=["assist"])
KINDS = ("auth", "init", "turn", "draft", "ping")


class Session:
    """One console connection: who it is, and the conversation it follows."""

    def __init__(self, state: AppState, ws: WebSocket, caller: Caller | None) -> None:
        self.state, self.ws, self.caller = state, ws, caller
        self.conv = Conversation(id=f"ws-{uuid.uuid4().hex[:12]}", turns=[])
        self.stored = False  # turns are written to the database too

    async def handle(self, msg: dict) -> dict:
        kind = msg.get("type")
        if self.caller is None:
            if kind != "auth":
                raise PermissionError
            self.caller = identify(self.state, self.ws, str(msg.get("key") or ""))
            return {"type": "ready", "conversation_id": self.conv.id, "turns": 0}
        limit(self.state, self.ws, self.caller)
        if kind == "init":
            return await self.init(msg)
        if kind == "turn":
            turn = Turn.model_validate({k: v for k, v in msg.items() if k != "type"})
            check_lengths(self.state.settings, [("text", turn.text)])
            if len(self.conv.turns) >= MAX_TURNS:
                raise HTTPException(422, f"a conversation holds at most {MAX_TURNS} turns")
            if self.stored:
                self.conv = await run_in_threadpool(self.state.store.append_turns, self.caller.tenant,
                                                    self.conv.id, [turn])
            else:
                self.conv.turns.append(turn)
            return {"type": "ack", "turns": len(self.conv.turns)}
        if kind == "draft":
            text = msg.get("text")
            if not isinstance(text, str):
                raise ValueError("draft needs a string 'text'")
            if not text.strip():
                return {"type": "findings", "seq": msg.get("seq"), "findings": []}
            if self.stored:  # other systems may have appended turns since (REST, another console)
                self.conv = await run_in_threadpool(self.state.store.get_conversation, self.caller.tenant,
                                                    self.conv.id)
            res = await judge_draft(self.state, self.caller, self.conv, text, "ws")
            return {"type": "findings", "seq": msg.get("seq"),
                    "findings": [f.model_dump(exclude_none=True) for f in res.findings]}
        if kind == "ping":
            return {"type": "pong"}
        if kind == "auth":
            return {"type": "ready", "conversation_id": self.conv.id, "turns": len(self.conv.turns)}
        raise ValueError(f"unknown message type {str(kind)[:20]!r}; expected one of {', '.join(KINDS)}")

    async def init(self, msg: dict) -> dict:
        assert self.caller is not None
        if "conversation_id" in msg:
            cid = str(msg["conversation_id"])
            self.conv = await run_in_threadpool(self.state.store.get_conversation, self.caller.tenant, cid)
            self.stored = True
        else:
            self.conv = Conversation.model_validate(msg.get("conversation") or {"id": self.conv.id, "turns": []})
            self.stored = False
        return {"type": "ready", "conversation_id": self.conv.id, "turns": len(self.conv.turns)}


@router.websocket("/v1/ws")
async def console_socket(ws: WebSocket, state: StateDep) -> None:
    await ws.accept()
    key = ws.headers.get("x-api-key")
    try:
        caller = identify(state, ws, key) if key or not state.settings.require_api_key else None
    except HTTPException:
        await ws.close(code=4401, reason="invalid API key")
        return
    session = Session(state, ws, caller)
    max_bytes = state.settings.max_request_bytes
    while True:
        try:
            raw = await ws.receive_text()
        except (WebSocketDisconnect, KeyError, RuntimeError):  # closed, or a binary frame
            return
        reply: dict
        try:
            if len(raw.encode()) > max_bytes:
                raise HTTPException(413, f"message over {max_bytes} bytes")
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise ValueError("messages are JSON objects")
            kind = msg.get("type")
            WS_MESSAGES.labels(kind if kind in KINDS else "other").inc()
            reply = await session.handle(msg)
        except PermissionError:
            await ws.close(code=4401, reason="send {\"type\": \"auth\", \"key\": ...} first")
            return
        except HTTPException as e:
            if e.status_code == 401:
                await ws.close(code=4401, reason="invalid API key")
                return
            reply = {"type": "error", "status": e.status_code, "detail": e.detail}
        except ValidationError as e:
            reply = {"type": "error", "status": 422, "detail": validation_errors(list(e.errors()))}
        except NotFound as e:
            reply = {"type": "error", "status": 404, "detail": f"no conversation {e.args[0]!r}"}
        except Busy:
            reply = {"type": "error", "status": 503, "detail": "model queue full; retry shortly"}
        except TimeoutError:
            reply = {"type": "error", "status": 504, "detail": "model call timed out"}
        except ValueError as e:  # includes JSON syntax errors
            reply = {"type": "error", "status": 400, "detail": str(e)[:200]}
        try:
            await ws.send_json(reply)
        except (WebSocketDisconnect, RuntimeError):
            return
