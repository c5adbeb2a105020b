"""The model lane: one thread, draft checks micro-batched, timeouts skip, the queue is bounded."""

from __future__ import annotations

import asyncio
import threading

import pytest

from replyguard.schema import Conversation
from service.runner import Busy, ModelRunner
from tests.utils.fixtures import conv


def test_waiting_checks_go_through_the_batch_function_together():
    batches: list[list[str]] = []
    gate = threading.Event()

    def upper(items: list[str]) -> list[str]:
        batches.append(list(items))
        if items == ["d0"]:
            gate.wait(5)  # holds the lane while the others queue
        return [x.upper() for x in items]

    runner = ModelRunner(timeout_s=5, max_queue=100, batchers={"check": upper}, window_s=0.0)

    async def main():
        first = asyncio.ensure_future(runner.batched("check", "d0"))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(runner.batched("check", f"d{i}")) for i in range(1, 5)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*rest)

    try:
        assert asyncio.run(main()) == ("D0", ["D1", "D2", "D3", "D4"])
    finally:
        runner.close()
    assert batches == [["d0"], ["d1", "d2", "d3", "d4"]]  # d0 ran alone; the four waiting ones in one batch


def test_the_window_gathers_checks_that_arrive_close_together():
    batches: list[int] = []

    def count(items: list[int]) -> list[int]:
        batches.append(len(items))
        return items

    runner = ModelRunner(timeout_s=5, max_queue=100, batchers={"check": count}, window_s=0.2, max_batch=3,
                          gap_s=0.05)

    async def main():
        out = []
        for i in range(5):
            out.append(asyncio.ensure_future(runner.batched("check", i)))
            await asyncio.sleep(0.01)
        return await asyncio.gather(*out)

    try:
        assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    finally:
        runner.close()
    assert batches == [3, 2]  # max_batch caps a batch; the rest wait for the next window


def test_one_failing_item_fails_only_its_caller_and_other_calls_keep_their_turn():
    def picky(items: list[str]) -> list[object]:
        return [ValueError(f"bad {x}") if x == "bad" else x * 2 for x in items]

    runner = ModelRunner(timeout_s=5, max_queue=100, batchers={"check": picky}, window_s=0.05)

    async def main():
        jobs = [runner.batched("check", "a"), runner.batched("check", "bad"), runner.run("score", sum, [1, 2]),
                runner.batched("check", "c")]
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        a, bad, score, c = asyncio.run(main())
    finally:
        runner.close()
    assert (a, score, c) == ("aa", 3, "cc")
    assert isinstance(bad, ValueError)


def test_a_batch_function_that_raises_fails_its_batch_not_the_lane():
    calls = []

    def broken(items: list[str]) -> list[str]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return items

    runner = ModelRunner(timeout_s=5, max_queue=100, batchers={"check": broken}, window_s=0.0)
    try:
        with pytest.raises(RuntimeError):
            asyncio.run(runner.batched("check", "x"))
        assert asyncio.run(runner.batched("check", "y")) == "y"
    finally:
        runner.close()


def test_timed_out_calls_are_skipped_and_the_queue_is_bounded():
    gate = threading.Event()
    ran: list[int] = []
    runner = ModelRunner(timeout_s=0.1, max_queue=2, batchers={"check": lambda xs: [ran.append(x) for x in xs]})

    async def main():
        blocker = asyncio.ensure_future(runner.run("x", gate.wait, 5))
        await asyncio.sleep(0.02)
        with pytest.raises(TimeoutError):
            await runner.batched("check", 1)  # waits behind the blocker, gives up
        with pytest.raises(Busy):
            await asyncio.gather(runner.run("x", ran.append, 2), runner.run("x", ran.append, 3))
        gate.set()
        with pytest.raises(TimeoutError):
            await blocker

    try:
        asyncio.run(main())
        assert 1 not in ran  # the cancelled call never ran
    finally:
        runner.close()


# -- the Analyzer's batched entry point, which the service's batches go through ------------

CONVS = [
    conv(("customer", "我的快递三天没动了!!!"), ("agent", "请您耐心等待。"), ("customer", "到底什么时候到?"), cid="a"),
    conv(("customer", "Where is my refund?? I have waited two weeks."), cid="b"),
    conv(("customer", "網路一直斷線，很煩"), ("agent", "您好"), cid="c", lang="zh-Hant"),
    conv(cid="d"),  # nothing said yet
]
DRAFTS = ["请您耐心等待。", "Is there anything else I can help you with?", "很抱歉造成困擾，我馬上幫您查線路。",
          "您好，请问有什么可以帮您?", "为表歉意，送您一张20元优惠券"]


