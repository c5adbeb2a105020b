"""Latency of the real-time service: /v1/check with a 10-turn context at 1, 4 and 16 clients.

Starts the service (uvicorn, 127.0.0.1 only), sends a fixed number of drafts per level, and
prints p50/p95/p99, throughput and errors. The yardstick, measured in the same run on the same
machine, is the models' forward passes alone for one draft (the encoder on the draft's texts, plus the
fine-tuned pair model on (context, draft) when the model folder uses one), so
the ratio p99 / forward holds on a busy machine where absolute numbers do not. ``--soak`` then
keeps 4 clients busy for that many seconds and reports the server's memory (RSS) growth.

    python eval/bench_service.py [--model NAME] [--requests 200] [--soak 120]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from replyguard.analyzer import Analyzer
from replyguard.context import draft_context
from replyguard.pair import pair_texts
from replyguard.schema import DEFAULT_MODEL, Conversation
from replyguard.text import segments

ROOT = Path(__file__).resolve().parents[1]
# A 10-turn chat (5 customer, 5 agent) of the kind the console sends on every keystroke.
CONTEXT = [
    ("customer", "我的快递显示已签收但我没收到，单号[订单x]。"),
    ("agent", "您好，我这边帮您查一下物流信息，请稍等。"),
    ("customer", "好的，麻烦快点，我今天急用。"),
    ("agent", "查到快递员放在了您小区东门的快递柜，取件码583920。"),
    ("customer", "我去看过了，快递柜里没有!!"),
    ("agent", "很抱歉给您带来不便，我们会尽快核实。"),
    ("customer", "你们每次都这么说，到底什么时候能解决?"),
    ("agent", "非常抱歉，已为您联系快递站点核实。"),
    ("customer", "我已经等了三天了，真的快崩溃了，里面是孩子的药。"),
    ("agent", "请您耐心等待。"),
]
DRAFTS = ["非常抱歉让您着急了，孩子的药不能等，我现在就为您补发一份，今天下午顺丰寄出",
          "请您耐心等待，我们会尽快处理",
          "您是不是没有仔细看快递柜?",
          "为表歉意，给您一张20元优惠券，下单会员商品立减"]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return xs[k]


def draft(i: int) -> str:
    """A new text each time (a reply with a counter), so no draft is served from the encoder cache."""
    base = DRAFTS[i % len(DRAFTS)]
    return f"{base}（{i}）"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: str, threads: int, db: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "REPLYGUARD_MODEL": model, "REPLYGUARD_THREADS": str(threads),
           "REPLYGUARD_REQUIRE_API_KEY": "false", "REPLYGUARD_RATE_LIMIT_PER_MINUTE": "100000000",
           "REPLYGUARD_MAX_QUEUE": "1000", "REPLYGUARD_REQUEST_TIMEOUT_S": "60",
           "REPLYGUARD_DATABASE_URL": db}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"service exited with {proc.returncode}; run `replyguard serve` to see why")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("service not ready after 180 s")


async def drive(base: str, clients: int, n: int, start: int, stop_at: float | None = None) -> dict:
    """``clients`` concurrent clients send ``n`` requests in all (or until ``stop_at``)."""
    conv = {"id": "bench", "lang": "zh-Hans", "turns": [{"role": r, "text": t} for r, t in CONTEXT]}
    lat: list[float] = []
    errors = 0
    counter = iter(range(start, start + n))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            if stop_at and time.monotonic() > stop_at:
                return
            t0 = time.perf_counter()
            try:
                r = await http.post("/v1/check", json={"conversation": conv, "draft": draft(i)})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            lat.append(time.perf_counter() - t0)
            errors += not ok

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return {"clients": clients, "n": len(lat), "errors": errors, "wall": wall, "lat": lat}


class Yardstick:
    """The models alone, in this process: history warmed into the encoder cache once, then
    per draft the encoder forward pass (and, for reference, the whole in-process check)."""

    def __init__(self, model: str, threads: int) -> None:
        self.analyzer = Analyzer.load(model, threads=threads)
        self.conv = Conversation.model_validate({"id": "y", "lang": "zh-Hans",
                                                 "turns": [{"role": r, "text": t} for r, t in CONTEXT]})
        self.analyzer.check(self.conv, draft(10_000_000))
        self.n = 0

    def measure(self, reps: int = 15) -> tuple[float, float]:
        """Median seconds of (forward pass for one draft, in-process Analyzer.check)."""
        fwd, chk = [], []
        for _ in range(reps):
            self.n += 2
            d = draft(20_000_000 + self.n)
            texts = [d] + (segments(d) if len(segments(d)) > 1 else [])
            pair = self.analyzer.pair
            pairs = [pair_texts(draft_context(self.conv, d, "zh-Hans"))] if pair is not None else []
            t0 = time.perf_counter()
            self.analyzer.encoder.forward(texts)
            if pair is not None:  # the fine-tuned pair model is the second forward pass per draft
                pair.logits(pairs)
            fwd.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            self.analyzer.check(self.conv, draft(20_000_001 + self.n))
            chk.append(time.perf_counter() - t0)
        return statistics.median(fwd), statistics.median(chk)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    ap.add_argument("--clients", default="1,4,16", help="concurrency levels")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (server and yardstick alike)")
    ap.add_argument("--soak", type=float, default=0, help="seconds of sustained load for the memory check")
    args = ap.parse_args()

    print(f"model={args.model} threads={args.threads} context=10 turns cpus={os.cpu_count()}", flush=True)
    yard = Yardstick(args.model, args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(args.model, args.threads, f"sqlite:///{tmp}/bench.db")
        try:
            asyncio.run(drive(base, 1, 10, 0))  # warm-up: history cached, code paths hot
            # the yardstick is re-measured before each level (server idle), so drift in the
            # machine's load between levels does not skew the ratios
            print(f"{'clients':>7} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7} {'errors':>6}"
                  f" {'fwd ms':>7} {'check ms':>8} {'p99/fwd':>8}", flush=True)
            offset = 1000
            for c in [int(x) for x in args.clients.split(",")]:
                fwd, chk = yard.measure()
                res = asyncio.run(drive(base, c, args.requests, offset))
                offset += args.requests
                lat = res["lat"]
                p50, p95, p99 = (percentile(lat, q) for q in (50, 95, 99))
                print(f"{c:>7} {res['n']:>5} {p50 * 1000:>8.1f} {p95 * 1000:>8.1f} {p99 * 1000:>8.1f}"
                      f" {res['n'] / res['wall']:>7.1f} {res['errors']:>6} {fwd * 1000:>7.1f} {chk * 1000:>8.1f}"
                      f" {p99 / fwd:>8.1f}", flush=True)
            if args.soak:
                soak(proc.pid, base, args.soak, offset)
        finally:
            proc.terminate()
            proc.wait(10)


def soak(pid: int, base: str, seconds: float, offset: int) -> None:
    """Sustained load with 4 clients; the server's RSS sampled every ~5 s."""
    start_rss = rss_mb(pid)
    samples = [start_rss]
    sent = errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        chunk_end = min(end, time.monotonic() + 5)
        res = asyncio.run(drive(base, 4, 100_000, offset + sent, stop_at=chunk_end))
        sent += res["n"]
        errors += res["errors"]
        samples.append(rss_mb(pid))
    growth = samples[-1] - start_rss
    print(f"soak {seconds:.0f}s: {sent} requests, {errors} errors; "
          f"server RSS {start_rss:.0f} → {samples[-1]:.0f} MB "
          f"(max {max(samples):.0f}), growth {growth:+.1f} MB "
          f"= {growth / max(sent, 1) * 1000:+.2f} MB per 1000 requests", flush=True)


if __name__ == "__main__":
    main()
