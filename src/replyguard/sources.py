"""Input sources for batch scoring: JSONL, CSV, Parquet files and directories of them.

Every reader is a generator over ``Conversation | RecordError`` that holds one record (or
one Parquet record batch) at a time, so memory stays flat whatever the input size. Line
numbers in errors are 1-based: the line of a JSONL record, the first CSV line of a
conversation, the row of a Parquet file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from replyguard.io import RecordError, _explain, read_jsonl
from replyguard.schema import Conversation

SUFFIXES = (".jsonl", ".csv", ".parquet")
TURN_COLUMNS = {"conversation_id", "role", "text"}  # one row per turn (CSV and Parquet)
PARQUET_BATCH = 1024  # rows decoded at a time
COUNT_LIMIT = 1 << 30  # bytes of JSONL we are willing to scan just to size the progress bar


def list_inputs(path: str | Path) -> list[Path]:
    """The files behind an input: the file itself, or a directory's JSONL/CSV/Parquet files sorted by name.

    >>> list_inputs("tests/data/tiny")[0].name  # doctest: +SKIP
    'heldout.jsonl'
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    if p.is_file():
        return [p]
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                   and f.suffix.lower() in SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{p}: no {', '.join(SUFFIXES)} files in this directory")
    return files


def read_records(paths: list[Path]) -> Iterator[Conversation | RecordError]:
    """Conversations and bad records of every file, in order."""
    for p in paths:
        suffix = p.suffix.lower()
        if suffix == ".csv":
            yield from stream_csv(p)
        elif suffix == ".parquet":
            yield from read_parquet(p)
        else:
            yield from (rec for _, rec in read_jsonl(p))


def _turn_dict(row: dict) -> dict:
    """A turn from a one-row-per-turn record: every column but the id, empty values dropped."""
    return {k: v for k, v in row.items() if k not in ("conversation_id", None) and v not in (None, "")} \
        | {"text": row.get("text") or ""}


def _conversation(source: str, line: int, cid: str, rows: list[dict]) -> Conversation | RecordError:
    try:
        return Conversation.model_validate({"id": cid, "turns": [_turn_dict(r) for r in rows]})
    except ValidationError as e:
        return RecordError(source, line, cid, _explain(e))


def _group_turn_rows(source: str, rows: Iterator[tuple[int, dict] | RecordError]) -> Iterator[Conversation | RecordError]:
    """Consecutive rows with the same conversation_id make one conversation; errors pass through."""
    cur_id: str | None = None
    group: list[dict] = []
    start = 0
    for item in rows:
        if isinstance(item, RecordError):
            yield item
            continue
        line, row = item
        cid = str(row.get("conversation_id") or "").strip()
        if not cid:
            yield RecordError(source, line, None, "empty conversation_id")
            continue
        if cid != cur_id:
            if group:
                yield _conversation(source, start, cur_id or "", group)
            cur_id, group, start = cid, [], line
        group.append(row)
    if group:
        yield _conversation(source, start, cur_id or "", group)


def stream_csv(path: str | Path) -> Iterator[Conversation | RecordError]:
    """CSV with one row per turn (CONTRACT.md), read line by line rather than as one string.

    Same grouping and messages as :func:`replyguard.io.read_csv`. A line that is not UTF-8
    is reported with its number and skipped; the rest of the file is still read.
    """
    source = str(path)
    line = 0
    bad: list[RecordError] = []

    def lines() -> Iterator[str]:
        nonlocal line
        with open(path, "rb") as f:
            for raw in f:
                line += 1
                try:
                    yield raw.decode("utf-8-sig" if line == 1 else "utf-8")
                except UnicodeDecodeError as e:
                    bad.append(RecordError(source, line, None, f"not valid UTF-8 ({e.reason} at byte {e.start}); "
                                                               "re-save the file as UTF-8"))

    reader = csv.DictReader(lines())
    fields = reader.fieldnames
    if bad or not fields or not TURN_COLUMNS <= set(fields):
        yield bad[0] if bad else RecordError(source, 1, None, f"CSV header must include {sorted(TURN_COLUMNS)}, "
                                                              f"got {fields}")
        return

    def rows() -> Iterator[tuple[int, dict] | RecordError]:
        for row in reader:
            yield from bad
            bad.clear()
            yield line - row_lines(row) + 1, row  # the row's first line
        yield from bad

    yield from _group_turn_rows(source, rows())


def row_lines(row: dict) -> int:
    """Physical lines a CSV row spans (quoted fields may hold newlines)."""
    return 1 + sum(v.count("\n") for v in row.values() if isinstance(v, str))


def read_parquet(path: str | Path) -> Iterator[Conversation | RecordError]:
    """Parquet in either layout: one row per conversation (a ``turns`` list column, like the
    JSONL records) or one row per turn (``conversation_id, role, text``, like the CSV).

    Read one record batch at a time; ``line`` in errors is the 1-based row number.
    """
    import pyarrow.parquet as pq

    source = str(path)
    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        yield RecordError(source, 1, None, f"not a readable Parquet file: {e}")
        return
    names = set(pf.schema_arrow.names)

    def rows() -> Iterator[tuple[int, dict]]:
        n = 0
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
            for row in batch.to_pylist():
                n += 1
                yield n, row

    if "turns" in names:
        for n, row in rows():
            rid = str(row["id"]) if row.get("id") is not None else None
            row = {k: v for k, v in row.items() if v is not None}  # absent optional columns
            try:
                conv = Conversation.model_validate(row)
            except ValidationError as e:
                yield RecordError(source, n, rid, _explain(e))
                continue
            if not conv.turns:
                yield RecordError(source, n, rid, "conversation has no turns")
                continue
            yield conv
    elif TURN_COLUMNS <= names:
        yield from _group_turn_rows(source, rows())
    else:
        yield RecordError(source, 1, None, "Parquet columns must include `turns` (one row per conversation) or "
                                           f"{sorted(TURN_COLUMNS)} (one row per turn), got {sorted(names)}")


def count_conversations(paths: list[Path]) -> int | None:
    """Records to expect, for the progress bar; None when it cannot be known cheaply."""
    total = 0
    for p in paths:
        suffix = p.suffix.lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            try:
                pf = pq.ParquetFile(p)
            except (OSError, ValueError):
                return None
            if "turns" not in pf.schema_arrow.names:
                return None
            total += pf.metadata.num_rows
        elif suffix == ".csv" or p.stat().st_size > COUNT_LIMIT:
            return None
        else:
            with open(p, "rb") as f:
                total += sum(1 for line in f if line.strip())
    return total
