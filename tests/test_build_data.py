"""The composed data: each later hard-case pass keeps earlier conversations in place, its labels
follow LABELS.md, and held-out text stays out of training."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from difflib import SequenceMatcher
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    base = tmp_path_factory.mktemp("gen-base")
    for folder, extra in ((out, []), (base, ["--hard-scale", "0"])):
        subprocess.run([sys.executable, "-m", "training.build_data", "--out", str(folder), "--per-scenario", "2",
                        "--train-per-scenario", "1", "--bitext", "30", *extra], check=True, capture_output=True, cwd=ROOT)
    return out, base


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_later_pass_is_appended_after_everything_else(built):
    out, _ = built
    convs = rows(out / "train.jsonl")
    later = [i for i, c in enumerate(convs) if "-hard2-" in c["id"]]
    n_after = sum(any(f"-hard{k}-" in c["id"] for k in (3, 4, 5, 6, 7)) for c in convs)  # the third to seventh follow
    assert later and later == list(range(len(convs) - n_after - len(later), len(convs) - n_after))
    assert {c["scenario"].split(":")[1] for c in convs if "-hard2-" in c["id"]} == {"threat", "reword", "repeat_far"}


def test_contrast_pass_is_appended_last_and_labels_only_what_it_knows(built):
    """Third pass: calm blame is defensive; its look-alikes (a firm "no" with a reason, owning a
    mistake, a late greeting, a hold) are scored as not defensive, and a look-alike's other labels,
    which depend on the question, are not scored."""
    out, _ = built
    convs = rows(out / "train.jsonl")
    third = [i for i, c in enumerate(convs) if "-hard3-" in c["id"]]
    n_after = sum(any(f"-hard{k}-" in c["id"] for k in (4, 5, 6, 7)) for c in convs)
    assert third and third == list(range(len(convs) - n_after - len(third), len(convs) - n_after))
    seen = set()
    for split in ("train", "valid", "heldout"):
        for c in rows(out / f"{split}.jsonl"):
            if "-hard3-" not in c["id"]:
                continue
            assert c["scenario"].startswith("hard:contrast:")
            for t in c["turns"]:
                if t["role"] != "agent":
                    continue
                move = t["move"]
                seen.add(move)
                if move.startswith("hard_calm_blame"):
                    assert "defensive" in t["gold"], t
                else:
                    assert "defensive" not in t["gold"] and "defensive" not in t["skip"], t
                if move.startswith("hard_lookalike"):
                    assert t["gold"] == [] and {"non_answer", "boilerplate", "missing_empathy"} == set(t["skip"]), t
    assert {"hard_calm_blame", "hard_lookalike", "hard_greet_late", "hard_ack_bare"} <= seen


@pytest.mark.parametrize("off, dropped, adds_lines", [
    (["--contrast-scale", "0"], ("-hard3-",), False),
    (["--voice-scale", "0", "--polarity-scale", "0", "--tone-scale", "0", "--absolve-scale", "0"],
     ("-hard4-", "-hard5-", "-hard6-", "-hard7-"), True),
    (["--polarity-scale", "0", "--tone-scale", "0", "--absolve-scale", "0"], ("-hard5-", "-hard6-", "-hard7-"), True),
    (["--tone-scale", "0", "--absolve-scale", "0"], ("-hard6-", "-hard7-"), True),
    (["--absolve-scale", "0"], ("-hard7-",), True),
], ids=["third", "fourth-to-seventh", "fifth-to-seventh", "sixth-and-seventh", "seventh"])
def test_a_later_pass_turned_off_writes_the_earlier_data_byte_for_byte(built, tmp_path, off, dropped, adds_lines):
    """Adding a pass must not move a single earlier conversation or signal line (the models
    trained before it stay comparable on the same held-out turns): with the pass turned off the
    data is as it was; with it, conversations and signal lines are only appended at the end."""
    out, _ = built
    again = tmp_path / "off"
    subprocess.run([sys.executable, "-m", "training.build_data", "--out", str(again), "--per-scenario", "2",
                    "--train-per-scenario", "1", "--bitext", "30", *off], check=True, capture_output=True, cwd=ROOT)
    for split in ("train", "valid", "heldout"):
        kept = [c for c in rows(out / f"{split}.jsonl") if not any(tag in c["id"] for tag in dropped)]
        assert kept == rows(again / f"{split}.jsonl")
        before = (again / f"lines_{split}.jsonl").read_text(encoding="utf-8")
        after = (out / f"lines_{split}.jsonl").read_text(encoding="utf-8")
        assert after.startswith(before) and (len(after) > len(before)) == adds_lines
    added = rows(out / "lines_train.jsonl")[len(rows(again / "lines_train.jsonl")):]
    assert not adds_lines or {r["signal"] for r in added} <= {"ack", "stock", "defensive", "promo"}
    assert not adds_lines or {r["label"] for r in added if r["signal"] == "defensive"} == {0, 1}


def english_pass_turns(out, tag: str, family: str):
    """The agent turns of one English-only later pass (conversation ids carrying ``tag``), every
    split, checking that each conversation is of that family and in English."""
    for split in ("train", "valid", "heldout"):
        for c in rows(out / f"{split}.jsonl"):
            if tag in c["id"]:
                assert c["scenario"].startswith(f"hard:{family}:") and c["lang"] == "en", c["id"]
                yield from (t for t in c["turns"] if t["role"] == "agent")


def test_voice_pass_is_appended_last_and_labels_only_what_it_knows(built):
    """Fourth pass (English only): blame in idioms and quips is defensive; a colloquial
    acknowledgement, a late help-desk greeting and a reply taking the blame itself are scored as
    not defensive, and a bare acknowledgement is empathy present (LABELS.md)."""
    out, _ = built
    convs = rows(out / "train.jsonl")
    fourth = [i for i, c in enumerate(convs) if "-hard4-" in c["id"]]
    n_later = sum(any(f"-hard{k}-" in c["id"] for k in (5, 6, 7)) for c in convs)
    assert fourth and fourth == list(range(len(convs) - n_later - len(fourth), len(convs) - n_later))
    seen = set()
    for t in english_pass_turns(out, "-hard4-", "voice"):
        move = t["move"]
        seen.add(move)
        if move.startswith("hard_voice_blame"):
            assert t["gold"] == ["defensive"], t
        else:
            assert "defensive" not in t["gold"] and "defensive" not in t["skip"], t
        if move == "hard_voice_ack_bare":
            assert t["gold"] == ["boilerplate", "non_answer"], t
        if move.startswith("hard_voice_ack_answer"):
            assert t["gold"] == [] and t["skip"] == [], t
    assert {"hard_voice_blame", "hard_voice_ack_bare", "hard_voice_ack_answer", "hard_voice_greet_late",
            "hard_voice_own"} <= seen


def test_polarity_pass_is_appended_last_and_labels_only_who_is_blamed(built):
    """Fifth pass (English only): one side of a minimal pair per agent turn; the blaming side is
    defensive, its turned twin is scored as not defensive and nothing else about it is scored."""
    from training.banks.hard_en import HARD

    out, _ = built
    convs = rows(out / "train.jsonl")
    fifth = [i for i, c in enumerate(convs) if "-hard5-" in c["id"]]
    n_after = sum("-hard6-" in c["id"] or "-hard7-" in c["id"] for c in convs)
    assert fifth and fifth == list(range(len(convs) - n_after - len(fifth), len(convs) - n_after))
    sides = [{p[k] for p in HARD["polarity"]} for k in (0, 1)]
    seen = set()
    for t in english_pass_turns(out, "-hard5-", "polarity"):
        seen.add(t["move"])
        blames = t["move"].startswith("hard_polarity_blame")
        assert t["gold"] == (["defensive"] if blames else []), t
        if not blames:
            assert t["skip"] == ["boilerplate", "missing_empathy", "non_answer"], t
        # the nearest pair line is on its side (noise may add a greeting, a typo or an emoji)
        nearest = max(sides[0] | sides[1], key=lambda line: SequenceMatcher(None, words(line), words(t["text"])).ratio())
        assert nearest in sides[0 if blames else 1], (t, nearest)
    assert {"hard_polarity_blame", "hard_polarity_turned", "hard_polarity_blame_again",
            "hard_polarity_turned_again"} <= seen


def test_tone_pass_is_appended_last_and_labels_only_what_it_knows(built):
    """Sixth pass (English only): its blame lines (dismissing, tone-policing, talking down,
    blame as a fact) are defensive; its sympathy, reassurance, holds and refusals with a way
    forward are scored as not defensive, and nothing else about them is asserted."""
    from training.banks.hard_en import HARD

    out, _ = built
    convs = rows(out / "train.jsonl")
    sixth = [i for i, c in enumerate(convs) if "-hard6-" in c["id"]]
    n_after = sum("-hard7-" in c["id"] for c in convs)
    assert sixth and sixth == list(range(len(convs) - n_after - len(sixth), len(convs) - n_after))
    blame, others = set(HARD["blame_tone"]), set(HARD["ack_tone"]) | set(HARD["own_tone"])
    seen = set()
    for t in english_pass_turns(out, "-hard6-", "tone"):
        seen.add(t["move"])
        blames = t["move"].startswith("hard_tone_blame")
        assert ("defensive" in t["gold"]) == blames and "defensive" not in t["skip"], t
        if t["move"].startswith("hard_tone_own"):
            nearest = max(blame | others, key=lambda line: SequenceMatcher(None, words(line), words(t["text"])).ratio())
            assert nearest in others, (t, nearest)
    assert {"hard_tone_blame", "hard_tone_ack_bare", "hard_tone_ack_answer", "hard_tone_own"} <= seen


def test_absolve_pass_is_appended_last_and_labels_only_who_is_blamed(built):
    """Seventh pass (English only): a reply that clears the customer in the words blame uses
    ("not your fault", "you won't need to") is scored as not defensive and nothing else about it
    is asserted; blame in plain words or idiom is defensive. Its lines reach the signal lines
    with the same labels."""
    from training.banks.hard_en import HARD

    out, _ = built
    convs = rows(out / "train.jsonl")
    seventh = [i for i, c in enumerate(convs) if "-hard7-" in c["id"]]
    assert seventh and seventh == list(range(len(convs) - len(seventh), len(convs)))
    clears, blames = set(HARD["absolve"]), set(HARD["blame_plain"]) | set(HARD["blame_voice"])
    assert not clears & blames
    seen = set()
    for t in english_pass_turns(out, "-hard7-", "absolve"):
        seen.add(t["move"])
        blamed = t["move"].startswith("hard_absolve_blame")
        assert ("defensive" in t["gold"]) == blamed and "defensive" not in t["skip"], t
        if not blamed:
            assert t["gold"] == [] and set(t["skip"]) == {"non_answer", "boilerplate", "missing_empathy"}, t
            nearest = max(clears | blames, key=lambda line: SequenceMatcher(None, words(line), words(t["text"])).ratio())
            assert nearest in clears, (t, nearest)
    assert {"hard_absolve_clear", "hard_absolve_blame", "hard_absolve_clear_again", "hard_absolve_blame_again"} <= seen
    lines = [r for r in rows(out / "lines_train.jsonl") if r["signal"] == "defensive" and r["lang"] == "en"]
    cleared = [r for r in lines if "your fault" in r["text"].lower() and r["label"] == 0]
    assert cleared, "no English signal line clears the customer in blame words"


def test_without_hard_passes_only_main_conversations(built):
    _, base = built
    assert not any("hard" in c["id"] for c in rows(base / "train.jsonl"))


def test_complaint_threat_answered_for_real_is_not_a_non_answer(built):
    out, _ = built
    seen = set()
    for split in ("train", "valid", "heldout"):
        for c in rows(out / f"{split}.jsonl"):
            for t in c["turns"]:
                move = t.get("move", "")
                if move in ("hard_threat_answer", "hard_threat_escalate", "hard_threat_answer_flat"):
                    assert "non_answer" not in t["gold"] and "boilerplate" not in t["gold"], t
                    seen.add(move)
                if move == "hard_threat_deflect":
                    assert "non_answer" in t["gold"], t
                    seen.add(move)
                if move == "hard_far_repeat":  # LABELS boilerplate (a): pasted again after something new
                    assert {"boilerplate", "non_answer"} <= set(t["gold"]), t
                    seen.add(move)
                if move == "hard_ack_bare":  # a bare acknowledgement is empathy present
                    assert "missing_empathy" not in t["gold"] and "boilerplate" in t["gold"], t
                    seen.add(move)
    assert {"hard_threat_answer", "hard_threat_deflect", "hard_ack_bare", "hard_far_repeat"} <= seen


def test_heldout_threat_and_wording_lines_never_reach_training(built):
    out, _ = built
    from training.banks.hard_en import HARD
    from training.build_data import split_of

    held = [x for k in ("threat", "blame_more", "ack_more", "blame_calm", "lookalike", "ack_voice", "greet_voice",
                        "blame_voice", "own_voice", "polarity", "blame_tone", "ack_tone", "own_tone", "absolve",
                        "blame_plain") for x in HARD[k]
            if split_of(json.dumps(x, ensure_ascii=False)) == "heldout"]
    held = [line for x in held for line in ([x] if isinstance(x, str) else x)]  # a pair is held out whole
    assert held
    train_text = (out / "train.jsonl").read_text(encoding="utf-8") + (out / "valid.jsonl").read_text(encoding="utf-8")
    for line in held:
        assert json.dumps(line, ensure_ascii=False)[1:-1] not in train_text, line


def test_please_wait_alone_is_no_acknowledgement(built):
    """LABELS: missing_empathy when an upset customer gets no acknowledgement; "please wait
    patiently" asks for something and acknowledges nothing, "thanks for your patience" is doubtful."""
    from training.build_data import bank

    requests = {t for lang in ("en", "zh-Hans", "zh-Hant") for t in bank(lang).PATIENCE_REQUEST}
    out, _ = built
    golds = []
    for split in ("train", "valid", "heldout"):
        for c in rows(out / f"{split}.jsonl"):
            for t in c["turns"]:
                if t["role"] == "agent" and t.get("move") == "bare" and any(r in t["text"] for r in requests):
                    golds.append("missing_empathy" in t["gold"])
    assert any(golds)  # before, every bare formula without an apology left missing_empathy unscored
    lines = rows(out / "lines_train.jsonl")
    acks = {r["text"]: r["label"] for r in lines if r["signal"] == "ack"}
    assert any(label == 0 and any(r in text for r in requests) for text, label in acks.items())


def test_merged_question_with_stakes_is_an_upset_line(built):
    from training.build_data import extra_bank

    stakes = {r[1] for lang in ("en", "zh-Hans", "zh-Hant") for r in extra_bank(lang)["stakes"]}
    out, _ = built
    merged = [r for r in rows(out / "lines_train.jsonl")
              if r["signal"] == "upset" and any(s in r["text"] and s != r["text"] for s in stakes)]
    assert merged and all(r["label"] == 1 for r in merged)
