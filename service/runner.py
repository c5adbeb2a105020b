"""One lane for model work per worker process: a queue bound, a timeout, and a micro-batcher.

The models are CPU-bound, so running two calls at once on separate threads only makes both
slower; every model call goes through the one thread here, and a full queue is refused early
(503) rather than answered late. Calls of a batched kind (draft checks, from ``POST /v1/check``,
stored-conversation checks and the WebSocket alike) are not run one by one: checks that
arrive close together (see ``_collect``) go through the op's batch function in one call
(``Analyzer.check_many``: one encoder pass for all the drafts), so sixteen drafts cost far
less than sixteen passes and clients that type at the same time are answered together.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from service.metrics import MODEL_BATCH, MODEL_QUEUE, MODEL_SECONDS

T = TypeVar("T")
log = logging.getLogger("replyguard.service")
# A batch function takes the items of a batch and returns one result per item, in order; an
# item's result may be an exception, which is raised to that item's caller only.
BatchFn = Callable[[list[Any]], Sequence[Any]]
_NOTHING = object()


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


_malloc_trim = _libc_malloc_trim()


class Busy(RuntimeError):
    """The model queue is full."""


@dataclass
class _Job:
    op: str
    fn: Callable[..., Any] | None  # a call of its own, or None for an item of op's batch
    args: tuple = ()
    item: Any = _NOTHING
    queued: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)


class ModelRunner:
    """Runs model calls on one dedicated thread, batching calls of the kinds in ``batchers``.

    >>> import asyncio
    >>> r = ModelRunner(timeout_s=1, max_queue=4, batchers={"upper": lambda xs: [x.upper() for x in xs]})
    >>> asyncio.run(r.run("demo", sum, [1, 2])), asyncio.run(r.batched("upper", "a"))
    (3, 'A')
    >>> r.close()
    """

    def __init__(self, timeout_s: float, max_queue: int, batchers: dict[str, BatchFn] | None = None,
                 window_s: float = 0.01, max_batch: int = 32, gap_s: float = 0.001,
                 on_trim: Callable[[], object] | None = None) -> None:
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self.batchers = dict(batchers or {})
        self.window_s = window_s
        self.gap_s = min(gap_s, window_s)
        self.max_batch = max_batch
        self._last_size = 1  # size of the last batch: how many callers are likely to come back
        self._free_at = 0.0  # when the lane last finished a batch
        self.trim_every_s = 30.0
        self.on_trim = on_trim  # also run at each trim (service.memory.SparseWeights.release)
        self._trimmed_at = time.monotonic()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="replyguard-model", daemon=True)
        self._thread.start()

    # -- callers (event loop) -----------------------------------------------------
    async def run(self, op: str, fn: Callable[..., T], *args: object) -> T:
        """Await ``fn(*args)`` run alone on the model thread; raises :class:`Busy` or :class:`TimeoutError`.

        On timeout a call that has not started is cancelled; one already running finishes in
        the background (a forward pass cannot be interrupted) and its result is dropped.
        """
        return await self._await(_Job(op, fn, args))

    async def batched(self, op: str, item: Any) -> Any:
        """Await the result for ``item`` from ``op``'s batch function, batched with other callers'."""
        if op not in self.batchers:
            raise KeyError(f"no batch function for {op!r}")
        return await self._await(_Job(op, None, item=item))

    async def _await(self, job: _Job) -> Any:
        with self._lock:
            if self._pending >= self.max_queue:
                raise Busy(f"{self._pending} model calls queued")
            self._pending += 1
        MODEL_QUEUE.inc()
        job.future.add_done_callback(self._done)  # runs on completion and on cancellation
        self._jobs.put(job)
        return await asyncio.wait_for(asyncio.wrap_future(job.future), self.timeout_s)

    def _done(self, _fut: Future) -> None:
        with self._lock:
            self._pending -= 1
        MODEL_QUEUE.dec()

    # -- the model thread ---------------------------------------------------------
    def _loop(self) -> None:
        deferred: deque[_Job] = deque()  # jobs of another kind met while collecting a batch
        stop = False
        while not stop:
            self._trim_heap()
            job = deferred.popleft() if deferred else self._jobs.get()
            if job is None:
                break
            if job.fn is not None:
                self._run_one(job)
                continue
            batch = [job, *self._take_deferred(deferred, job.op)]
            stop = self._collect(batch, deferred)
            self._last_size = len(batch)
            self._run_batch(job.op, batch)
            self._free_at = time.monotonic()
        for job in deferred:  # closing: nobody will run these
            job.future.cancel()

    def _trim_heap(self) -> None:
        """Give memory back to the system, at most every ``trim_every_s`` (a few ms).

        Forward passes of ever-changing shapes leave freed blocks in glibc's heap that it
        keeps, and a trim gives them back; ``on_trim`` hands back what else the passes left
        resident (the embedding rows that new drafts read; see :mod:`service.memory`).
        """
        now = time.monotonic()
        if now - self._trimmed_at < self.trim_every_s:
            return
        self._trimmed_at = now
        if self.on_trim is not None:
            try:
                self.on_trim()
            except Exception:  # memory housekeeping must never stop the lane
                log.exception("trim hook failed")
        if _malloc_trim is not None:
            _malloc_trim(0)

    def _take_deferred(self, deferred: deque[_Job], op: str) -> list[_Job]:
        same = [j for j in deferred if j.fn is None and j.op == op][: self.max_batch - 1]
        for j in same:
            deferred.remove(j)
        return same

    def _collect(self, batch: list[_Job], deferred: deque[_Job]) -> bool:
        """Add jobs of ``batch``'s kind to it; True when told to stop.

        The batch closes when it is full; or once it is as large as the last one (the same
        clients coming back) and nothing more arrived for ``gap_s``; or ``window_s`` after the
        lane became free for it. So with one client a check waits ``gap_s`` at most, and a
        group of clients that send together lands in one batch without waiting the window out.
        """
        op = batch[0].op
        deadline = max(batch[0].queued, self._free_at) + self.window_s
        last = time.monotonic()
        while len(batch) < self.max_batch:
            now = time.monotonic()
            wait = deadline - now
            if len(batch) >= self._last_size:
                wait = min(wait, last + self.gap_s - now)
            try:
                nxt = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
            except queue.Empty:
                return False
            if nxt is None:
                return True
            if nxt.fn is None and nxt.op == op:
                batch.append(nxt)
                last = time.monotonic()
            else:
                deferred.append(nxt)
        return False

    def _run_one(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():  # timed out while waiting
            return
        t0 = time.perf_counter()
        try:
            job.future.set_result(job.fn(*job.args))  # type: ignore[misc]
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting request
            job.future.set_exception(e)
        finally:
            MODEL_SECONDS.labels(job.op).observe(time.perf_counter() - t0)

    def _run_batch(self, op: str, batch: list[_Job]) -> None:
        live = [j for j in batch if j.future.set_running_or_notify_cancel()]  # skip timed-out ones
        if not live:
            return
        MODEL_BATCH.labels(op).observe(len(live))
        t0 = time.perf_counter()
        try:
            results = list(self.batchers[op]([j.item for j in live]))
            if len(results) != len(live):
                raise RuntimeError(f"{op}: {len(results)} results for {len(live)} items")
        except BaseException as e:  # noqa: BLE001 - handed to every request of the batch
            log.error("batched %s of %d failed: %s", op, len(live), type(e).__name__)
            for j in live:
                j.future.set_exception(e)
            return
        finally:
            MODEL_SECONDS.labels(op).observe(time.perf_counter() - t0)
        for j, r in zip(live, results):
            if isinstance(r, BaseException):
                j.future.set_exception(r)
            else:
                j.future.set_result(r)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)
