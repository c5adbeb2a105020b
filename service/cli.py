"""Service commands for the ``replyguard`` CLI: ``serve``, ``keys create|list|revoke``, ``feedback export``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from service.settings import Settings

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
keys_app = typer.Typer(no_args_is_help=True, help="API keys (stored hashed; a key is shown once).")
feedback_app = typer.Typer(no_args_is_help=True, help="Agent and reviewer feedback.")
DbOpt = Annotated[str | None, typer.Option("--database-url",
                                           help="default: REPLYGUARD_DATABASE_URL or ./var/replyguard.db")]


def _stores(database_url: str | None):
    from service.db import make_engine, make_sessions
    from service.keys import KeyStore
    from service.privacy import Scrubber
    from service.store import Store

    settings = Settings(**({"database_url": database_url} if database_url else {}))
    sessions = make_sessions(make_engine(settings.database_url))
    return KeyStore(sessions), Store(sessions, Scrubber(settings.redact_pii))


def serve(
    host: Annotated[str | None, typer.Option(help="default 127.0.0.1 (REPLYGUARD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="default 8000 (REPLYGUARD_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes, each with its own models")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="model name or folder")] = None,
) -> None:
    """Run the HTTP service (uvicorn). Every setting also reads from REPLYGUARD_* variables."""
    import uvicorn

    # Workers are fresh processes that read their settings from the environment.
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers), ("MODEL", model)):
        if value is not None:
            os.environ[f"REPLYGUARD_{name}"] = str(value)
    s = Settings()
    err.print(f"replyguard service on http://{s.host}:{s.port}  (docs /docs, console /console)")
    uvicorn.run("service.app:create_app", factory=True, host=s.host, port=s.port, workers=s.workers,
                ws_max_size=s.max_request_bytes, timeout_graceful_shutdown=10, server_header=False,
                access_log=False)  # the service logs its own access line (no client IP, key id)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="tenant the key acts for (selects data and catalogue)")] = "default",
    name: Annotated[str, typer.Option(help="a label, e.g. the console or team using it")] = "",
    rate: Annotated[int | None, typer.Option(help="requests per minute (default: the service setting)")] = None,
    database_url: DbOpt = None,
) -> None:
    """Create a key and print it once; only its SHA-256 is stored."""
    keys, _ = _stores(database_url)
    try:
        key, row = keys.create(tenant, name, rate)
    except ValueError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    err.print(f"key {row.id} for tenant {tenant!r} (store it now; it cannot be shown again):")
    out.print(key)


@keys_app.command("list")
def keys_list(database_url: DbOpt = None) -> None:
    """Keys with their tenant, limit and state (never the key itself)."""
    keys, _ = _stores(database_url)
    table = Table("id", "tenant", "name", "rate/min", "created", "revoked")
    for k in keys.list():
        table.add_row(k.id, k.tenant, k.name, str(k.rate_per_minute or "default"),
                      k.created_at.strftime("%Y-%m-%d %H:%M"),
                      k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the id shown by `keys list`")],
                database_url: DbOpt = None) -> None:
    """Revoke a key; running workers stop accepting it within REPLYGUARD_KEY_CACHE_S seconds."""
    keys, _ = _stores(database_url)
    if not keys.revoke(key_id):
        err.print(f"[red]error:[/] no active key {key_id!r}")
        raise typer.Exit(1)
    err.print(f"revoked {key_id}")


@feedback_app.command("export")
def feedback_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="gold JSONL (acceptance-case format)")],
    tenant: Annotated[str | None, typer.Option(help="only this tenant's feedback")] = None,
    database_url: DbOpt = None,
) -> None:
    """Write stored feedback as gold conversations (turns with `gold` and `skip`) for eval/training."""
    from replyguard.io import AtomicWriter
    from service.feedback import export_gold, gold_line

    _, store = _stores(database_url)
    convs = export_gold(store.feedback(tenant))
    writer = AtomicWriter(output)
    try:
        for c in convs:
            writer.write_line(gold_line(c))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    err.print(f"exported {len(convs)} labelled turns → {output}")


def register(app: typer.Typer) -> None:
    """Add the service commands to the ``replyguard`` CLI."""
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(feedback_app, name="feedback")
