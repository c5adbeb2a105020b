"""PII masking for everything the service stores or logs.

Masks become anonymisation tokens (``[phone]``, ``[email]``…) of the kind the models already
read as placeholders (replyguard.text.ANON), so redacted history still judges well.

>>> redact("call me on 138 1234 5678 or mail li.lei@example.com")
'call me on [phone] or mail [email]'
"""

from __future__ import annotations

import logging
import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Mainland resident ID: region(6) + birth date + sequence(3) + check digit.
CN_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                   r"(?![0-9A-Za-z])")
# 13-19 digits, optionally in groups; only masked when the Luhn check passes, so order and
# tracking numbers (which rarely pass it) stay readable for the models and reviewers.
CARD = re.compile(r"(?<![\d+])(?:\d[ -]?){12,18}\d(?!\d)")
PHONE = re.compile(
    r"(?<![\dA-Za-z])(?:"
    r"(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}"             # CN mobile, 138 1234 5678
    r"|\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{2,4}(?:[ -]?\d{3,4}){1,3}"  # international
    r"|0\d{2,3}-\d{7,8}"                                     # CN landline 010-12345678
    r"|09\d{2}-?\d{3}-?\d{3}"                                # TW mobile
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}"                      # NANP 555-123-4567
    r")(?!\d)"
)


def _luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)


def redact(text: str) -> str:
    """Replace emails, CN ID-card numbers, payment-card numbers and phone numbers with tokens."""
    text = EMAIL.sub("[email]", text)
    text = CN_ID.sub("[id_card]", text)
    text = CARD.sub(_card, text)
    return PHONE.sub("[phone]", text)


class Scrubber:
    """Applies the privacy settings to text on its way to storage or a log line."""

    def __init__(self, redact_pii: bool = True, log_text: bool = False) -> None:
        self.redact_pii = redact_pii
        self.log_text = log_text

    def store(self, text: str) -> str:
        return redact(text) if self.redact_pii else text

    def log(self, text: str) -> str:
        """What a log line may say about ``text``: its length only, unless log_text is on."""
        if not self.log_text:
            return f"<{len(text)} chars>"
        return self.store(text)


class RedactingFilter(logging.Filter):
    """Last line of defence: masks PII in any record that reaches the service's handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        masked = redact(msg)
        if masked != msg:
            record.msg, record.args = masked, None
        return True
