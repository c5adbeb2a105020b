"""Service fixtures: the app built around the session's tiny analyzer, a fresh database each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

Factory = Callable[..., TestClient]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def make_client(tmp_path, tiny_analyzer) -> Iterator[Factory]:
    """``make_client(**settings)`` → a started TestClient; keys are off unless asked for."""
    clients: list[TestClient] = []

    def make(**overrides) -> TestClient:
        base = {"database_url": f"sqlite:///{tmp_path}/rg-{len(clients)}.db", "require_api_key": False,
                "rate_limit_per_minute": 100_000}
        app = create_app(Settings(**(base | overrides)), analyzer=tiny_analyzer)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()  # runs the lifespan handler
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture()
def client(make_client) -> TestClient:
    return make_client()


@pytest.fixture()
def keyed(make_client) -> tuple[TestClient, str]:
    """A client of an app that requires keys, and a valid key for tenant ``acme``."""
    c = make_client(require_api_key=True)
    key, _ = c.app.state.rg.keys.create("acme", "test")
    return c, key


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(tiny_model, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The service as a real uvicorn process on 127.0.0.1 with the tiny model: (base URL, API key)."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from service.db import make_engine, make_sessions
    from service.keys import KeyStore

    root = tmp_path_factory.mktemp("live")
    url_db = f"sqlite:///{root}/rg.db"
    key, _ = KeyStore(make_sessions(make_engine(url_db))).create("acme", "live-test")
    port = free_port()
    env = {**os.environ, "REPLYGUARD_DATABASE_URL": url_db, "REPLYGUARD_REQUIRE_API_KEY": "true",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "tests.service.tiny_server", str(tiny_model), str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("service did not become ready in 60 s")
            time.sleep(0.1)
        yield base, key
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
