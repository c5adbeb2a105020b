from replyguard.evaluate import evaluate
from replyguard.schema import Finding, GoldConversation, ScoredConversation, TurnResult


def _gold():
    return GoldConversation.model_validate({"id": "g", "lang": "en", "turns": [
        {"role": "customer", "text": "where?"},
        {"role": "agent", "text": "sorry", "gold": ["boilerplate", "non_answer"], "skip": ["missing_empathy"]},
        {"role": "customer", "text": "??"},
        {"role": "agent", "text": "it is at the depot", "gold": [], "skip": []}]})


def _pred(flags1, flags3):
    mk = lambda fs: [Finding(flag=f, confidence=0.9, evidence="e", explanation="x") for f in fs]
    return ScoredConversation(id="g", score=50, turns=[TurnResult(index=1, findings=mk(flags1)),
                                                        TurnResult(index=3, findings=mk(flags3))])


def test_perfect_and_skip():
    r = evaluate([_gold()], [_pred(["boilerplate", "non_answer", "missing_empathy"], [])])
    assert r["all"]["boilerplate"]["f1"] == 1.0 and r["all"]["non_answer"]["f1"] == 1.0
    assert r["all"]["missing_empathy"]["predicted"] == 0  # skipped, not counted


def test_errors_counted():
    errs = []
    r = evaluate([_gold()], [_pred(["boilerplate"], ["ad_to_upset_customer"])], on_error=errs.append)
    assert r["all"]["non_answer"]["recall"] == 0.0
    assert r["all"]["ad_to_upset_customer"]["precision"] == 0.0
    assert {e["kind"] for e in errs} == {"false_negative", "false_positive"}


def test_errors_keep_how_the_turn_was_made_and_group_into_classes():
    from replyguard.evaluate import error_classes

    g = _gold()
    g.scenario = "hard:threat:ecommerce-late"  # composed data records its scenario and moves
    g.turns[1].move = "hard_threat_deflect"
    errs = []
    evaluate([g, _gold()], [_pred(["boilerplate"], ["ad_to_upset_customer"]),
                            _pred(["boilerplate"], ["ad_to_upset_customer"])], on_error=errs.append)
    tagged = [e for e in errs if e.get("move")]
    assert tagged and all(e["scenario"] == "hard:threat:ecommerce-late" for e in tagged)
    classes = error_classes(errs)
    assert ("non_answer", "false_negative", "hard_threat_deflect", 1) in classes
    assert ("ad_to_upset_customer", "false_positive", "hard:threat", 1) in classes  # no move: scenario family
    assert ("ad_to_upset_customer", "false_positive", "en", 1) in classes  # neither: the language
    assert classes[0][3] >= classes[-1][3]


def _conv(cid: str, replies: list[tuple[str, bool, bool]]):
    """A conversation of agent replies (text, gold defensive, predicted defensive)."""
    turns, preds = [], []
    for i, (text, g, _) in enumerate(replies):
        turns += [{"role": "customer", "text": "why?"}, {"role": "agent", "text": text, "gold": ["defensive"] if g else []}]
    for i, (_, _, p) in enumerate(replies):
        fs = [Finding(flag="defensive", confidence=0.9, evidence="e", explanation="x")] if p else []
        preds.append(TurnResult(index=2 * i + 1, findings=fs))
    return (GoldConversation.model_validate({"id": cid, "lang": "en", "turns": turns}),
            ScoredConversation(id=cid, score=50, turns=preds))


def _file(repeat_errors: bool):
    """40 correct positives on distinct lines, 40 correct negatives, and 20 false alarms:
    either one stock line sent 20 times or 20 different lines."""
    rows = [(f"you should have read clause {i}", True, True) for i in range(40)]
    rows += [(f"your parcel {i} left the depot", False, False) for i in range(40)]
    rows += [("I hear you." if repeat_errors else f"I hear you, case {i}.", False, True) for i in range(20)]
    pairs = [_conv(f"c{i}", [r]) for i, r in enumerate(rows)]
    return [g for g, _ in pairs], [p for _, p in pairs]


def test_intervals_resample_reply_lines_so_a_repeated_error_is_one_piece_of_evidence():
    wide = evaluate(*_file(True), resamples=400)["all"]["defensive"]
    narrow = evaluate(*_file(False), resamples=400)["all"]["defensive"]
    assert wide["f1"] == narrow["f1"] == 0.8  # same counts: tp 40, fp 20
    for m in (wide, narrow):
        lo, hi = m["f1_ci"]
        assert 0 <= lo < m["f1"] < hi <= 1
    width = lambda m: m["f1_ci"][1] - m["f1_ci"][0]
    assert width(wide) > 1.5 * width(narrow)  # 20 copies of one line are not 20 independent errors


def test_intervals_of_a_perfect_model_are_a_point_and_undefined_flags_get_none():
    gold, pred = _file(False)
    for p, g in zip(pred, gold):  # predict exactly the gold
        for t in p.turns:
            t.findings = [f for f in t.findings if "defensive" in g.turns[t.index].gold]
    r = evaluate(gold, pred, resamples=200)
    assert r["all"]["defensive"]["f1_ci"] == [1.0, 1.0]
    assert "f1_ci" not in r["all"]["non_answer"]  # no gold, no prediction: F1 undefined
    assert r["by_lang"]["en"]["defensive"]["f1_ci"] == [1.0, 1.0]
    assert r["intervals"]["clusters"] == 100


def test_paired_comparison_shares_the_draws():
    from replyguard.evaluate import Outcomes

    gold, worse = _file(False)
    _, better = _file(False)
    for p in better[80:85]:  # the better system avoids 5 of the 20 false alarms
        p.turns[0].findings = []
    same = Outcomes(gold, [worse, worse]).compare(resamples=200)
    assert same["all"]["defensive"] == {"diff": 0.0, "diff_ci": [0.0, 0.0], "p_ahead": 0.0}
    d = Outcomes(gold, [worse, better]).compare(resamples=200)["all"]["defensive"]
    assert d["diff"] == round(80 / 95 - 0.8, 4)
    assert 0 < d["diff_ci"][0] < d["diff"] < d["diff_ci"][1]  # paired: the draws are shared, so b is never behind
    assert d["p_ahead"] > 0.98  # behind in no resample; tied only where none of the 5 lines was drawn
