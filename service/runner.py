"""One lane for model work per worker process, with a queue bound, a timeout, and batching.

The models are CPU-bound and already use every core through torch, so running two drafts
at once only makes both slower; calls queue here instead, and a full queue is refused early
(503) rather than answered late. When several drafts are waiting, their texts go through the
encoder in one batched pass first (``prefetch``); each check then finds its draft in the
encoder's cache, so sixteen waiting drafts cost far less than sixteen single passes.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from replyguard.analyzer import Analyzer
from replyguard.text import segments
from service.metrics import MODEL_QUEUE, MODEL_SECONDS

T = TypeVar("T")
log = logging.getLogger("replyguard.service")


class Busy(RuntimeError):
    """The model queue is full."""


@dataclass
class _Job:
    op: str
    fn: Callable[..., Any]
    args: tuple
    draft: str | None = None
    future: Future = field(default_factory=Future)


class ModelRunner:
    """Runs model calls one at a time on a dedicated thread.

    >>> import asyncio
    >>> r = ModelRunner(timeout_s=1, max_queue=4)
    >>> asyncio.run(r.run("demo", sum, [1, 2]))
    3
    """

    def __init__(self, timeout_s: float, max_queue: int, prefetch: Callable[[list[str]], object] | None = None,
                 max_batch: int = 32) -> None:
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self.prefetch = prefetch
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="replyguard-model", daemon=True)
        self._thread.start()

    def _submit(self, job: _Job) -> Future:
        with self._lock:
            if self._pending >= self.max_queue:
                raise Busy(f"{self._pending} model calls queued")
            self._pending += 1
        MODEL_QUEUE.inc()
        job.future.add_done_callback(self._done)  # runs on completion and on cancellation
        self._jobs.put(job)
        return job.future

    def _done(self, _fut: Future) -> None:
        with self._lock:
            self._pending -= 1
        MODEL_QUEUE.dec()

    async def run(self, op: str, fn: Callable[..., T], *args: object, draft: str | None = None) -> T:
        """Await ``fn(*args)``; raises :class:`Busy` or :class:`TimeoutError`.

        ``draft`` names the text ``fn`` will judge, for batched prefetching. On timeout a call
        that has not started is cancelled; one already running finishes in the background (a
        forward pass cannot be interrupted) and its result is dropped.
        """
        fut = self._submit(_Job(op, fn, args, draft))
        return await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout_s)

    def _take_batch(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` plus whatever else is waiting (up to max_batch); True when told to stop."""
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                nxt = self._jobs.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                return
            batch, stop = self._take_batch(first)
            live = [j for j in batch if j.future.set_running_or_notify_cancel()]  # skip timed-out ones
            drafts = [j.draft for j in live if j.draft]
            if self.prefetch and len(drafts) > 1:
                try:
                    self.prefetch(drafts)
                except Exception:
                    log.exception("batched prefetch failed")
            for job in live:
                t0 = time.perf_counter()
                try:
                    job.future.set_result(job.fn(*job.args))
                except BaseException as e:  # noqa: BLE001 - handed to the awaiting request
                    job.future.set_exception(e)
                finally:
                    MODEL_SECONDS.labels(job.op).observe(time.perf_counter() - t0)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)


def draft_prefetcher(analyzer: Analyzer) -> Callable[[list[str]], object]:
    """Encodes waiting drafts in one batch, so the checks that follow find them in the cache.

    The texts are those the Featurizer encodes for a reply: the reply, and its segments when
    it has several. Were that to change, the checks would still be right, only slower.
    """

    def prefetch(drafts: list[str]) -> object:
        texts = []
        for d in drafts:
            parts = segments(d)
            texts += [d, *parts] if len(parts) > 1 else [d]
        return analyzer.encoder.encode(list(dict.fromkeys(texts)))

    return prefetch
