"""Suggestions for popups, drawn from a per-tenant YAML catalogue (see catalogue/default.yaml).

>>> cat = Catalogue.load(DEFAULT_CATALOGUE)
>>> from replyguard.schema import Conversation, Finding
>>> conv = Conversation(id="c1", turns=[{"role": "customer", "text": "My parcel never arrived!!"}])
>>> f = Finding(flag="missing_empathy", confidence=0.9, evidence="Order no?", explanation="…")
>>> cat.suggest(f, conv, "Order no?").startswith("Acknowledge how the customer feels")
True
"""

from __future__ import annotations

import logging
import threading
import zlib
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, model_validator

from replyguard.schema import FLAGS, Conversation, Finding
from replyguard.text import conversation_lang, fold
from service.keys import TENANT
from service.settings import DEFAULT_CATALOGUE

Localized = dict[str, list[str]]  # lang -> phrases
TEMPLATE_KEYS = (*FLAGS, "boilerplate_canned", "non_answer_canned")
# A draft is a new text on every keystroke: fold it without fold()'s cache, which is for
# history (65,536 entries; filled with drafts it would only grow the worker for hours).
_fold_draft = fold.__wrapped__
log = logging.getLogger("replyguard.service")


class Scenario(BaseModel):
    keywords: Localized = Field(default_factory=dict)
    openers: Localized


class CannedLine(BaseModel):
    intent: dict[str, str]
    lines: Localized
    advice: dict[str, str]


class CatalogueFile(BaseModel):
    """The YAML file's shape; loading fails with a clear message when it does not match."""

    version: int = 1
    default_lang: str = "en"
    templates: dict[str, dict[str, str]]
    scenarios: dict[str, Scenario]
    canned: list[CannedLine] = Field(default_factory=list)
    promotion_terms: Localized = Field(default_factory=dict)
    escalation: Localized

    @model_validator(mode="after")
    def _complete(self) -> CatalogueFile:
        missing = [k for k in TEMPLATE_KEYS if k not in self.templates]
        if missing:
            raise ValueError(f"templates missing for {missing}")
        if "general" not in self.scenarios:
            raise ValueError("scenarios must include 'general' (used when no keyword matches)")
        return self


def _folded(phrases: Localized) -> dict[str, list[tuple[str, str]]]:
    """Per language, (folded, original) for every phrase, longest first."""
    return {lang: sorted(((fold(p), p) for p in ps if fold(p)), key=lambda x: -len(x[0]))
            for lang, ps in phrases.items()}


def _find(table: dict[str, list[tuple[str, str]]], key: str, lang: str) -> str | None:
    """The first phrase of ``table`` inside folded text ``key``, quoted in ``lang`` when possible
    (folding makes 系统 and 系統 equal, so the draft's own script is tried first)."""
    for lg in [lang, *(x for x in table if x != lang)]:
        for folded, original in table.get(lg, []):
            if folded in key:
                return original
    return None


class Catalogue:
    """A loaded catalogue: picks the scenario, the language and the phrase for each finding."""

    def __init__(self, data: CatalogueFile, source: str = "") -> None:
        self.data = data
        self.source = source
        self._keywords = {name: _folded(sc.keywords) for name, sc in data.scenarios.items()}
        self._canned = [(c, _folded(c.lines)) for c in data.canned]
        self._promo = _folded(data.promotion_terms)

    @classmethod
    def load(cls, path: str | Path) -> Catalogue:
        """Read and validate a catalogue file."""
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            return cls(CatalogueFile.model_validate(raw), source=str(path))
        except (ValueError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: not a valid suggestion catalogue: {e}") from e

    # -- choosing -------------------------------------------------------------------------
    def _lang(self, conv: Conversation, draft: str) -> str:
        lang = conv.lang if conv.lang in ("zh-Hans", "zh-Hant", "en") else None
        return lang or conversation_lang([t.text for t in conv.turns] + [draft])

    def _text(self, table: dict[str, str], lang: str) -> str:
        return table.get(lang) or table.get(self.data.default_lang) or next(iter(table.values()), "")

    def _pick(self, table: Localized, lang: str, seed: str) -> str:
        """One phrase, stable for a conversation (so popups don't flicker) but varied across them."""
        options = table.get(lang) or table.get(self.data.default_lang) or next(iter(table.values()), [])
        return options[zlib.crc32(seed.encode()) % len(options)] if options else ""

    def scenario(self, conv: Conversation) -> str:
        """The scenario whose keywords best match the customer's messages (latest weigh most)."""
        customer = [t.text for t in conv.turns if t.role == "customer"][-4:]
        best, best_score = "general", 0.0
        for name, words in self._keywords.items():
            score = 0.0
            for age, text in enumerate(reversed(customer)):
                key = fold(text)
                hits = {w for pairs in words.values() for w, _ in pairs if w in key}
                score += len(hits) / (1 + age)
            if score > best_score:
                best, best_score = name, score
        return best

    def _canned_in(self, key: str, lang: str) -> tuple[CannedLine, str] | None:
        """The catalogue's canned line inside the folded draft ``key``, if any."""
        for canned, lines in self._canned:
            line = _find(lines, key, lang)
            if line:
                return canned, line
        return None

    def suggest(self, finding: Finding, conv: Conversation, draft: str) -> str:
        """A one-line fix for ``finding`` on ``draft`` as the next turn of ``conv``."""
        lang = self._lang(conv, draft)
        seed = f"{conv.id}:{finding.flag}"
        t = self.data.templates
        slots = {"opener": self._pick(self.data.scenarios[self.scenario(conv)].openers, lang, seed),
                 "escalation": self._pick(self.data.escalation, lang, seed), "term": "", "line": "",
                 "intent": "", "advice": ""}
        key = finding.flag
        if finding.flag in ("boilerplate", "non_answer"):
            hit = self._canned_in(_fold_draft(draft), lang)
            if hit:
                canned, line = hit
                key = f"{finding.flag}_canned"
                slots |= {"line": line, "intent": self._text(canned.intent, lang),
                          "advice": self._text(canned.advice, lang)}
        elif finding.flag == "ad_to_upset_customer":
            # the catalogue's word when it has one, else the sentence the detector pointed at
            slots["term"] = _find(self._promo, _fold_draft(draft), lang) or finding.evidence[:40]
        return self._text(t[key], lang).format(**slots)


class Catalogues:
    """The default catalogue plus tenants' own (``DIR/TENANT.yaml``), reloaded when the file changes."""

    def __init__(self, default: Path = DEFAULT_CATALOGUE, tenant_dir: Path | None = None) -> None:
        self.default = Catalogue.load(default)
        self.tenant_dir = tenant_dir
        self._cache: dict[str, tuple[float, Catalogue]] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant: str) -> Catalogue:
        if self.tenant_dir is None or not TENANT.match(tenant):
            return self.default
        path = self.tenant_dir / f"{tenant}.yaml"
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return self.default
        with self._lock:
            hit = self._cache.get(tenant)
            if hit and hit[0] == mtime:
                return hit[1]
        try:
            cat = Catalogue.load(path)
        except ValueError:
            # a broken edit must not take the popups down: keep serving the default
            log.exception("tenant %s: catalogue %s is invalid; using the default", tenant, path)
            cat = self.default
        with self._lock:
            self._cache[tenant] = (mtime, cat)
        return cat
