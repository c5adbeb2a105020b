"""Stateless endpoints: judge a draft against a conversation given in full; score conversations."""

from __future__ import annotations

from fastapi import APIRouter

from replyguard.schema import AssistResponse, CheckRequest, ScoreRequest, ScoreResponse
from service.assist import check_lengths, judge_draft, turn_texts
from service.deps import CallerDep, StateDep
from service.metrics import FINDINGS

router = APIRouter(prefix="/v1", tags=["assist"])


@router.post("/check", response_model=AssistResponse, response_model_exclude_none=True)
async def check(req: CheckRequest, caller: CallerDep, state: StateDep) -> AssistResponse:
    """Findings for ``draft`` judged as the next agent turn of ``conversation`` (CONTRACT.md).

    Example body: ``{"conversation": {"id": "c1", "turns": [{"role": "customer", "text":
    "Where is my refund??"}]}, "draft": "Is there anything else I can help you with?"}``
    """
    return await judge_draft(state, caller, req.conversation, req.draft, "check")


@router.post("/score", response_model=ScoreResponse, response_model_exclude_none=True)
async def score(req: ScoreRequest, caller: CallerDep, state: StateDep) -> ScoreResponse:
    """Score whole conversations; each result is the line ``replyguard score`` writes."""
    for k, conv in enumerate(req.conversations):
        check_lengths(state.settings, [(f"conversations[{k}].{w}", t) for w, t in turn_texts(conv)])
    results = await state.runner.run("score", state.analyzer.score, req.conversations)
    for r in results:
        for t in r.turns:
            for f in t.findings:
                FINDINGS.labels(f.flag, "score").inc()
    return ScoreResponse(results=results)
