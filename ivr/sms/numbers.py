"""Phone numbers and sender ids. Pure.

Recipients are normalised to E.164-like form: punctuation removed (``+1(555)123-1234`` →
``+15551231234``), an international ``00`` prefix becomes ``+``. Numbers without ``+`` are
kept as national digits for transports that route them. The leading digit after ``+`` is not
checked, because Ozeki's own examples use ``+0615546670``.
"""

from __future__ import annotations

import re

from ivr.errors import ValidationError

__all__ = ["normalize_number", "normalize_sender", "is_alphanumeric"]

_PUNCTUATION = re.compile(r"[\s().\-/]")
_ALPHANUMERIC = re.compile(r"^[A-Za-z0-9 .&'_+-]{1,11}$")


def normalize_number(raw: str, param: str = "Recipient") -> str:
    value = _PUNCTUATION.sub("", raw or "")
    if not value:
        raise ValidationError(param, "a phone number is required")
    if value.startswith("00"):
        value = "+" + value[2:]
    digits = value[1:] if value.startswith("+") else value
    if not digits.isdigit() or not digits.isascii():
        raise ValidationError(param, f"{raw!r} is not a phone number (digits, optionally "
                              "starting with +)")
    if value.startswith("+") and not 3 <= len(digits) <= 15:
        raise ValidationError(param, f"{raw!r}: an international number has 3 to 15 digits")
    if not 2 <= len(digits) <= 20:
        raise ValidationError(param, f"{raw!r}: a number has 2 to 20 digits")
    return value


def is_alphanumeric(sender: str) -> bool:
    return any(ch.isalpha() for ch in sender)


def normalize_sender(raw: str, param: str = "Sender") -> str:
    """A number (normalised) or an alphanumeric sender id of at most 11 characters."""
    value = (raw or "").strip()
    if not value:
        return ""
    if not is_alphanumeric(value):
        return normalize_number(value, param)
    if not _ALPHANUMERIC.match(value):
        raise ValidationError(param, f"{raw!r}: an alphanumeric sender has at most 11 "
                              "characters (letters, digits, space, . & ' _ + -)")
    return value
