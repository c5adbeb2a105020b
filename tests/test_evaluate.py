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
