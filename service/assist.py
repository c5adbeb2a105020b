"""Judging a draft for a caller: limits, the model call, suggestions, metrics and a log line.

Shared by ``POST /v1/check``, the stored-conversation check and the WebSocket, so all three
answer the same way.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException

from replyguard.schema import AssistFinding, AssistResponse, Conversation, ConversationCreate
from service.keys import Caller
from service.metrics import FINDINGS, REJECTED
from service.settings import Settings
from service.state import AppState

log = logging.getLogger("replyguard.service")


def check_lengths(settings: Settings, texts: list[tuple[str, str]]) -> None:
    """422 naming the first text over ``max_text_chars``; ``texts`` is (where, text) pairs."""
    for where, text in texts:
        if len(text) > settings.max_text_chars:
            REJECTED.labels("too_long").inc()
            raise HTTPException(422, f"{where}: {len(text)} characters; the limit is {settings.max_text_chars}")


def turn_texts(conv: Conversation | ConversationCreate) -> list[tuple[str, str]]:
    return [(f"turns[{i}].text", t.text) for i, t in enumerate(conv.turns)]


async def judge_draft(state: AppState, caller: Caller, conv: Conversation, draft: str,
                      source: str) -> AssistResponse:
    """Findings (with suggestions) for ``draft`` as the next agent turn of ``conv``."""
    check_lengths(state.settings, [("draft", draft), *turn_texts(conv)])
    findings = await state.runner.batched("check", (conv, draft))  # batched with concurrent checks
    catalogue = state.catalogues.for_tenant(caller.tenant)
    out = [AssistFinding(**f.model_dump(), suggestion=catalogue.suggest(f, conv, draft)) for f in findings]
    for f in out:
        FINDINGS.labels(f.flag, source).inc()
    log.info("check source=%s conv=%s turns=%d draft=%s flags=%s", source, state.scrub.store(conv.id)[:64],
             len(conv.turns), state.scrub.log(draft), ",".join(f.flag for f in out) or "-")
    return AssistResponse(findings=out)