def _items() -> list[tuple[Conversation, str]]:
    convs = [Conversation.model_validate(c) for c in CONVS]
    return [(convs[i % len(convs)], d) for i, d in enumerate(DRAFTS)] + [(convs[0], DRAFTS[4]), (convs[0], DRAFTS[0])]


def _same(batched, alone) -> None:
    assert [f.flag for f in batched] == [f.flag for f in alone]
    for b, a in zip(batched, alone):
        assert b.confidence == pytest.approx(a.confidence, abs=2e-4)
        assert (b.evidence, b.explanation) == (a.evidence, a.explanation)


def test_check_many_equals_one_check_at_a_time(tiny_analyzer):
    items = _items()
    alone = [tiny_analyzer.check(c, d) for c, d in items]
    batched = tiny_analyzer.check_many(items)
    assert len(batched) == len(items)
    for b, a in zip(batched, alone):
        _same(b, a)
    assert any(alone), "the tiny model should flag at least one of these drafts"


def test_check_many_isolates_a_malformed_item(tiny_analyzer):
    items: list = _items()
    bad = [(None, "draft"), (items[0][0], None)]  # not a conversation; not a text
    mixed = [items[0], bad[0], items[1], bad[1], items[2]]
    out = tiny_analyzer.check_many(mixed, return_exceptions=True)
    assert isinstance(out[1], Exception) and isinstance(out[3], Exception)
    for got, (c, d) in zip([out[0], out[2], out[4]], [items[0], items[1], items[2]]):
        _same(got, tiny_analyzer.check(c, d))
    with pytest.raises(Exception):  # noqa: B017 - without return_exceptions the error propagates
        tiny_analyzer.check_many(mixed)


def test_check_many_isolates_an_item_that_breaks_the_models(tiny_analyzer, monkeypatch):
    items = _items()[:3]
    alone = [tiny_analyzer.check(c, d) for c, d in items]
    real = tiny_analyzer.featurize.encoder.encode

    def encode(texts, **kw):
        if any("poison" in t for t in texts):
            raise ValueError("cannot encode")
        return real(texts, **kw)

    monkeypatch.setattr(tiny_analyzer.featurize.encoder, "encode", encode)
    out = tiny_analyzer.check_many([items[0], (items[1][0], "poison pill"), items[1], items[2]],
                                   return_exceptions=True)
    assert isinstance(out[1], ValueError)
    for got, a in zip([out[0], out[2], out[3]], alone):
        _same(got, a)


def test_the_service_batches_concurrent_checks_and_answers_each_as_alone(make_client, tiny_analyzer):
    """Concurrent /v1/check requests share one model call; a malformed one in the burst gets
    its 4xx and the others the same findings as when sent one by one."""
    import httpx

    client = make_client(batch_window_ms=100)
    calls: list[int] = []
    real = tiny_analyzer.check_many

    def spy(items, **kw):
        calls.append(len(items))
        return real(items, **kw)

    items = _items()
    alone = [[f.model_dump() for f in tiny_analyzer.check(c, d)] for c, d in items]
    bodies = [{"conversation": c.model_dump(exclude_none=True), "draft": d} for c, d in items]
    bodies.insert(2, {"conversation": {"id": "x", "turns": [{"role": "robot", "text": "?"}]}, "draft": "hi"})
    bodies.insert(4, {"conversation": CONVS[0], "draft": "x" * 6000})  # over max_text_chars

    async def main():
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await asyncio.gather(*(http.post("/v1/check", json=b) for b in bodies))

    tiny_analyzer.check_many = spy
    try:
        responses = asyncio.run(main())
    finally:
        del tiny_analyzer.check_many
    assert [r.status_code for r in responses] == [200, 200, 422, 200, 422] + [200] * (len(bodies) - 5)
    good = [r.json()["findings"] for r in responses if r.status_code == 200]
    for got, want in zip(good, alone):
        assert [f["flag"] for f in got] == [f["flag"] for f in want]
        for g, w in zip(got, want):
            assert g["confidence"] == pytest.approx(w["confidence"], abs=2e-4)
    assert sum(calls) == len(items) and len(calls) < len(items)  # batched, every draft once
