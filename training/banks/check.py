"""Shape and count check for the scenario banks: ``python -m training.banks.check``."""

from __future__ import annotations

import importlib
import sys

STOCK_MIN = {
    "greeting": 12, "bare_apology": 12, "bare_empathy": 12, "patience": 12,
    "feedback_important": 12, "anything_else": 12, "closing": 12, "rate_request": 12,
    "hold": 12, "system_excuse": 12, "deflect": 12, "compliment_understanding": 12,
    "empathy_opener": 12, "specific_empathy": 12, "upset_marks": 12,
    "impatient_followup": 12, "satisfied": 12, "resigned": 12, "ack": 12,
    "defensive": 12, "promo_request": 8, "neutral_chitchat": 8,
}
DOMAIN_MIN = {"ad": 8, "compensation": 6, "defensive": 6, "drift": 6, "far_ticket": 4, "scenarios": 8}
SCENARIO_MIN = {
    "ask": 3, "ask_upset": 3, "answer": 3, "clarify": 3, "clarify_reply": 3, "action": 3,
    "refuse": 3, "followup": 3, "followup_answer": 3,
}
DOMAINS = ["ecommerce", "logistics", "airline", "bank", "telecom", "ride_hailing",
           "food_delivery", "appliance", "insurance", "software"]
LANGS = ["en", "zh_hans", "zh_hant"]


def check(module_name: str) -> list[str]:
    """Return the problems found in one bank module (empty when it is well formed)."""
    mod = importlib.import_module(f"training.banks.{module_name}")
    errs: list[str] = []
    for key, n in STOCK_MIN.items():
        items = mod.STOCK.get(key, [])
        if len(set(map(str, items))) < n:
            errs.append(f"STOCK[{key}] has {len(items)} distinct items, need {n}")
        if key == "specific_empathy" and not all("{issue}" in s for s in items):
            errs.append("STOCK[specific_empathy] items must all contain {issue}")
        if key == "promo_request" and not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in items):
            errs.append("STOCK[promo_request] items must be [ask, offer] pairs")
    for t in getattr(mod, "PATIENCE_REQUEST", ()):
        if t not in mod.STOCK.get("patience", []):
            errs.append(f"PATIENCE_REQUEST line not in STOCK[patience]: {t!r}")
    for d in DOMAINS:
        if d not in mod.DOMAINS:
            errs.append(f"DOMAINS lacks {d}")
    ids: set[str] = set()
    for d, dom in mod.DOMAINS.items():
        for key, n in DOMAIN_MIN.items():
            if len(dom.get(key, [])) < n:
                errs.append(f"DOMAINS[{d}][{key}] has {len(dom.get(key, []))} items, need {n}")
        for sc in dom.get("scenarios", []):
            sid = sc.get("id", "?")
            if sid in ids:
                errs.append(f"duplicate scenario id {sid}")
            ids.add(sid)
            if not isinstance(sc.get("issue"), str):
                errs.append(f"{sid}: issue must be a string")
            for key, n in SCENARIO_MIN.items():
                items = sc.get(key, [])
                if len(set(items)) < n or not all(isinstance(s, str) and s.strip() for s in items):
                    errs.append(f"{sid}: {key} has {len(set(items))} distinct non-empty strings, need {n}")
    return errs


def main() -> int:
    names = sys.argv[1:] or LANGS
    bad = 0
    for name in names:
        try:
            errs = check(name)
        except ModuleNotFoundError:
            errs = ["module missing"]
        for e in errs:
            print(f"{name}: {e}")
        bad += len(errs)
        if not errs:
            print(f"{name}: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
