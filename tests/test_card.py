"""The model card's interval section, from a report and a paired comparison."""

from replyguard.evaluate import Outcomes, evaluate
from tests.test_evaluate import _file


def test_card_lists_intervals_and_the_paired_difference_per_language():
    from training.card import RESAMPLES, intervals

    gold, prev = _file(True)
    _, new = _file(True)
    for p in new[80:]:  # the new model stops flagging the repeated stock line
        p.turns[0].findings = []
    metrics = {"sets": {"heldout": {"model": evaluate(gold, new, resamples=RESAMPLES)}},
               "vs_previous": {"heldout": Outcomes(gold, [prev, new]).compare(resamples=RESAMPLES)}}
    text = "\n".join(intervals(metrics))
    row = next(line for line in text.splitlines() if line.startswith("| defensive |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "defensive" and cells[1] == "1.000 [1.00, 1.00]"
    # F1 0.8 -> 1.0; the false alarms were one line, so a draw without it is a tie (chance 1/e)
    assert cells[2].startswith("+0.200 [+0.00, +0.")
    ahead = int(cells[2].rsplit("ahead ", 1)[1].rstrip("%"))
    assert 55 <= ahead <= 72
    assert len(cells) == 5  # flag, then all and en: F1 [95%] and vs previous
    assert "(81 distinct reply lines)" in text  # 80 distinct lines + the repeated one


def test_the_named_models_ship_with_card_config_and_heads():
    """DEFAULT_MODEL and FAST_MODEL are what entry points and the benchmark load by name."""
    import json

    from replyguard.analyzer import resolve_model
    from replyguard.schema import DEFAULT_MODEL, FAST_MODEL

    for name in (DEFAULT_MODEL, FAST_MODEL):
        path = resolve_model(name)
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        assert config["name"] == name and (path / "heads.safetensors").stat().st_size > 0
        assert (path / "README.md").read_text(encoding="utf-8").startswith(f"# {name}\n")
    assert "pair" not in json.loads((resolve_model(FAST_MODEL) / "config.json").read_text(encoding="utf-8"))
