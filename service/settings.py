"""Service settings, validated in one place and read from ``REPLYGUARD_*`` environment variables.

>>> Settings(port=9000).port
9000
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from replyguard.schema import DEFAULT_MODEL

HERE = Path(__file__).resolve().parent
DEFAULT_CATALOGUE = HERE / "catalogue" / "default.yaml"
# Where the repository's acceptance cases live when the service runs from a checkout.
DEFAULT_CONSOLE_CASES = HERE.parents[1] / "shared" / "acceptance" / "cases.jsonl"


class Settings(BaseSettings):
    """Every knob of the service; ``REPLYGUARD_PORT=9000`` sets ``port`` and so on."""

    model_config = SettingsConfigDict(env_prefix="REPLYGUARD_", extra="ignore")

    host: str = Field("127.0.0.1", description="interface to bind; loopback unless deployed behind a proxy")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes (each loads the models)")
    # One torch thread per worker: a draft is a few dozen tokens, too short to split across
    # cores, and on a busy machine two spinning threads made a check 5-20x slower (measured).
    # Use more workers, not more threads, to use more cores.
    threads: int = Field(1, ge=1, le=64, description="torch threads per worker")
    database_url: str = Field("sqlite:///./var/replyguard.db", description="any SQLAlchemy URL")
    model: str = Field(DEFAULT_MODEL, description="model name in models/ or a model folder")

    require_api_key: bool = Field(True, description="reject /v1 calls without a valid X-API-Key")
    rate_limit_per_minute: int = Field(600, ge=1, description="per key (or per client IP without keys)")
    max_request_bytes: int = Field(1_048_576, ge=1024, description="larger bodies get 413")
    max_text_chars: int = Field(5_000, ge=1, le=20_000, description="longer turns or drafts get 422")
    request_timeout_s: float = Field(10.0, gt=0, description="model work past this answers 504")
    max_queue: int = Field(64, ge=1, description="model calls waiting beyond this answer 503")
    batch_window_ms: float = Field(10.0, ge=0, le=100,
                                   description="longest a draft check waits for others to share its model pass")
    max_batch: int = Field(32, ge=1, le=256, description="draft checks per batched model pass")
    key_cache_s: float = Field(10.0, ge=0, description="how long a verified key is trusted before re-reading it")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                                         description="comma-separated allowed origins")

    log_text: bool = Field(False, description="put customer/agent text in logs (off: lengths only)")
    redact_pii: bool = Field(True, description="mask phones, ID cards, emails, card numbers in stored/logged text")

    catalogue: Path = Field(DEFAULT_CATALOGUE, description="suggestion catalogue (YAML)")
    catalogue_dir: Path | None = Field(None, description="folder of per-tenant catalogues, TENANT.yaml")
    console_cases: Path = Field(DEFAULT_CONSOLE_CASES, description="gold JSONL preloaded in /console")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        if isinstance(v, str):
            return [x.strip() for x in v.split(",") if x.strip()]
        return v


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
