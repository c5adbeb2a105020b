"""Turn contexts: what an agent turn is judged against (LABELS.md, "Context for a turn")."""

from __future__ import annotations

from dataclasses import dataclass, field

from replyguard.schema import Conversation
from replyguard.text import fold, segments

# A customer message this short after folding ("??", "在吗", "👌", an order card without
# words) carries no question of its own; the open question is further back.
MIN_SUBSTANTIVE = 4


@dataclass
class TurnContext:
    """Everything one agent turn is compared with. Built once per turn, then reused."""

    conv_id: str
    index: int
    reply: str
    open_msg: str  # customer messages since the previous agent turn, joined
    question: str  # the latest substantive customer text (the open question)
    prev_agent: list[str] = field(default_factory=list)
    prev_customer: list[str] = field(default_factory=list)  # before the open message
    lang: str = "en"
    draft: bool = False  # an unsent reply (a live check), not a turn of the conversation

    @property
    def reply_segments(self) -> list[str]:
        return segments(self.reply)


def _substantive(text: str) -> bool:
    t = fold(text)
    words = t.replace("[", " ").replace("]", " ")
    return len(words.strip()) >= MIN_SUBSTANTIVE


def build_contexts(conv: Conversation, lang: str = "en") -> list[TurnContext]:
    """One context per agent turn, in order.

    >>> from replyguard.schema import Conversation
    >>> c = Conversation(id="x", turns=[{"role": "customer", "text": "Where is my parcel?"},
    ...                                 {"role": "agent", "text": "Let me check."}])
    >>> build_contexts(c)[0].open_msg
    'Where is my parcel?'
    """
    out: list[TurnContext] = []
    _walk(conv, lambda i, text, open_parts, before, prev: out.append(
        context_for(conv.id, i, text, open_parts, before, prev, lang)))
    return out


def draft_context(conv: Conversation, draft: str, lang: str = "en") -> TurnContext:
    """Context for an unsent ``draft`` judged as the next agent turn of ``conv``.

    The same walk as :func:`build_contexts` (so a draft is judged exactly as the turn would be
    once sent), without building a context for every earlier agent turn.

    >>> from replyguard.schema import Conversation
    >>> c = Conversation(id="x", turns=[{"role": "customer", "text": "Where is my parcel?"}])
    >>> ctx = draft_context(c, "Let me check.")
    >>> ctx.index, ctx.question, ctx.draft
    (1, 'Where is my parcel?', True)
    """
    open_parts, before, prev = _walk(conv)
    ctx = context_for(conv.id, len(conv.turns), draft, open_parts, before, prev, lang)
    ctx.draft = True
    return ctx


def _walk(conv: Conversation, at_agent=None) -> tuple[list[str], list[str], list[str]]:
    """Walk the turns, calling ``at_agent(index, text, open_parts, customer_before, prev_agent)``
    at each agent turn with the history before it; returns that history after the last turn."""
    prev_agent: list[str] = []
    customer_before: list[str] = []  # customer messages before the open message
    open_parts: list[str] = []
    for i, turn in enumerate(conv.turns):
        if turn.role == "system":
            continue
        if turn.role == "customer":
            open_parts.append(turn.text)
            continue
        if at_agent is not None:
            at_agent(i, turn.text, open_parts, customer_before, prev_agent)
        customer_before.extend(open_parts)
        open_parts = []
        prev_agent.append(turn.text)
    return open_parts, customer_before, prev_agent


def context_for(conv_id: str, index: int, reply: str, open_parts: list[str],
                customer_before: list[str], prev_agent: list[str], lang: str) -> TurnContext:
    """Context for a reply given the history so far (also used for a live draft)."""
    open_msg = " ".join(p.strip() for p in open_parts if p.strip())
    question = open_msg
    if not _substantive(open_msg):
        earlier = [t for t in customer_before if _substantive(t)]
        if earlier:
            question = (earlier[-1] + " " + open_msg).strip()
    return TurnContext(conv_id=conv_id, index=index, reply=reply, open_msg=open_msg,
                       question=question, prev_agent=list(prev_agent),
                       prev_customer=list(customer_before[-3:]), lang=lang)
