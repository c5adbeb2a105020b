"""Batch scoring at scale: streamed input, chunks through ``Analyzer.score``, resumable, atomic.

    >>> from replyguard.batch import LocalEngine, score_file
    >>> result = score_file("chats.jsonl", "findings.jsonl", LocalEngine(analyzer))  # doctest: +SKIP
    >>> result.scored, result.bad                                                     # doctest: +SKIP
    (10000, 3)

How a run survives a kill. Valid conversations are grouped, in input order, into chunks of
``chunk_size``; chunk *k* is always the same conversations. Each finished chunk is appended
to ``OUTPUT.partial`` and fsynced, *then* recorded in ``OUTPUT.journal`` (chunk number, byte
offset, last id) and fsynced. A restarted run reads the journal, cuts the partial file back
to the last recorded offset (dropping a half-written chunk), skips the recorded chunks and
scores the rest. When all chunks are in, the partial file is renamed over OUTPUT in one
step, so OUTPUT is either absent/old or complete, never half-written.

Byte-identical output after a restart also needs each chunk's bytes to depend on that
chunk alone. The encoder's embeddings move in the 7th decimal with the make-up of the
batch they were computed in, so a cache warmed by earlier chunks would make a resumed
chunk differ; :func:`score_chunk` therefore starts every chunk from an empty encoder cache
(texts repeated inside a chunk are still encoded once).

Multi-core: the local engine runs one process; the encoder's forward pass, which is most
of the time, already uses every core through torch's intra-op threads, and one process
keeps one copy of the model in memory. The Ray engine (:mod:`replyguard.batch_ray`) runs
one single-threaded actor (and model) per CPU instead: for clusters, and for busy machines
where threads that wait on each other lose to processes (docs/qa-workflow.md, measured).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from replyguard.io import RecordError
from replyguard.schema import Conversation
from replyguard.sources import list_inputs, read_records

CHUNK = 256  # conversations per chunk: one full model batch, bounded memory, one journal entry


def score_chunked(analyzer, conversations: list[Conversation], chunk_size: int = CHUNK) -> list:
    """``analyzer.score`` over ``chunk_size`` conversations at a time (bounded memory, full model
    batches), in order: what evaluation does with a whole gold file already in memory."""
    out: list = []
    for i in range(0, len(conversations), chunk_size):
        out += analyzer.score(conversations[i : i + chunk_size])
    return out
FORMAT = 1  # journal format version


@dataclass
class Chunk:
    """Consecutive valid conversations; ``number`` counts from 0 in input order."""

    number: int
    conversations: list[Conversation]
    size: int = 0  # set from conversations; kept when they are dropped (see light())
    last_id: str = ""

    def __post_init__(self) -> None:
        if self.conversations:
            self.size, self.last_id = len(self.conversations), self.conversations[-1].id

    def light(self) -> Chunk:
        """The same chunk without its conversations (what the journal needs)."""
        return Chunk(self.number, [], self.size, self.last_id)


class Engine(Protocol):
    """Turns chunks into their output bytes, yielded in chunk order."""

    def map(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, bytes]]: ...


def score_chunk(analyzer, conversations: list[Conversation]) -> bytes:
    """Output lines (UTF-8 JSON) for one chunk, computed from a clean encoder cache.

    >>> score_chunk(analyzer, [conv]).decode()  # doctest: +SKIP
    '{"id": "c-1", "score": 100.0, "lang": "en", "turns": [...]}\\n'
    """
    encoder = getattr(analyzer, "encoder", None)  # the rule baseline has none
    if hasattr(encoder, "clear_cache"):  # see the module docstring for why
        encoder.clear_cache()
    lines = [json.dumps(r.model_dump(exclude_none=True), ensure_ascii=False) + "\n"
             for r in analyzer.score(conversations)]
    return "".join(lines).encode("utf-8")


class LocalEngine:
    """Scores chunks in this process with one Analyzer."""

    def __init__(self, analyzer) -> None:
        self.analyzer = analyzer

    def map(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, bytes]]:
        for chunk in chunks:
            yield chunk, score_chunk(self.analyzer, chunk.conversations)


def model_id(name: str, config: dict | None) -> str:
    """Name plus a short hash of the model config (thresholds, training data): what the journal
    compares, so that resuming with a retrained model of the same name starts over."""
    digest = hashlib.sha256(json.dumps(config or {}, sort_keys=True).encode()).hexdigest()[:16]
    return f"{name}@{digest}"


def default_errors_path(output: str | Path) -> Path:
    """``out.jsonl`` -> ``out.errors.jsonl``."""
    out = Path(output)
    return out.with_name(out.stem + ".errors.jsonl")


class Journal:
    """The partial output file and its journal of committed chunks (see module docstring)."""

    def __init__(self, output: Path, fingerprint: dict, fresh: bool = False) -> None:
        self.output = output
        self.partial = output.with_name(output.name + ".partial")
        self.path = output.with_name(output.name + ".journal")
        output.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RuntimeError(f"another run is writing {output} (lock on {self.path})") from None
        self.header = {"format": FORMAT, "fingerprint": fingerprint}
        self.note = ""
        self.entries: list[dict] = [] if fresh else self._recover()
        if not self.entries:
            self._start()
        self._out = open(self.partial, "r+b")  # noqa: SIM115 - held for the whole run, closed in commit/close
        self._out.truncate(self.end)
        self._out.seek(self.end)

    @property
    def done(self) -> int:
        return len(self.entries)

    @property
    def end(self) -> int:
        return self.entries[-1]["end"] if self.entries else 0

    def _recover(self) -> list[dict]:
        """Committed entries of an interrupted run with the same fingerprint, else []."""
        raw = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        lines = raw.split(b"\n")[:-1]  # a last line without newline was torn by the kill
        if not lines or not self.partial.exists():
            return []
        try:
            if json.loads(lines[0]) != self.header:
                self.note = "input, model or chunk size changed since the interrupted run; starting over"
                return []
            entries = [json.loads(x) for x in lines[1:]]
        except json.JSONDecodeError:
            self.note = "journal unreadable; starting over"
            return []
        ok = [e for i, e in enumerate(entries) if e.get("chunk") == i]
        if len(ok) != len(entries) or (ok and self.partial.stat().st_size < ok[-1]["end"]):
            self.note = "journal does not match the partial output; starting over"
            return []
        if ok:
            self.note = f"resuming: {len(ok)} chunks already scored"
        return ok

    def _start(self) -> None:
        with open(self.partial, "wb"):
            pass
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(self.header) + "\n").encode(), 0)
        os.fsync(self._fd)
        self.entries = []

    def check(self, chunk: Chunk) -> None:
        """A skipped chunk must end with the id recorded for it, or the input changed."""
        if self.entries[chunk.number]["last_id"] != chunk.last_id:
            raise RuntimeError(f"input changed since the interrupted run (chunk {chunk.number} now ends at "
                               f"{chunk.last_id!r}); rerun with --fresh")

    def append(self, chunk: Chunk, data: bytes) -> None:
        if chunk.number != self.done:
            raise RuntimeError(f"chunk {chunk.number} arrived out of order (expected {self.done})")
        self._out.write(data)
        self._out.flush()
        os.fsync(self._out.fileno())
        entry = {"chunk": chunk.number, "end": self.end + len(data), "n": chunk.size, "last_id": chunk.last_id}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        os.pwrite(self._fd, line, os.fstat(self._fd).st_size)
        os.fsync(self._fd)
        self.entries.append(entry)

    def commit(self) -> None:
        """Rename the finished partial file over the output; forget the journal."""
        self._out.close()
        os.replace(self.partial, self.output)
        _fsync_dir(self.output.parent)
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()
        if self._fd >= 0:
            os.close(self._fd)  # also releases the lock
            self._fd = -1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _ErrorLog:
    """Bad records streamed to ``ERRORS.partial``; renamed into place when the run finishes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.partial, "w", encoding="utf-8")  # noqa: SIM115 - held for the whole run
        self.count = 0

    def add(self, e: RecordError) -> None:
        self.f.write(json.dumps({"source": e.source, "line": e.line, "id": e.record_id, "problem": e.problem},
                                ensure_ascii=False) + "\n")
        self.count += 1

    def commit(self) -> None:
        self.f.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        self.f.close()
        self.partial.unlink(missing_ok=True)


