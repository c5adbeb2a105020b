"""Lexical (n-gram) signals: the head, its place among the features, and when a flag head reads it."""

import json

import numpy as np
import pytest

from replyguard.features import ALL_FEATURES, FEATURES
from replyguard.lexical import LEXICAL_FEATURES, LexicalHead
from replyguard.line import LINE_FEATURES
from replyguard.schema import FLAGS
from tests.conftest import TINY
from tests.utils.fixtures import twin_table

BLAME = ["That's on you for entering the wrong address.", "You should have read the terms.",
         "It's your own fault the box got wet.", "The mistake was on your end, not ours.",
         "If you had checked, this wouldn't happen.", "That is your problem, not ours."]
OWN = ["It's not your fault, the address form was broken.", "You did nothing wrong, the link had expired.",
       "That one's on us, I've fixed it.", "The mistake was on our end, not yours.",
       "You couldn't have known, it wasn't on the page.", "That is our problem, not yours."]


@pytest.fixture(scope="module")
def head() -> LexicalHead:
    return LexicalHead.fit(BLAME + OWN, np.array([1] * len(BLAME) + [0] * len(OWN)), c=10.0)


def test_lexical_head_tells_who_is_blamed_and_round_trips(head):
    p = head.proba(["This one is on you, I'm afraid.", "This one is on us, I'm afraid."])
    assert p[0] > p[1]
    t = head.to_tensors("lexical.defensive")
    assert {v.dtype.kind for v in t.values()} <= {"i", "f"}  # plain arrays, no pickled objects
    again = LexicalHead.from_tensors(t, "lexical.defensive")
    texts = BLAME[:2] + OWN[:2] + ["", "😡😡"]
    np.testing.assert_allclose(again.logit(texts), head.logit(texts), rtol=1e-6)
    assert head.proba([]).shape == (0,)
    with pytest.raises(KeyError):
        LexicalHead.from_tensors(t, "lexical.ack")


def test_lexical_key_folds_script_and_case(head):
    simplified, traditional = head.logit(["这是您自己的问题，和我们无关", "這是您自己的問題，和我們無關"])
    assert simplified == pytest.approx(traditional)
    assert head.logit(["THAT'S ON YOU."])[0] == pytest.approx(head.logit(["that's on you."])[0])


def test_lexical_features_sit_between_structural_and_pair(tiny_analyzer):
    assert ALL_FEATURES[len(FEATURES):len(FEATURES) + len(LEXICAL_FEATURES)] == LEXICAL_FEATURES
    from replyguard.context import TurnContext

    feats = tiny_analyzer.featurize([TurnContext(conv_id="c", index=1, reply="That's on you.", open_msg="Where is my parcel??",
                                                 question="Where is my parcel??")])
    # a model without lexical heads gets zeros there, and its heads never read them
    assert feats[0].x.shape == (len(FEATURES) + len(LEXICAL_FEATURES) + len(LINE_FEATURES),)
    assert feats[0].f("defensive_lex") == 0.0
    assert not any(d.lexical for d in tiny_analyzer.detectors)


@pytest.mark.parametrize("informative", [True, False])
def test_a_head_reads_its_lexical_twin_only_when_that_wins_on_unseen_lines(informative):
    from training.train import train_flags

    heads, specs = train_flags(twin_table("defensive_lex", informative), hidden=0, seed=0, lexical=True)
    spec = specs["defensive.v1"]
    assert spec["lexical"]["reads"] is informative
    assert ("defensive_lex" in spec["features"]) is informative
    assert heads["defensive.v1"].layers[0][0].shape[0] == len(spec["features"])
    if informative:
        assert spec["lexical"]["with"]["f1"] > spec["lexical"]["without"]["f1"]
    for flag in FLAGS:  # flags without a twin are not measured with one
        if flag != "defensive":
            assert "lexical" not in specs[f"{flag}.v1"]
            assert "defensive_lex" not in specs[f"{flag}.v1"]["features"]


