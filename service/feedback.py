"""Feedback: which agent turn it is about, and its export as gold labels.

The export has the acceptance-case format (shared/acceptance/cases.jsonl): one conversation
per judged turn, its context turns, and the judged agent turn last with ``gold`` and ``skip``.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException

from replyguard.schema import FLAGS, Conversation, FeedbackCreate, GoldConversation
from replyguard.text import conversation_lang
from service.db import FeedbackRow


def target(fb: FeedbackCreate, conv: Conversation) -> tuple[int, str]:
    """(index, text) of the agent turn ``fb`` is about; a draft is the turn after the last."""
    if fb.draft is not None:
        return len(conv.turns), fb.draft
    idx = fb.turn_index
    assert idx is not None  # FeedbackCreate guarantees one of draft / turn_index
    if idx >= len(conv.turns):
        raise HTTPException(422, f"turn_index {idx} is past the end ({len(conv.turns)} turns)")
    if conv.turns[idx].role != "agent":
        raise HTTPException(422, f"turn {idx} is a {conv.turns[idx].role} turn; feedback is about agent turns")
    return idx, conv.turns[idx].text


def labels(rows: list[FeedbackRow]) -> tuple[list[str], list[str]]:
    """Merge the feedback on one turn into (gold, skip), later answers overriding earlier ones.

    A reviewer's ``correct`` is a full label and wins. Otherwise each accepted flag is gold,
    each dismissed flag is a negative, and flags nobody answered are unknown, hence skipped.
    """
    corrections = [r for r in rows if r.action == "correct"]
    if corrections:
        last = corrections[-1]
        return sorted(last.gold, key=FLAGS.index), sorted(last.skip, key=FLAGS.index)
    verdict: dict[str, bool] = {}
    for r in rows:
        if r.flag:
            verdict[r.flag] = r.action == "accept"
    gold = [f for f in FLAGS if verdict.get(f)]
    skip = [f for f in FLAGS if f not in verdict]
    return gold, skip


def export_gold(rows: Iterable[FeedbackRow]) -> list[GoldConversation]:
    """Gold conversations from feedback rows (oldest first), one per distinct judged turn."""
    groups: dict[tuple[str, str, int, str], list[FeedbackRow]] = {}
    for r in rows:
        groups.setdefault((r.tenant, r.conversation_id, r.turn_index, r.text), []).append(r)
    seen: dict[str, int] = {}
    out = []
    for (_, cid, index, text), group in groups.items():
        gold, skip = labels(group)
        turns = []
        for t in group[-1].context:
            # earlier agent turns are context only: nobody labelled them, so every flag is skipped
            turns.append({**t, "skip": list(FLAGS)} if t.get("role") == "agent" else t)
        turns.append({"role": "agent", "text": text, "gold": gold, "skip": skip})
        base = f"{cid}:{index}"
        seen[base] = seen.get(base, 0) + 1
        conv_id = base if seen[base] == 1 else f"{base}:{seen[base]}"
        lang = group[-1].lang or conversation_lang([t["text"] for t in turns])
        out.append(GoldConversation.model_validate({"id": conv_id, "lang": lang, "turns": turns,
                                                    "source": "replyguard feedback"}))
    return out


def gold_line(conv: GoldConversation) -> dict:
    """The JSON line for ``conv``: labels only on agent turns, as in the acceptance cases."""
    out = conv.model_dump(exclude_none=True)
    for t in out["turns"]:
        if t["role"] != "agent":
            t.pop("gold", None)
            t.pop("skip", None)
    return out
