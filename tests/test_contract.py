"""The output contract (CONTRACT.md) on the tiny model: shapes, order, ids, flag names."""

from replyguard.schema import FLAGS, Conversation, Finding
from tests.utils.fixtures import conv


def _convs():
    return [
        Conversation.model_validate(conv(("customer", "Where is my parcel? It was due yesterday!!"),
                                         ("agent", "Sorry for the inconvenience."),
                                         ("system", "agent transferred"),
                                         ("customer", "???"),
                                         ("agent", "Sorry for the inconvenience."), cid="c-1", channel="chat")),
        Conversation.model_validate(conv(("agent", "您好，有什么可以帮您?"), ("customer", "[订单x] 到哪了"),
                                         ("agent", "亲，已经到[站点x]了，预计[日期x]送达哦"), cid="c-2")),
        Conversation.model_validate(conv(("customer", "hello"), cid="c-3")),
        Conversation.model_validate(conv(("agent", ""), ("agent", "😊"), cid="c-4")),
    ]


def test_every_agent_turn_in_order(tiny_analyzer):
    convs = _convs()
    results = tiny_analyzer.score(convs)
    assert [r.id for r in results] == [c.id for c in convs]
    for c, r in zip(convs, results):
        agent_idx = [i for i, t in enumerate(c.turns) if t.role == "agent"]
        assert [t.index for t in r.turns] == agent_idx
        assert 0 <= r.score <= 100
        for t in r.turns:
            assert t.role == "agent"
            for f in t.findings:
                assert f.flag in FLAGS and 0 <= f.confidence <= 1 and f.explanation and f.evidence is not None
    assert results[2].turns == [] and results[2].score == 100.0


def test_output_json_shape(tiny_analyzer):
    out = tiny_analyzer.score(_convs()[:1])[0].model_dump(exclude_none=True)
    assert set(out) >= {"id", "score", "turns"}
    assert set(out["turns"][0]) == {"index", "role", "findings"}


def test_check_draft_returns_findings(tiny_analyzer):
    c = _convs()[0]
    res = tiny_analyzer.check(c, "Sorry for the inconvenience.")
    assert isinstance(res, list) and all(isinstance(f, Finding) for f in res)


def test_score_is_order_independent_of_batching(tiny_analyzer):
    convs = _convs()
    together = tiny_analyzer.score(convs)
    alone = [tiny_analyzer.score([c])[0] for c in convs]
    assert [r.model_dump() for r in together] == [r.model_dump() for r in alone]


def test_turn_position_is_capped_for_long_chats(tiny_analyzer, tiny_model):
    """Real chats run far past the composed ones: past N_PREV_CAP earlier agent turns the heads
    see the same position, so a long chat does not push a flag up or down by its length alone."""
    import json

    from replyguard.context import build_contexts
    from replyguard.features import N_PREV_CAP, Featurizer

    assert json.loads((tiny_model / "config.json").read_text())["feature_options"] == {"n_prev_cap": N_PREV_CAP}
    turns = [t for i in range(12) for t in (("customer", f"Question {i}: where is order {i}?"),
                                            ("agent", f"Order {i} ships on day {i}."))]
    c = Conversation.model_validate(conv(*turns, cid="long"))
    ctxs = build_contexts(c, "en")
    n_prev = [f.f("n_prev_agent") for f in tiny_analyzer.featurize(ctxs)]
    assert n_prev[N_PREV_CAP] == n_prev[-1] > n_prev[N_PREV_CAP - 1]
    uncapped = Featurizer(tiny_analyzer.encoder, tiny_analyzer.model.signals)  # models trained before v4
    assert [f.f("n_prev_agent") for f in uncapped(ctxs)][-1] > n_prev[-1]
