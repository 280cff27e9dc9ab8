"""Judging an HTTP provider's reply (pure), the way Kannel's ``smsc = http``,
``system-type = generic`` does: success / permfail / tempfail regexes, JSON paths for the id
and the error, and the HTTP statuses that mean "try again" (sms-gateway-peers.md §1.4).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ivr.errors import ConfigError

__all__ = ["ResponseRules", "Verdict", "judge_response", "json_path", "parse_status_ranges"]

_ERROR_PREVIEW = 100   # seed 000: "takes first 100 characters of the raw response body"


def json_path(document: Any, path: str) -> Any:
    """Follow ``a.b.0.c`` through dicts and lists; ``None`` when any step is missing.

    A list met where a key is expected yields its first element's key, so ``data.id`` works for
    JSON:API's single ``data`` object and for a one-element ``data`` array alike.
    """
    current = document
    for step in path.split("."):
        if isinstance(current, list):
            if step.isdigit():
                index = int(step)
                current = current[index] if index < len(current) else None
                continue
            current = current[0] if current else None
        if isinstance(current, dict):
            current = current.get(step)
        else:
            return None
        if current is None:
            return None
    return current


def parse_status_ranges(spec: str) -> frozenset[int]:
    """``"408,429,500-599"`` -> the set of HTTP statuses; raises ConfigError on junk."""
    statuses: set[int] = set()
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        low, _, high = item.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ConfigError(f"tempfail_status: {item!r} is not a status or range") from None
        statuses.update(range(first, last + 1))
    return frozenset(statuses)


@dataclass(frozen=True)
class ResponseRules:
    success_regex: str = ""
    permfail_regex: str = ""
    tempfail_regex: str = ""
    success_json: str = ""                  # "path=value"
    id_json_path: str = ""
    id_regex: str = ""
    error_json_paths: tuple[str, ...] = ("message",)
    tempfail_statuses: frozenset[int] = field(
        default_factory=lambda: parse_status_ranges("408,425,429,500-599"))


@dataclass(frozen=True)
class Verdict:
    """How one provider reply was judged."""

    ok: bool
    provider_id: str = ""
    retryable: bool = False
    error: str = ""
    code: str = ""


def _error_text(body: str, document: Any, paths: tuple[str, ...]) -> str:
    for path in paths:
        value = json_path(document, path) if document is not None else None
        if isinstance(value, str | int | float) and str(value) != "":
            return str(value)
    return body.strip()[:_ERROR_PREVIEW]


def judge_response(status: int, body: str, rules: ResponseRules) -> Verdict:
    """Decide success / permanent / temporary failure for one reply, Kannel-generic style.

    Order: ``permfail_regex`` then ``tempfail_regex`` win over the status line (a provider that
    answers 200 with "ERR: no credit" is still a failure); then a non-2xx status is temporary if
    listed in ``tempfail_statuses`` (5xx, 408, 425, 429 by default) else permanent; a 2xx must
    also satisfy ``success_regex`` / ``success_json`` when set, else it is a permanent failure
    (retrying an answer we do not understand could send the message twice).
    """
    try:
        document: Any = json.loads(body) if body.strip()[:1] in ("{", "[") else None
    except ValueError:
        document = None
    code = f"HTTP {status}"
    if rules.permfail_regex and re.search(rules.permfail_regex, body):
        return Verdict(False, retryable=False, error=_error_text(body, document,
                                                                 rules.error_json_paths), code=code)
    if rules.tempfail_regex and re.search(rules.tempfail_regex, body):
        return Verdict(False, retryable=True, error=_error_text(body, document,
                                                                rules.error_json_paths), code=code)
    if not 200 <= status < 300:
        return Verdict(False, retryable=status in rules.tempfail_statuses,
                       error=_error_text(body, document, rules.error_json_paths) or code,
                       code=code)
    if rules.success_regex and not re.search(rules.success_regex, body):
        return Verdict(False, retryable=False, code=code,
                       error=_error_text(body, document, rules.error_json_paths))
    if rules.success_json:
        path, _, expected = rules.success_json.partition("=")
        actual = json_path(document, path) if document is not None else None
        if actual is None or str(actual) != expected:
            return Verdict(False, retryable=False, code=code,
                           error=_error_text(body, document, rules.error_json_paths))
    provider_id = ""
    if rules.id_json_path and document is not None:
        value = json_path(document, rules.id_json_path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            provider_id = str(value)
    if not provider_id and rules.id_regex:
        match = re.search(rules.id_regex, body)
        if match:
            provider_id = match.groupdict().get("id") or (match.group(1) if match.groups()
                                                           else match.group(0))
    return Verdict(True, provider_id=provider_id.strip(), code=code)
