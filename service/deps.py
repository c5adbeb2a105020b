"""FastAPI dependencies, as ``Annotated`` aliases the endpoints declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from service.keys import Caller
from service.metrics import REJECTED
from service.settings import Settings
from service.state import AppState
from service.store import Store

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="key from `replyguard keys create`")


def get_state(conn: HTTPConnection) -> AppState:
    state = getattr(conn.app.state, "rg", None)
    if state is None:  # only before the lifespan handler has run
        raise HTTPException(503, "service is starting")
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def settings_of(state: StateDep) -> Settings:
    return state.settings


def store_of(state: StateDep) -> Store:
    return state.store


SettingsDep = Annotated[Settings, Depends(settings_of)]
StoreDep = Annotated[Store, Depends(store_of)]


def identify(state: AppState, conn: HTTPConnection, key: str | None) -> Caller:
    """The caller for ``key``: 401 when keys are required and it is missing or wrong."""
    caller = state.keys.verify(key) if key else None
    if caller is None:
        if state.settings.require_api_key or key:
            REJECTED.labels("auth").inc()
            raise HTTPException(401, "missing or invalid API key (X-API-Key header)",
                                headers={"WWW-Authenticate": "X-API-Key"})
        caller = Caller(tenant="default", key_id=None)
    conn.scope.setdefault("state", {})["key_id"] = caller.key_id or "-"
    return caller


def limit(state: AppState, conn: HTTPConnection, caller: Caller) -> None:
    """429 with Retry-After when the caller's bucket (per key, else per client address) is empty."""
    who = caller.key_id or f"ip:{conn.client.host if conn.client else 'unknown'}"
    wait = state.limiter.take(who, caller.rate_per_minute)
    if wait:
        REJECTED.labels("rate").inc()
        raise HTTPException(429, f"rate limit exceeded; retry in {wait:.0f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})


def authenticate(conn: HTTPConnection, state: StateDep,
                 key: Annotated[str | None, Security(api_key_header)] = None) -> Caller:
    caller = identify(state, conn, key)
    limit(state, conn, caller)
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
