"""Reading conversations from JSONL / CSV with per-record errors, writing results atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from replyguard.schema import Conversation, GoldConversation


@dataclass
class RecordError:
    source: str
    line: int
    record_id: str | None
    problem: str

    def __str__(self) -> str:
        rid = f" (id {self.record_id})" if self.record_id else ""
        return f"{self.source}:{self.line}{rid}: {self.problem}"


def _explain(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _decode(raw: bytes, source: str, line: int) -> tuple[str | None, RecordError | None]:
    try:
        return raw.decode("utf-8-sig" if line == 1 else "utf-8"), None
    except UnicodeDecodeError as e:
        return None, RecordError(source, line, None, f"not valid UTF-8 ({e.reason} at byte {e.start}); "
                                                      "re-save the file as UTF-8")


def read_jsonl(path: str | Path, gold: bool = False) -> Iterator[tuple[int, Conversation | RecordError]]:
    """Yield (line number, conversation or error) for every non-blank line."""
    model = GoldConversation if gold else Conversation
    source = str(path)
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            text, err = _decode(raw, source, n)
            if err:
                yield n, err
                continue
            try:
                obj = json.loads(text)  # type: ignore[arg-type]
            except json.JSONDecodeError as e:
                yield n, RecordError(source, n, None, f"malformed JSON: {e.msg} at column {e.colno}")
                continue
            if not isinstance(obj, dict):
                yield n, RecordError(source, n, None, f"expected a JSON object, got {type(obj).__name__}")
                continue
            rid = str(obj.get("id")) if obj.get("id") is not None else None
            try:
                conv = model.model_validate(obj)
            except ValidationError as e:
                yield n, RecordError(source, n, rid, _explain(e))
                continue
            if not conv.turns:
                yield n, RecordError(source, n, rid, "conversation has no turns")
                continue
            yield n, conv


def read_csv(path: str | Path) -> Iterator[tuple[int, Conversation | RecordError]]:
    """CSV with one row per turn: conversation_id, role, text[, agent_id, ts]; rows in order.

    Streams the file (see :func:`replyguard.sources.stream_csv`); a bad record comes with its
    line number, a conversation with 0 (its rows span several lines).
    """
    from replyguard.sources import stream_csv  # sources builds on this module

    for rec in stream_csv(path):
        yield (rec.line if isinstance(rec, RecordError) else 0), rec


def read_conversations(path: str | Path, gold: bool = False) -> Iterator[tuple[int, Conversation | RecordError]]:
    p = Path(path)
    if p.suffix.lower() == ".csv":
        yield from read_csv(p)
    else:
        yield from read_jsonl(p, gold=gold)


class AtomicWriter:
    """Write to a temporary file beside the target; rename over it only on success."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".part", dir=self.path.parent)
        self.tmp = Path(tmp)
        self.f = os.fdopen(fd, "w", encoding="utf-8")

    def write_line(self, obj: dict) -> None:
        self.f.write(json.dumps(obj, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)
