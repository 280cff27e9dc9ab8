"""Network text in log lines: no forged lines, no passwords (pure)."""

from __future__ import annotations

import pytest

from ivr.logsafe import escape, redact_url


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("a\r\nb", "a\\r\\nb"),
    ("x\x00y\x7f", "x\\x00y\\x7f"),
    ("line\u2028sep", "line\\u2028sep"),
])
def test_escape(text: str, expected: str) -> None:
    assert escape(text) == expected


def test_escape_cuts_long_text() -> None:
    assert escape("a" * 600, 10) == "a" * 10 + "…"


@pytest.mark.parametrize(("url", "expected"), [
    ("smpp://ivr:secret@127.0.0.1:2775?window=10", "smpp://ivr:***@127.0.0.1:2775?window=10"),
    ("http://u:p%40ss@[::1]:80/dlr", "http://u:***@[::1]:80/dlr"),
    ("http://example.com/x?a=1", "http://example.com/x?a=1"),
    ("http://user@example.com/", "http://user@example.com/"),
    ("http://h/\r\nforged", "http://h/\\r\\nforged"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
