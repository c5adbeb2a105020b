"""Operations and the demo console: health, readiness, metrics, /console."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from replyguard.schema import GoldConversation
from service.deps import SettingsDep, StateDep

router = APIRouter(tags=["ops"])
CONSOLE = Path(__file__).resolve().parents[1] / "console"


@router.get("/healthz")
def healthz() -> dict:
    """The process is up (liveness)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """Models loaded and the database answering (readiness)."""
    try:
        await run_in_threadpool(state.store.ping)
    except Exception as e:  # noqa: BLE001 - any database failure means "not ready"
        return JSONResponse({"status": "unavailable", "database": type(e).__name__}, status_code=503)
    return JSONResponse({"status": "ready", "model": state.analyzer.name})


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/console", include_in_schema=False)
def console() -> FileResponse:
    """The demo agent console (static page; it talks to /v1/conversations and /v1/ws)."""
    return FileResponse(CONSOLE / "index.html", media_type="text/html")


@router.get("/console/cases", include_in_schema=False)
def console_cases(settings: SettingsDep) -> dict:
    """Conversations to preload, cut before an agent turn so the agent can type it.

    The acceptance cases when the file exists, else the built-in sample; labels are removed.
    """
    path = settings.console_cases if settings.console_cases.is_file() else CONSOLE / "sample.jsonl"
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or len(out) >= 50:
                continue
            try:
                out.append(_cut(GoldConversation.model_validate_json(line)))
            except ValidationError:
                continue  # a bad line in a demo file is not worth failing the page for
    return {"source": path.name, "conversations": out}


def _cut(conv: GoldConversation) -> dict:
    """The turns before the second agent turn (so a repeat of the first can be typed),
    or before the only one; with the agent text that was actually sent there, for reference."""
    agent = [i for i, t in enumerate(conv.turns) if t.role == "agent"]
    cut = agent[1] if len(agent) > 1 else (agent[0] if agent else len(conv.turns))
    turns = [{"role": t.role, "text": t.text} for t in conv.turns[:cut]]
    sent = conv.turns[cut].text if cut < len(conv.turns) else None
    return {"id": conv.id, "lang": conv.lang, "turns": turns, "original_reply": sent,
            "title": str((conv.model_extra or {}).get("source") or conv.id)}
