"""QA corrections as training data: read, convert to gold conversations, split off a held-out part.

Two formats are accepted:

* gold JSONL, like ``shared/acceptance/cases.jsonl``: conversations whose turns carry
  ``gold`` and ``skip`` lists;
* CSV with ``conversation_id,index,flag,label`` (label ``1/0``, ``true/false``, ``yes/no``):
  one verdict per row on one flag of one agent turn; the conversations themselves come from
  the file or folder that was scored. Flags a reviewer did not rule on go to that turn's
  ``skip`` list, so they are neither trained nor counted as negatives.

    >>> golds = load_corrections(Path("fixes.csv"), conversations=Path("chats.jsonl"))  # doctest: +SKIP
    >>> train, heldout = split(golds, holdout=0.2)                                       # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from replyguard.io import RecordError, read_jsonl
from replyguard.schema import FLAGS

CSV_COLUMNS = ("conversation_id", "index", "flag", "label")
TRUE, FALSE = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}
SHOWN_PROBLEMS = 10


class CorrectionsError(ValueError):
    """The corrections cannot be used; the message lists the bad lines."""


def _fail(source: Path, problems: list[str]) -> CorrectionsError:
    more = f"\n  … and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return CorrectionsError(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:SHOWN_PROBLEMS]) + more)


def load_corrections(path: Path, conversations: Path | None = None) -> list[dict]:
    """Gold conversation dicts (``GoldConversation`` shape) from a corrections file."""
    if not path.exists():
        raise CorrectionsError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        if conversations is None:
            raise CorrectionsError(f"{path}: a corrections CSV names turns by conversation id and index; "
                                   "pass the scored conversations with --conversations")
        return from_csv(path, conversations)
    golds, problems = [], []
    for _, rec in read_jsonl(path, gold=True):
        if isinstance(rec, RecordError):
            problems.append(f"line {rec.line}: {rec.problem}")
        else:
            golds.append(rec.model_dump(exclude_none=True))
    if problems:
        raise _fail(path, problems)
    return golds


def _read_verdicts(path: Path) -> tuple[dict[str, dict[int, dict[str, bool]]], list[str]]:
    """{conversation id: {turn index: {flag: label}}}; later rows override earlier ones."""
    verdicts: dict[str, dict[int, dict[str, bool]]] = {}
    problems = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not set(CSV_COLUMNS) <= set(reader.fieldnames):
            raise _fail(path, [f"line 1: header must include {list(CSV_COLUMNS)}, got {reader.fieldnames}"])
        for row in reader:
            n = reader.line_num
            cid = (row["conversation_id"] or "").strip()
            flag = (row["flag"] or "").strip()
            label = (row["label"] or "").strip().lower()
            try:
                index = int(row["index"])
            except (TypeError, ValueError):
                problems.append(f"line {n}: index {row['index']!r} is not a whole number")
                continue
            if not cid:
                problems.append(f"line {n}: empty conversation_id")
            elif flag not in FLAGS:
                problems.append(f"line {n}: unknown flag {flag!r} (one of {', '.join(FLAGS)})")
            elif label not in TRUE | FALSE:
                problems.append(f"line {n}: label {row['label']!r} is not 1/0, true/false or yes/no")
            else:
                verdicts.setdefault(cid, {}).setdefault(index, {})[flag] = label in TRUE
    return verdicts, problems


def from_csv(path: Path, conversations: Path) -> list[dict]:
    """Apply CSV verdicts to the conversations they name (streamed; only those are kept)."""
    from replyguard.sources import list_inputs, read_records

    verdicts, problems = _read_verdicts(path)
    found: dict[str, dict] = {}
    for rec in read_records(list_inputs(conversations)):
        if isinstance(rec, RecordError) or rec.id not in verdicts or rec.id in found:
            continue
        conv = rec.model_dump(exclude_none=True)
        for index in sorted(verdicts[rec.id]):
            if not 0 <= index < len(conv["turns"]) or conv["turns"][index]["role"] != "agent":
                problems.append(f"conversation {rec.id}: turn {index} is not an agent turn")
        for i, turn in enumerate(conv["turns"]):
            if turn["role"] != "agent":
                continue
            ruled = verdicts[rec.id].get(i, {})
            turn["gold"] = [f for f in FLAGS if ruled.get(f) is True]
            turn["skip"] = [f for f in FLAGS if f not in ruled]
        found[rec.id] = conv
    missing = [cid for cid in verdicts if cid not in found]
    if missing:
        problems.append(f"{len(missing)} conversation id(s) not found in {conversations}: {', '.join(missing[:5])}")
    if problems:
        raise _fail(path, problems)
    return [found[cid] for cid in verdicts]  # in the order the CSV first names them


def _bucket(cid: str, seed: int) -> float:
    """A stable number in [0, 1) per conversation: the split does not move when rows are added."""
    return int(hashlib.sha256(f"{seed}:{cid}".encode()).hexdigest()[:12], 16) / float(1 << 48)


def split(golds: list[dict], holdout: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held out) by conversation; both non-empty when there are two or more.

    >>> tr, ho = split([{"id": str(i)} for i in range(10)], holdout=0.3)
    >>> len(tr) + len(ho), len(ho) > 0
    (10, True)
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError("holdout must be in [0, 1)")
    keyed = sorted(golds, key=lambda g: _bucket(str(g["id"]), seed))
    n_ho = sum(_bucket(str(g["id"]), seed) < holdout for g in golds)
    if holdout > 0 and len(golds) >= 2:
        n_ho = min(max(n_ho, 1), len(golds) - 1)
    ho_ids = {g["id"] for g in keyed[:n_ho]}
    return [g for g in golds if g["id"] not in ho_ids], [g for g in golds if g["id"] in ho_ids]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
