"""ASGI middleware: request size limit, and metrics plus an access log line without any text."""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import LATENCY, REJECTED, REQUESTS

log = logging.getLogger("replyguard.service.access")


async def _send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": raw})


class BodyLimit:
    """Answers 413 to bodies over ``max_bytes`` (declared or streamed) before any parsing."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        too_big = f"request body over {self.max_bytes} bytes"
        try:
            if declared is not None and int(declared) > self.max_bytes:
                REJECTED.labels("too_large").inc()
                await _send_json(send, 413, {"detail": too_big})
                return
        except ValueError:
            await _send_json(send, 400, {"detail": "bad Content-Length header"})
            return
        # Chunked bodies have no length up front: read them here, up to the limit.
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                REJECTED.labels("too_large").inc()
                await _send_json(send, 413, {"detail": too_big})
                return
            chunks.append(chunk)
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class Observe:
    """Counts and times every request by route template, tags it with an X-Request-ID and logs
    one line: method, route, status, milliseconds, caller key id. Never bodies or query strings."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = dict(scope["headers"]).get(b"x-request-id", b"")[:64].decode("latin-1") or uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        t0 = time.perf_counter()

        async def send_wrapped(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg.setdefault("headers", [])
                msg["headers"] = [*msg["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(msg)

        try:
            await self.app(scope, receive, send_wrapped)
        finally:
            dt = time.perf_counter() - t0
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(dt)
            key_id = scope["state"].get("key_id", "-")
            log.info("%s %s %d %.1fms key=%s rid=%s", scope["method"], route, status, dt * 1000, key_id, rid)
