"""The one schema module: conversations in, findings out, gold labels for evaluation.

Shared by the CLI, the service, training and evaluation (CONTRACT.md is the source).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FLAGS: tuple[str, ...] = ("non_answer", "boilerplate", "ad_to_upset_customer", "missing_empathy", "defensive")
MISSION_FLAGS: tuple[str, ...] = FLAGS[:4]
DEFAULT_MODEL = "replyguard-v13"  # the model folder every entry point loads unless told otherwise
FAST_MODEL = "replyguard-v5-frozen"  # heads without the pair model: one cross-encoder pass per turn cheaper
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


# -- real-time assist service (service/) ---------------------------------------------------
# New classes only; the contract classes above stay as they are.


class AssistFinding(Finding):
    """A finding with an optional fix the agent can apply (from the tenant's catalogue)."""

    suggestion: str | None = None


class AssistResponse(CheckResponse):
    """``POST /v1/check`` answer: the contract's ``findings``, each possibly with a suggestion."""

    findings: list[AssistFinding]  # type: ignore[assignment]


class ConversationCreate(BaseModel):
    """Start a stored conversation; ``id`` is generated when absent."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, min_length=1, max_length=128)
    lang: Lang | None = None
    channel: str | None = None
    turns: list[Turn] = Field(default_factory=list, max_length=MAX_TURNS)


class DraftCheck(BaseModel):
    """A draft judged against a stored conversation."""

    draft: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class ScoreRequest(BaseModel):
    conversations: list[Conversation] = Field(min_length=1, max_length=256)


class ScoreResponse(BaseModel):
    """One result per input conversation, each the same object ``replyguard score`` writes."""

    results: list[ScoredConversation]


FeedbackAction = Literal["accept", "dismiss", "correct"]


class FeedbackCreate(BaseModel):
    """An agent's answer to a popup, or a reviewer's corrected flags for one agent turn.

    The turn is either ``draft`` (judged as the next turn of the conversation) or the stored
    turn at ``turn_index``. The conversation is a stored one (``conversation_id``) or given
    inline (``conversation``). ``accept``/``dismiss`` name one ``flag``; ``correct`` gives the
    full ``gold`` list (and ``skip`` for flags the reviewer finds ambiguous).
    """

    conversation_id: str | None = Field(default=None, min_length=1, max_length=128)
    conversation: Conversation | None = None
    turn_index: int | None = Field(default=None, ge=0)
    draft: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)
    action: FeedbackAction
    flag: Flag | None = None
    gold: list[Flag] = Field(default_factory=list)
    skip: list[Flag] = Field(default_factory=list)
    note: str | None = Field(default=None, max_length=2_000)

    @model_validator(mode="after")
    def _one_target(self) -> FeedbackCreate:
        if (self.conversation_id is None) == (self.conversation is None):
            raise ValueError("give exactly one of conversation_id or conversation")
        if (self.turn_index is None) == (self.draft is None):
            raise ValueError("give exactly one of turn_index or draft")
        if self.action in ("accept", "dismiss") and self.flag is None:
            raise ValueError(f"action {self.action!r} needs the popup's flag")
        if self.action == "correct" and self.flag is not None:
            raise ValueError("action 'correct' takes gold/skip lists, not flag")
        if set(self.gold) & set(self.skip):
            raise ValueError("a flag cannot be both gold and skip")
        return self


class FeedbackPublic(BaseModel):
    id: int
    conversation_id: str
    turn_index: int
    action: FeedbackAction
    created_at: str
