"""The Ray engine for batch scoring: the same chunks and :func:`~replyguard.batch.score_chunk`
on Ray Data, one model per actor. Optional: ``pip install 'replyguard[ray]'``.

    >>> from functools import partial
    >>> from replyguard.analyzer import Analyzer
    >>> engine = RayEngine(partial(Analyzer.load, "replyguard-v13", threads=1), workers=4)  # doctest: +SKIP
    >>> score_file("chats.jsonl", "findings.jsonl", engine)                                # doctest: +SKIP

The driver reads and validates the input (bad records are reported there, with their line
numbers, exactly as in the local engine) and writes each pending chunk to a staging folder
as JSONL, so memory stays flat (the input is read completely before scoring starts). A Ray dataset of chunk references then goes through an
actor pool; each actor builds its Analyzer once with the factory it was given and scores
whole chunks, so chunk contents - and hence the output bytes - are the local engine's.
Results come back in order (``preserve_order``) and are journalled by the driver.
The staging folder must be visible to the workers: a local Ray instance or a shared disk.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from replyguard.batch import Chunk, score_chunk
from replyguard.schema import Conversation


class ChunkScorer:
    """Ray Data callable class: one Analyzer per actor, built once by ``factory``."""

    def __init__(self, factory: Callable[[], object]) -> None:
        self.analyzer = factory()

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        out = []
        for path in batch["path"]:
            with open(path, encoding="utf-8") as f:
                convs = [Conversation.model_validate_json(line) for line in f]
            out.append(score_chunk(self.analyzer, convs))
        return {"chunk": batch["chunk"], "data": np.array(out, dtype=object)}


class RayEngine:
    """Scores chunks on a Ray cluster (a local one is started when none is running).

    ``factory`` must be picklable (a module-level function or a ``functools.partial`` of
    one) and return an Analyzer; ``workers`` actors each hold one model and use
    ``cpus_per_worker`` CPUs (the factory should set torch threads to match). Chunks are
    staged in a new folder under ``stage_dir`` (default: the temp folder), removed at the end.
    """

    def __init__(self, factory: Callable[[], object], workers: int | None = None, cpus_per_worker: float = 1.0,
                 stage_dir: str | Path | None = None, address: str | None = None) -> None:
        self.factory = factory
        self.workers = workers or max(1, (os.cpu_count() or 1) // max(1, int(cpus_per_worker)))
        self.cpus_per_worker = cpus_per_worker
        self.stage_dir = Path(stage_dir) if stage_dir else Path(tempfile.gettempdir())
        self.address = address

    def _stage(self, chunks: Iterator[Chunk], folder: Path) -> list[Chunk]:
        """Write each chunk's conversations to ``folder``; keep only ids and counts in memory."""
        folder.mkdir(parents=True, exist_ok=True)
        staged = []
        for chunk in chunks:
            path = folder / f"chunk-{chunk.number:07d}.jsonl"
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(c.model_dump_json() + "\n" for c in chunk.conversations)
            staged.append(chunk.light())  # the journal needs only the count and the last id
        return staged

    def map(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, bytes]]:
        import ray
        import ray.data

        self.stage_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="replyguard-stage-", dir=self.stage_dir))  # ours alone to delete
        try:
            staged = self._stage(chunks, folder)
            if not staged:
                return
            logging.getLogger("ray.data").setLevel(logging.ERROR)  # its per-dataset lines drown our progress bar
            if not ray.is_initialized():
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = True  # results in chunk order, as the journal needs
            ctx.enable_progress_bars = False  # the CLI draws its own
            items = [{"chunk": c.number, "path": str(folder / f"chunk-{c.number:07d}.jsonl")} for c in staged]
            ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                ChunkScorer, fn_constructor_kwargs={"factory": self.factory}, batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(items))),
                num_cpus=self.cpus_per_worker)  # Ray's default: a lost actor is restarted, its chunk retried
            by_number = {c.number: c for c in staged}
            for row in ds.iter_rows():
                yield by_number.pop(int(row["chunk"])), bytes(row["data"])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
