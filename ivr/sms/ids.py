"""Provider message ids: the one rule for how an SMSC's id is stored and matched (pure).

Kannel's ``msg-id-type`` problem: an SMSC may give an id in hex in submit_sm_resp and in
decimal in the receipt, or the reverse, with leading zeros and either case. The store keeps
:func:`normalise_id` of the submit id and matches a report if any of :func:`canonical_ids`
of the report's id equals it.
"""

from __future__ import annotations

__all__ = ["canonical_ids", "normalise_id"]

_HEX_DIGITS = frozenset("0123456789abcdef")


def normalise_id(raw: str) -> str:
    """The stored spelling of an SMSC id: stripped, lower-case, without leading zeros."""
    value = raw.strip().lower()
    return value.lstrip("0") or ("0" if value else "")


def canonical_ids(raw: str) -> list[str]:
    """Every spelling one SMSC id may take, first = the stored form: the id as given, read
    as hex written in decimal, and read as decimal written in hex."""
    value = raw.strip().lower()
    forms = [normalise_id(value)]
    if value and len(value) <= 32 and set(value) <= _HEX_DIGITS:
        forms.append(str(int(value, 16)))
    if value.isdigit() and len(value) <= 38:
        forms.append(format(int(value), "x"))
    return list(dict.fromkeys(forms))