@dataclass
class BatchResult:
    output: Path
    errors: Path
    scored: int = 0  # conversations in the output
    bad: int = 0  # bad records (in the errors file)
    chunks: int = 0
    resumed_chunks: int = 0  # chunks found finished by an earlier, interrupted run
    bad_examples: list[RecordError] = field(default_factory=list)


def _chunks(records: Iterable[Conversation | RecordError], size: int,
            on_error: Callable[[RecordError], None]) -> Iterator[Chunk]:
    number, batch = 0, []
    for rec in records:
        if isinstance(rec, RecordError):
            on_error(rec)
            continue
        batch.append(rec)
        if len(batch) >= size:
            yield Chunk(number, batch)
            number, batch = number + 1, []
    if batch:
        yield Chunk(number, batch)


def input_fingerprint(paths: list[Path]) -> list[list]:
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def score_file(input: str | Path, output: str | Path, engine: Engine, *, model_id: str = "",
               errors: str | Path | None = None, chunk_size: int = CHUNK, fresh: bool = False,
               progress: Callable[[int], None] | None = None,
               on_bad: Callable[[RecordError], None] | None = None,
               on_note: Callable[[str], None] | None = None) -> BatchResult:
    """Score every conversation of ``input`` (file or directory) into ``output``, resumably.

    ``model_id`` identifies the model in the journal, so a restart with another model starts
    over. ``progress`` is called with the number of input records done (bad ones included).

    >>> score_file("in.jsonl", "out.jsonl", LocalEngine(analyzer), model_id="v1")  # doctest: +SKIP
    BatchResult(output=PosixPath('out.jsonl'), errors=PosixPath('out.errors.jsonl'), scored=..., ...)
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    paths = list_inputs(input)
    out = Path(output)
    res = BatchResult(out, Path(errors) if errors else default_errors_path(out))
    fingerprint = {"inputs": input_fingerprint(paths), "model": model_id, "chunk_size": chunk_size}
    journal = Journal(out, fingerprint, fresh=fresh)
    if journal.note and on_note:
        on_note(journal.note)
    log = _ErrorLog(res.errors)
    tick = progress or (lambda n: None)

    def bad(e: RecordError) -> None:
        log.add(e)
        if len(res.bad_examples) < 20:
            res.bad_examples.append(e)
        if on_bad:
            on_bad(e)
        tick(1)

    def pending() -> Iterator[Chunk]:
        for chunk in _chunks(read_records(paths), chunk_size, bad):
            if chunk.number < journal.done:
                journal.check(chunk)
                res.resumed_chunks += 1
                res.scored += chunk.size
                tick(chunk.size)
                continue
            yield chunk

    try:
        for chunk, data in engine.map(pending()):
            journal.append(chunk, data)
            res.scored += chunk.size
            tick(chunk.size)
        res.chunks, res.bad = journal.done, log.count
        log.commit()
        journal.commit()
    except BaseException:
        log.abort()
        journal.close()
        raise
    return res
