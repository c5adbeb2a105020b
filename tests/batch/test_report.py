"""The QA report: its numbers, and the page in headless Chromium (no network, no console errors)."""

import json
import random
import shutil
import time
from pathlib import Path

import pytest

from replyguard.report import FLAG_EXAMPLES, WORST_EXAMPLES, ReportBuilder, render
from replyguard.schema import FLAGS, Conversation

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
CANNED = "Thank you for your patience!"


def synthetic(n: int, seed: int = 0):
    """(conversation, findings line) pairs with known flags, agents, languages and channels."""
    rng = random.Random(seed)
    for i in range(n):
        agent = f"a-{i % 37:02d}"
        turns = [{"role": "customer", "text": f"Where is my order {i}?!"},
                 {"role": "agent", "text": CANNED if i % 3 == 0 else f"Order {i} ships today.", "agent_id": agent},
                 {"role": "customer", "text": "ok"},
                 {"role": "agent", "text": "</script><script>window.pwned=1</script> bye", "agent_id": agent}]
        conv = Conversation.model_validate({"id": f"c{i}", "lang": ["en", "zh-Hans", "zh-Hant"][i % 3],
                                            "channel": ["chat", "email"][i % 2], "turns": turns})
        f1 = [{"flag": "boilerplate", "confidence": 0.9, "evidence": CANNED, "explanation": "stock formula"},
              {"flag": "non_answer", "confidence": 0.8, "evidence": CANNED, "explanation": "no answer"}] \
            if i % 3 == 0 else []
        f3 = [{"flag": rng.choice(FLAGS), "confidence": 0.7, "evidence": "bye", "explanation": "x"}] \
            if rng.random() < 0.2 else []
        score = round(100 * (1 - (0.5 * (0.3 * 0.9 + 0.5 * 0.8) if f1 else 0)), 1)
        yield conv, {"id": conv.id, "score": score, "lang": conv.lang,
                     "turns": [{"index": 1, "findings": f1}, {"index": 3, "findings": f3}]}


def test_builder_counts_rates_agents_and_canned_lines():
    rb = ReportBuilder()
    for conv, res in synthetic(300):
        rb.add(conv, res)
    s = rb.summary()
    assert s["conversations"] == 300 and s["agent_turns"] == 600 and sum(s["hist"]) == 300
    allrow = s["groups"]["all"]["all"]
    assert allrow[:2] == [300, 600] and allrow[2 + FLAGS.index("boilerplate")] >= 100
    assert sum(r[0] for r in s["groups"]["lang"].values()) == 300 and set(s["groups"]["channel"]) == {"chat", "email"}
    assert len(s["agents"]) == 37 and sum(a[1] for a in s["agents"]) == 600
    text, times, per_flag, agents = s["canned"][0]
    assert text == CANNED and times == 200 and per_flag == [100, 100] and agents == 37
    assert len(s["examples"]) <= WORST_EXAMPLES + FLAG_EXAMPLES * len(FLAGS)
    assert min(e["score"] for e in s["examples"]) == min(res["score"] for _, res in synthetic(300))


def test_builder_rejects_findings_out_of_step():
    conv, res = next(synthetic(1))
    with pytest.raises(ValueError, match="out of step"):
        ReportBuilder().add(conv, {**res, "id": "other"})


def test_page_data_cannot_close_the_script_tag():
    rb = ReportBuilder()
    for conv, res in synthetic(10):
        rb.add(conv, res)
    html = render(rb.summary(title="<b>x</b>"))
    assert html.count("</script>") == 2 and "<script>window.pwned" not in html
    assert "<title>&lt;b>x&lt;/b></title>" in html


def _report(tmp_path: Path, n: int) -> Path:
    rb = ReportBuilder()
    for conv, res in synthetic(n):
        rb.add(conv, res)
    p = tmp_path / f"report{n}.html"
    p.write_text(render(rb.summary()), encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, path: Path):
    """Open the page offline; return (page, console problems, network requests, seconds to ready)."""
    page = browser.new_page()
    problems, requests = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    t0 = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    return page, problems, requests, time.perf_counter() - t0


def test_report_renders_charts_table_and_examples(browser, tmp_path):
    page, problems, requests, _ = _open(browser, _report(tmp_path, 300))
    try:
        assert page.locator("#hist svg rect").count() == 20
        assert page.locator("#rates-all svg rect").count() == len(FLAGS)
        assert page.locator("#rates-lang svg rect").count() == 3 * len(FLAGS)
        assert page.locator("#rates-channel svg rect").count() == 2 * len(FLAGS)
        rows = page.locator("#agents tbody tr")
        assert rows.count() == 37
        page.click("#agents th:has-text('agent')")  # sort by agent id, ascending
        assert rows.first.locator("td").first.inner_text() == "a-00"
        page.click("#agents th:has-text('agent')")
        assert rows.first.locator("td").first.inner_text() == "a-36"
        assert page.locator("#canned tbody tr").first.locator("td").first.inner_text() == CANNED
        first = page.locator("details.conv").first
        assert first.locator(".turn").count() == 0  # built lazily
        first.locator("summary").click()
        first.locator(".turn.flagged").first.wait_for(timeout=5_000)  # the toggle event fills it
        assert first.locator(".turn.flagged").count() >= 1 and first.locator("mark").count() >= 1
        assert page.evaluate("window.pwned") is None  # conversation text stays text
        assert not problems and not requests
    finally:
        page.close()


def test_report_for_ten_thousand_conversations_opens_fast(browser, tmp_path):
    path = _report(tmp_path, 10_000)
    assert path.stat().st_size < 400_000  # aggregates and bounded examples, not the batch
    page, problems, requests, seconds = _open(browser, path)
    try:
        assert seconds < 3.0, seconds
        assert page.locator("#agents tbody tr").count() == 37 and not problems and not requests
        data = json.loads(page.locator("#report-data").text_content())
        assert data["conversations"] == 10_000
    finally:
        page.close()
