"""The one schema module: conversations in, findings out, gold labels for evaluation.

Shared by the CLI, the service, training and evaluation (CONTRACT.md is the source).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FLAGS: tuple[str, ...] = ("non_answer", "boilerplate", "ad_to_upset_customer", "missing_empathy", "defensive")
MISSION_FLAGS: tuple[str, ...] = FLAGS[:4]
Flag = Literal["non_answer", "boilerplate", "ad_to_upset_customer", "missing_empathy", "defensive"]
Role = Literal["customer", "agent", "system"]
Lang = Literal["zh-Hans", "zh-Hant", "en", "mixed"]

MAX_TEXT_CHARS = 20_000
MAX_TURNS = 2_000


class Turn(BaseModel):
    """One message (or several merged) by one party. Unknown fields are kept."""

    model_config = ConfigDict(extra="allow")

    role: Role
    text: str = Field(max_length=MAX_TEXT_CHARS)
    agent_id: str | None = None
    ts: str | None = None


class GoldTurn(Turn):
    """A turn with labels, as in the acceptance and feedback files."""

    gold: list[Flag] = Field(default_factory=list)
    skip: list[Flag] = Field(default_factory=list)


class Conversation(BaseModel):
    """A conversation to judge; ``lang`` is detected when absent."""

    model_config = ConfigDict(extra="allow")

    id: str
    lang: Lang | None = None
    channel: str | None = None
    turns: list[Turn] = Field(max_length=MAX_TURNS)

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v


class GoldConversation(Conversation):
    turns: list[GoldTurn] = Field(max_length=MAX_TURNS)  # type: ignore[assignment]


class Finding(BaseModel):
    flag: Flag
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: str
    explanation: str


class TurnResult(BaseModel):
    index: int
    role: Literal["agent"] = "agent"
    findings: list[Finding] = Field(default_factory=list)


class ScoredConversation(BaseModel):
    """One output line of ``replyguard score``."""

    model_config = ConfigDict(extra="allow")

    id: str
    score: float = Field(ge=0.0, le=100.0)
    lang: Lang | None = None
    turns: list[TurnResult]


class CheckRequest(BaseModel):
    conversation: Conversation
    draft: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class CheckResponse(BaseModel):
    findings: list[Finding]
