"""The QA report: one self-contained HTML file for a scored batch.

    >>> write_report([Path("chats.jsonl")], Path("findings.jsonl"), Path("report.html"))  # doctest: +SKIP

The input and the findings are read again side by side, one conversation at a time, and
folded into a :class:`ReportBuilder` whose state is bounded (counts, a fixed number of
examples, a pruned table of canned lines), so the report costs the same memory for ten
thousand or ten million conversations. The page is ``report_template.html`` with the
summary inlined as JSON; its own small script draws the charts as SVG and builds the long
parts (agent table pages, example conversations) only when they are shown. No file is
fetched when the report is opened.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

from replyguard.analyzer import PENALTY
from replyguard.io import RecordError
from replyguard.schema import FLAGS, Conversation
from replyguard.text import fold

WORST_EXAMPLES = 30  # lowest-scoring conversations shown
FLAG_EXAMPLES = 5  # first conversations shown for each flag
EXAMPLE_TURNS = 40  # turns kept per example conversation
EXAMPLE_CHARS = 600  # characters kept per turn text
CANNED_FLAGS = ("boilerplate", "non_answer")
CANNED_TOP = 25
CANNED_KEYS = 20_000  # distinct canned texts tracked before the rarest are pruned
MIN_CANNED = 2  # a canned line is listed once it was flagged this many times


def _clip(text: str, n: int = EXAMPLE_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class ReportBuilder:
    """Folds (conversation, findings line) pairs into the report's summary.

    >>> rb = ReportBuilder()
    >>> rb.add(Conversation(id="1", turns=[{"role": "agent", "text": "Hi"}]),
    ...        {"id": "1", "score": 100.0, "turns": [{"index": 0, "findings": []}]})
    >>> rb.summary()["conversations"]
    1
    """

    def __init__(self) -> None:
        self.n = 0
        self.turns = 0
        self.hist = [0] * 101  # conversations per whole QA score point
        self.score_sum = 0.0
        # group -> [conversations, agent turns, turns flagged with each flag...]
        self.groups: dict[str, dict[str, list[int]]] = {"all": {"all": [0, 0] + [0] * len(FLAGS)},
                                                        "lang": {}, "channel": {}}
        self.agents: dict[str, list[float]] = {}  # id -> [turns, quality sum, flag counts...]
        self.canned: dict[str, list] = {}  # folded text -> [text, count, per-flag counts, agents]
        self._worst: list[tuple[float, int, dict]] = []  # max-heap by score via negation
        self._by_flag: dict[str, list[dict]] = {f: [] for f in FLAGS}

    def add(self, conv: Conversation, result: dict) -> None:
        """Add one conversation and its output line (as parsed JSON)."""
        if conv.id != result.get("id"):
            raise ValueError(f"findings out of step with the input: {result.get('id')!r} vs {conv.id!r}")
        score = float(result["score"])
        self.n += 1
        self.score_sum += score
        self.hist[min(100, max(0, int(score)))] += 1
        lang = result.get("lang") or conv.lang or "unknown"
        channel = conv.channel or _turn_field(conv, "channel") or "unknown"
        rows = [self.groups["all"]["all"],
                self.groups["lang"].setdefault(lang, [0, 0] + [0] * len(FLAGS)),
                self.groups["channel"].setdefault(str(channel), [0, 0] + [0] * len(FLAGS))]
        for r in rows:
            r[0] += 1
        flagged = set()
        for t in result["turns"]:
            turn = conv.turns[t["index"]]
            flags = {f["flag"] for f in t["findings"]}
            flagged |= flags
            self.turns += 1
            agent = turn.agent_id or "(none)"
            a = self.agents.setdefault(agent, [0, 0.0] + [0] * len(FLAGS))
            a[0] += 1
            a[1] += max(0.0, 1.0 - sum(PENALTY[f["flag"]] * f["confidence"] for f in t["findings"]))
            for r in rows:
                r[1] += 1
            for j, flag in enumerate(FLAGS):
                if flag in flags:
                    a[2 + j] += 1
                    for r in rows:
                        r[2 + j] += 1
            for f in t["findings"]:
                if f["flag"] in CANNED_FLAGS:
                    self._count_canned(f["evidence"], f["flag"], agent)
        self._keep_example(conv, result, score, lang, str(channel), flagged)

    def _count_canned(self, evidence: str, flag: str, agent: str) -> None:
        key = fold(evidence)
        if len(key) < 2:
            return
        row = self.canned.get(key)
        if row is None:
            if len(self.canned) >= CANNED_KEYS:  # keep memory bounded: drop the rarer half
                keep = heapq.nlargest(CANNED_KEYS // 2, self.canned.items(), key=lambda kv: kv[1][1])
                self.canned = dict(keep)
            row = self.canned[key] = [evidence, 0, {f: 0 for f in CANNED_FLAGS}, set()]
        row[1] += 1
        row[2][flag] += 1
        if len(row[3]) < 1000:
            row[3].add(agent)

    def _keep_example(self, conv: Conversation, result: dict, score: float, lang: str, channel: str,
                      flagged: set[str]) -> None:
        if not flagged:
            return
        wanted = [f for f in FLAGS if f in flagged and len(self._by_flag[f]) < FLAG_EXAMPLES]
        worst = len(self._worst) < WORST_EXAMPLES or -self._worst[0][0] > score
        if not wanted and not worst:
            return
        ex = _example(conv, result, score, lang, channel)
        for f in wanted:
            self._by_flag[f].append(ex)
        if worst:
            item = (-score, -self.n, ex)  # ties: the earlier conversation stays
            if len(self._worst) < WORST_EXAMPLES:
                heapq.heappush(self._worst, item)
            else:
                heapq.heapreplace(self._worst, item)

    def summary(self, title: str = "replyguard QA report", model: str = "") -> dict:
        """Everything the page shows, compact enough to inline."""
        examples: dict[str, dict] = {}
        for _, _, ex in sorted(self._worst, key=lambda x: (-x[0], -x[1])):
            examples.setdefault(ex["id"], ex)
        for f in FLAGS:
            for ex in self._by_flag[f]:
                examples.setdefault(ex["id"], ex)
        canned = sorted(((r[0], r[1], [r[2][f] for f in CANNED_FLAGS], len(r[3]))
                         for r in self.canned.values() if r[1] >= MIN_CANNED), key=lambda r: (-r[1], r[0]))
        agents = sorted(([k, int(v[0]), round(100 * v[1] / v[0], 1), *map(int, v[2:])]
                         for k, v in self.agents.items()), key=lambda r: (-r[1], r[0]))
        return {
            "title": title, "model": model, "generated": dt.datetime.now().isoformat(timespec="seconds"),
            "flags": list(FLAGS), "conversations": self.n, "agent_turns": self.turns,
            "mean_score": round(self.score_sum / self.n, 1) if self.n else None,
            "hist": self.hist, "groups": self.groups, "agents": agents,
            "canned": canned[:CANNED_TOP], "canned_flags": list(CANNED_FLAGS),
            "examples": list(examples.values()),
        }


def _turn_field(conv: Conversation, name: str) -> object:
    """A conversation-level column that one-row-per-turn inputs (CSV) carry on every turn."""
    return getattr(conv.turns[0], name, None) if conv.turns else None


def _example(conv: Conversation, result: dict, score: float, lang: str, channel: str) -> dict:
    findings = {t["index"]: [[f["flag"], f["confidence"], f["evidence"], f["explanation"]] for f in t["findings"]]
                for t in result["turns"]}
    first = min((i for i, fs in findings.items() if fs), default=0)
    lo = max(0, min(first - 2, len(conv.turns) - EXAMPLE_TURNS))
    turns = [[i, t.role, _clip(t.text), t.agent_id or "", findings.get(i, [])]
             for i, t in enumerate(conv.turns[lo: lo + EXAMPLE_TURNS], start=lo)]
    return {"id": conv.id, "score": score, "lang": lang, "channel": channel, "n_turns": len(conv.turns),
            "turns": turns}


def render(summary: dict) -> str:
    """The HTML page for a summary; the JSON is escaped so no text can close the script tag."""
    template = resources.files("replyguard").joinpath("report_template.html").read_text(encoding="utf-8")
    payload = json.dumps(summary, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    title = summary["title"].replace("&", "&amp;").replace("<", "&lt;")
    return template.replace("__TITLE__", title).replace("__REPORT_DATA__", payload)


def pairs(inputs: list[Path], results: Path) -> Iterator[tuple[Conversation, dict]]:
    """Valid input conversations side by side with their output lines."""
    from replyguard.sources import read_records

    with open(results, encoding="utf-8") as f:
        for rec in read_records(inputs):
            if isinstance(rec, RecordError):
                continue
            line = f.readline()
            if not line:
                raise ValueError(f"{results} has fewer lines than {inputs[0]} has conversations")
            yield rec, json.loads(line)


def build(items: Iterable[tuple[Conversation, dict]], title: str = "replyguard QA report",
          model: str = "") -> str:
    """HTML for (conversation, findings) pairs."""
    rb = ReportBuilder()
    for conv, res in items:
        rb.add(conv, res)
    return render(rb.summary(title, model))


def write_report(inputs: list[Path], results: Path, out: Path, title: str | None = None, model: str = "") -> Path:
    """Write the report for a finished ``replyguard score`` run (atomically)."""
    html = build(pairs(inputs, results), title or f"QA report — {inputs[0].name}", model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
