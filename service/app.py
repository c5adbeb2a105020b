"""The FastAPI app: ``create_app()`` for uvicorn (``--factory``), tests pass their own analyzer.

    uvicorn --factory service.app:create_app        # or: replyguard serve
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from replyguard.analyzer import Analyzer
from service import errors
from service.api import check, feedback, ops, sessions, ws
from service.middleware import BodyLimit, Observe
from service.settings import Settings, get_settings
from service.state import AppState


def create_app(settings: Settings | None = None, analyzer: Analyzer | None = None) -> FastAPI:
    """Build the app; the models load in the lifespan handler (once per worker), not here.

    >>> app = create_app(Settings(require_api_key=False))   # doctest: +SKIP
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(AppState.start, settings, analyzer)
        app.state.rg = state
        yield
        state.close()

    app = FastAPI(title="replyguard", version="0.1.0", lifespan=lifespan,
                  summary="Real-time agent assist: flag a draft reply before the customer sees it.")
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-API-Key"])
    app.add_middleware(Observe)  # outermost, so refusals are counted and logged too
    for module in (check, sessions, feedback, ws, ops):
        app.include_router(module.router)
    app.mount("/console/static", StaticFiles(directory=ops.CONSOLE), name="console-static")
    errors.install(app)
    return app
