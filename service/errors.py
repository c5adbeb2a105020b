"""Error answers: every refusal is a clear 4xx/503/504 JSON body; unexpected bugs log a
traceback (no request text) and answer 500 with the request id to quote."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from service.metrics import REJECTED
from service.runner import Busy
from service.store import Conflict, NotFound

log = logging.getLogger("replyguard.service")


def _rid(request: Request) -> str:
    return getattr(request.state, "request_id", "")


def validation_errors(errors: list[dict]) -> list[dict]:
    """Validation errors without the offending input echoed back (it may be long or private)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors[:20]]


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        REJECTED.labels("invalid").inc()
        return JSONResponse({"detail": validation_errors(list(exc.errors()))}, status_code=422)

    @app.exception_handler(NotFound)
    async def _missing(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no conversation {exc.args[0]!r}"}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        REJECTED.labels("busy").inc()
        return JSONResponse({"detail": "model queue full; retry shortly"}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(TimeoutError)
    async def _timeout(request: Request, exc: TimeoutError) -> JSONResponse:
        REJECTED.labels("timeout").inc()
        return JSONResponse({"detail": "model call timed out"}, status_code=504)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable on %s rid=%s: %s", request.url.path, _rid(request), type(exc.orig).__name__)
        return JSONResponse({"detail": "database unavailable; retry shortly"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # the frames, not the message: messages (pydantic's above all) may quote request text
        log.error("unhandled %s on %s rid=%s\n%s", type(exc).__name__, request.url.path, _rid(request),
                  "".join(traceback.format_tb(exc.__traceback__)))
        return JSONResponse({"detail": "internal error", "request_id": _rid(request)}, status_code=500)
