"""Templates of the HTTP provider transport (pure): ``%name%`` placeholders escaped for where
they stand — percent-encoding in the URL and in form bodies, JSON string escaping in JSON
bodies (a placeholder outside quotes becomes a quoted JSON string), XML escaping in XML
bodies. Unknown placeholders are refused when a template is compiled.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape

from ivr.errors import ConfigError

__all__ = ["TEMPLATE_VARIABLES", "Template", "body_context", "compile_template"]

# Acrobits global/account parameters we can fill, plus our own additions (sms_id, dlr_url...).
TEMPLATE_VARIABLES = frozenset({
    "sms_to", "sms_body", "sms_from", "sms_id", "content_type", "disposition_notification",
    "smart", "require_dlr", "dlr_url", "stype", "account[username]", "account[password]",
})

_PLACEHOLDER = re.compile(r"%([a-z_]+(?:\[[a-z_]+\])?)%")


def _percent(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _json_inside(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _json_outside(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _xml(value: str) -> str:
    return xml_escape(value, {'"': "&quot;", "'": "&apos;"})


def _raw(value: str) -> str:
    return value


@dataclass(frozen=True)
class Template:
    """A compiled template: literal text and ``(variable, escaper)`` slots, in order."""

    pieces: tuple[str | tuple[str, Callable[[str], str]], ...]

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p[0] for p in self.pieces if isinstance(p, tuple))

    def render(self, values: Mapping[str, str]) -> str:
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                name, escape = piece
                out.append(escape(values.get(name, "")))
        return "".join(out)


def body_context(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return "form"
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media in ("text/xml", "application/xml") or media.endswith("+xml"):
        return "xml"
    return "raw"


def compile_template(text: str, context: str, *, where: str = "template") -> Template:
    """Split ``text`` into literals and placeholders escaped for ``context``.

    ``context`` is ``url`` (percent-encoding everywhere: path segments and query values),
    ``form``, ``json`` (tracks whether each placeholder stands inside a JSON string literal),
    ``xml`` or ``raw``. Raises ConfigError naming an unknown placeholder.
    """
    pieces: list[str | tuple[str, Callable[[str], str]]] = []
    in_string = False
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name not in TEMPLATE_VARIABLES:
            raise ConfigError(f"{where}: unknown placeholder %{name}% "
                              f"(known: {', '.join(sorted(TEMPLATE_VARIABLES))})")
        literal = text[pos:match.start()]
        if context == "json":
            in_string = _json_string_state(literal, in_string)
        pieces.append(literal)
        escape: Callable[[str], str]
        if context in ("url", "form"):
            escape = _percent
        elif context == "json":
            escape = _json_inside if in_string else _json_outside
        elif context == "xml":
            escape = _xml
        else:
            escape = _raw
        pieces.append((name, escape))
        pos = match.end()
    pieces.append(text[pos:])
    return Template(tuple(p for p in pieces if p != ""))


def _json_string_state(literal: str, in_string: bool) -> bool:
    """Whether we are inside a JSON string literal after scanning ``literal`` (RFC 8259 §7)."""
    escaped = False
    for char in literal:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string
