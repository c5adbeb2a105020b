"""The Analyzer: load a model folder, judge agent turns, score conversations."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from replyguard.context import TurnContext, build_contexts, draft_context
from replyguard.detectors import REGISTRY, Detector
from replyguard.features import FEATURES, SIGNALS, Featurizer, TurnFeatures
from replyguard.heads import Head
from replyguard.lexical import LexicalHead
from replyguard.lexical import settings as lexical_settings
from replyguard.schema import DEFAULT_MODEL, FLAGS, Conversation, Finding, ScoredConversation, TurnResult
from replyguard.text import conversation_lang, detect_lang, turn_lang, vote_lang

# How much one finding costs a turn in the QA score (scaled by its confidence). A turn
# loses at most everything; the conversation score is 100 x mean turn quality.
PENALTY = {"non_answer": 0.5, "boilerplate": 0.3, "ad_to_upset_customer": 0.6,
           "missing_empathy": 0.4, "defensive": 0.8}


def models_dir() -> Path:
    env = os.environ.get("REPLYGUARD_MODELS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "models").is_dir() and (parent / "pyproject.toml").exists():
            return parent / "models"
    return Path.cwd() / "models"


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    if (p / "config.json").exists():
        return p
    q = models_dir() / str(name_or_path)
    if (q / "config.json").exists():
        return q
    raise FileNotFoundError(f"model {name_or_path!r} not found (looked in {p} and {q})")


def _adapter_dir(path: Path, config: dict, key: str) -> Path | None:
    """The adapter folder ``config[key]["adapter"]`` names (beside the model or in models/)."""
    if not config.get(key):
        return None
    adapter = Path(config[key]["adapter"])
    found = next((p for p in (adapter, path.parent / adapter, models_dir() / adapter)
                  if (p / "adapter_config.json").exists()), None)
    if found is None:
        raise FileNotFoundError(f"{path}: {key} model adapter {adapter} not found")
    return found


@dataclass
class ModelFolder:
    path: Path
    config: dict
    signals: dict[str, Head]
    detectors: list[Detector]
    pair_dir: Path | None = None  # LoRA adapter of the fine-tuned pair model, when the heads read it
    lexical: dict[str, LexicalHead] = field(default_factory=dict)  # n-gram twins of some signals
    line_dir: Path | None = None  # LoRA adapter of the fine-tuned line model, when the heads read it

    @classmethod
    def load(cls, name_or_path: str | os.PathLike) -> ModelFolder:
        from safetensors.numpy import load_file

        path = resolve_model(name_or_path)
        config = json.loads((path / "config.json").read_text())
        if tuple(config["features"]) != FEATURES:
            raise ValueError(f"{path}: trained for other features; retrain with this version")
        tensors = load_file(str(path / "heads.safetensors"))
        signals = {s: Head.from_tensors(tensors, f"signal.{s}") for s in SIGNALS}
        lexical = {}
        if config.get("lexical"):
            if config["lexical"]["settings"] != lexical_settings():
                raise ValueError(f"{path}: lexical heads built for another n-gram space; retrain with this version")
            lexical = {s: LexicalHead.from_tensors(tensors, f"lexical.{s}") for s in config["lexical"]["signals"]}
        pair_dir, line_dir = (_adapter_dir(path, config, key) for key in ("pair", "line"))
        line_signals = set(config["line"]["signals"]) if config.get("line") else set()
        detectors = []
        for name, spec in config["detectors"].items():
            det_cls = REGISTRY[name]
            names = tuple(spec.get("features", FEATURES))
            pair, lex, line = det_cls.variants().get(names, (None, None, None))
            if pair is None or (pair and pair_dir is None) or (lex and not all(
                    f.removesuffix("_lex") in lexical for f in det_cls.lexical_features)) or (line and not all(
                    f.removesuffix("_line") in line_signals for f in det_cls.line_features)):
                raise ValueError(f"{path}: {name} was trained on other features; retrain with this version")
            detectors.append(det_cls(Head.from_tensors(tensors, f"flag.{name}"), spec["threshold"],
                                     pair=pair, lexical=lex, line=line))
        return cls(path, config, signals, detectors, pair_dir, lexical, line_dir)


class Analyzer:
    """Flags every agent turn of a conversation.

    >>> an = Analyzer.load()                                           # doctest: +SKIP
    >>> an.check(Conversation(id="1", turns=[{"role": "customer", "text": "Where is my refund??"}]),
    ...          "Is there anything else I can help you with?")        # doctest: +SKIP
    [Finding(flag='non_answer', ...), Finding(flag='boilerplate', ...)]
    """

    def __init__(self, model: ModelFolder, encoder, pair=None, line=None) -> None:
        self.model = model
        self.encoder = encoder
        self.pair = pair
        self.line = line
        if pair is None and any(d.pair for d in model.detectors):
            raise ValueError(f"{model.path}: the flag heads read the pair model; load it (Analyzer.load does)")
        if line is None and any(d.line for d in model.detectors):
            raise ValueError(f"{model.path}: the flag heads read the line model; load it (Analyzer.load does)")
        self.featurize = Featurizer(encoder, model.signals, pair, lexical=model.lexical, line=line,
                                    **model.config.get("feature_options", {}))
        self.detectors = model.detectors

    @classmethod
    def load(cls, model: str | os.PathLike = DEFAULT_MODEL, encoder=None, threads: int | None = None) -> Analyzer:
        from replyguard.encoder import Encoder

        folder = ModelFolder.load(model)
        if encoder is None:
            enc_path = folder.config.get("encoder", {}).get("path")
            encoder = Encoder.load(enc_path if enc_path and Path(enc_path).is_absolute() else None,
                                   threads=threads)
        pair = None
        if folder.pair_dir is not None:
            from replyguard.pair import PairModel

            pair = PairModel.load(folder.pair_dir, share_embeddings_with=encoder)
        line = None
        if folder.line_dir is not None and any(d.line for d in folder.detectors):  # else nothing reads it
            from replyguard.line import LineModel

            line = LineModel.load(folder.line_dir, share_embeddings_with=encoder)
        return cls(folder, encoder, pair, line)

    @property
    def name(self) -> str:
        return str(self.model.config.get("name", self.model.path.name))

    # -- core -----------------------------------------------------------------
    def judge(self, contexts: list[TurnContext]) -> list[list[Finding]]:
        """Findings for each context, in detector order."""
        feats: list[TurnFeatures] = self.featurize(contexts)
        per_det = [d.predict(feats) for d in self.detectors]
        return [[r[i] for r in per_det if r[i] is not None] for i in range(len(contexts))]  # type: ignore[misc]

    def probabilities(self, contexts: list[TurnContext]) -> list[dict[str, float]]:
        """Calibrated probability of every flag per context (for evaluation and thresholds)."""
        feats = self.featurize(contexts)
        probs = {d.flag: d.proba(feats) for d in self.detectors}
        return [{f: float(probs[f][i]) for f in probs} for i in range(len(contexts))]

    def score(self, conversations: list[Conversation]) -> list[ScoredConversation]:
        """Score whole conversations; all their agent turns go through the models in one batch."""
        langs = [c.lang or conversation_lang([t.text for t in c.turns]) for c in conversations]
        ctxs = [build_contexts(c, lang) for c, lang in zip(conversations, langs)]
        flat = [x for cs in ctxs for x in cs]
        findings = self.judge(flat)
        out, k = [], 0
        for conv, lang, cs in zip(conversations, langs, ctxs):
            turns = []
            for ctx in cs:
                turns.append(TurnResult(index=ctx.index, findings=findings[k]))
                k += 1
            out.append(ScoredConversation(id=conv.id, score=qa_score(turns), lang=lang, turns=turns))  # type: ignore[arg-type]
        return out

    def check(self, conversation: Conversation, draft: str) -> list[Finding]:
        """Judge an unsent draft as the next agent turn of ``conversation``."""
        return self.check_many([(conversation, draft)])[0]  # type: ignore[return-value]

    def check_many(self, items: Sequence[tuple[Conversation, str]],
                   return_exceptions: bool = False) -> list[list[Finding] | Exception]:
        """Judge several drafts at once, each as :meth:`check` would, in one pass per model stage.

        Every stage of :meth:`judge` (today the encoder and the heads; any later one, such as
        a pair model over (context, reply) texts, the same way) gets the contexts of the whole
        batch in one call, and texts shared between the drafts (one conversation's history)
        are encoded once. The history comes from the encoder's cache; only the drafts' own
        texts go through the model.

        With ``return_exceptions`` a draft that cannot be judged gets its exception in its
        place and the others are still judged; otherwise the first error is raised.
        """
        ctxs: list[TurnContext | None] = []
        errors: dict[int, Exception] = {}
        for i, (conv, draft) in enumerate(items):
            try:
                ctxs.append(draft_context(conv, draft, self._draft_lang(conv, draft)))
            except Exception as e:
                if not return_exceptions:
                    raise
                errors[i] = e
                ctxs.append(None)
        good = [i for i, c in enumerate(ctxs) if c is not None]
        results: dict[int, list[Finding]] = {}
        try:
            results = dict(zip(good, self.judge([ctxs[i] for i in good])))  # type: ignore[misc]
        except Exception:
            if not return_exceptions or len(good) < 2:
                raise
            for i in good:  # find the draft that broke the batch; judge the others alone
                try:
                    results[i] = self.judge([ctxs[i]])[0]  # type: ignore[list-item]
                except Exception as e:  # noqa: BLE001 - returned in the draft's place
                    errors[i] = e
        return [errors[i] if i in errors else results[i] for i in range(len(items))]

    @staticmethod
    def _draft_lang(conv: Conversation, draft: str) -> str:
        if conv.lang:
            return conv.lang
        # the history's languages come from a cache; only the draft is detected each keystroke
        return vote_lang([*(turn_lang(t.text) for t in conv.turns if t.text.strip()),
                          *([detect_lang(draft)] if draft.strip() else [])])


def qa_score(turns: list[TurnResult]) -> float:
    """100 x mean over agent turns of (1 - weighted findings), 100 when no agent turn."""
    if not turns:
        return 100.0
    quality = []
    for t in turns:
        lost = sum(PENALTY[f.flag] * f.confidence for f in t.findings)
        quality.append(max(0.0, 1.0 - lost))
    return round(100.0 * sum(quality) / len(quality), 1)


__all__ = ["FLAGS", "Analyzer", "qa_score"]