@pytest.fixture(scope="module")
def tiny_lexical_model(tmp_path_factory, hash_encoder):
    from training.train import TrainArgs, main

    out = tmp_path_factory.mktemp("models") / "tiny-lex"
    main(TrainArgs(data=str(TINY), out=str(out), name="tiny-lex", hidden=0, lexical=["defensive"]),
         encoder=hash_encoder)
    return out


def test_a_model_with_lexical_heads_saves_loads_and_scores(tiny_lexical_model, hash_encoder):
    from safetensors.numpy import load_file

    from replyguard.analyzer import Analyzer, ModelFolder
    from replyguard.context import TurnContext

    config = json.loads((tiny_lexical_model / "config.json").read_text())
    assert config["lexical"]["signals"] == ["defensive"]
    assert config["lexical"]["heads"]["defensive"]["valid_auc"] > 0.5
    assert "reads" in config["detectors"]["defensive.v1"]["lexical"]
    assert "lexical.defensive.index" in load_file(str(tiny_lexical_model / "heads.safetensors"))
    folder = ModelFolder.load(tiny_lexical_model)
    an = Analyzer(folder, hash_encoder)
    feats = an.featurize([TurnContext(conv_id="c", index=1, reply="That's on you for entering the wrong address.",
                                      open_msg="Where is my parcel??", question="Where is my parcel??")])
    assert 0.0 < feats[0].f("defensive_lex") < 1.0
    reads = config["detectors"]["defensive.v1"]["lexical"]["reads"]
    assert next(d for d in folder.detectors if d.flag == "defensive").lexical is reads


def test_a_model_whose_ngram_space_changed_is_refused(tiny_lexical_model, tmp_path):
    import shutil

    from replyguard.analyzer import ModelFolder

    bad = tmp_path / "changed"
    shutil.copytree(tiny_lexical_model, bad)
    config = json.loads((bad / "config.json").read_text())
    config["lexical"]["settings"]["n_features"] = 1024
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="n-gram space"):
        ModelFolder.load(bad)


def test_train_command_refuses_a_signal_without_a_lexical_twin(tmp_path):
    from typer.testing import CliRunner

    from replyguard import cli

    res = CliRunner().invoke(cli.app, ["train", "--data", str(TINY), "--name", "x", "--pair", "none",
                                       "--lexical", "defensive,upset"])
    assert res.exit_code == 2
    assert "upset" in res.output and "defensive" in res.output


def test_v13_recipe_adds_the_defensive_twin_to_v12():
    from training import pipeline

    def heads(recipe):
        steps = pipeline.plan(pipeline.parse_args(["--recipe", recipe]), fit_pair=False)
        (s,) = [s for s in steps if s[2:3] == ["training.train"] and "--pair" in s]
        return s

    v12, v13 = heads("v12"), heads("v13")
    assert "--lexical" not in v12
    assert v13[v13.index("--lexical") + 1:] == ["defensive"]
    assert v13[v13.index("--pair") + 1] == v12[v12.index("--pair") + 1]


def test_a_head_without_pair_model_reads_the_twin_at_its_column(tiny_lexical_model, hash_encoder):
    """The twin's column sits at the same place with and without pair logits after it."""
    from replyguard.analyzer import Analyzer, ModelFolder
    from replyguard.context import TurnContext
    from replyguard.detectors import REGISTRY
    from training.train import fit_logistic

    det_cls = REGISTRY["defensive.v1"]
    names = det_cls.feature_names(pair=False, lexical=True)
    assert names[-1] == "defensive_lex" and det_cls.variants()[names] == (False, True, False)
    an = Analyzer(ModelFolder.load(tiny_lexical_model), hash_encoder)
    feats = an.featurize([TurnContext(conv_id="c", index=1, reply=r, open_msg="Where is my parcel??",
                                      question="Where is my parcel??") for r in BLAME + OWN])
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (40, len(names)))
    y = (x[:, -1] > 0).astype(int)  # a head that reads only the twin
    det = det_cls(fit_logistic(x, y, c=10.0), threshold=0.5, pair=False, lexical=True)
    lex = np.array([f.f("defensive_lex") for f in feats])
    p = det.proba(feats)
    assert np.corrcoef(p, lex)[0, 1] > 0.9
