"""``$name`` substitution in command text and attributes. Pure.

Variables come from ``<Var Id="x">`` and from the call (``$caller``, ``$callee``, ``$callid``,
``$digits``, plus per-call values such as SIP headers). Names start with a letter or ``_`` so
that prices like ``$5`` stay literal; an unknown ``$name`` is left as written (and lint warns).
In URL contexts values are percent-encoded (a ``#`` from ``$digits`` must not end the URL);
values never become markup, because expansion happens after parsing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

__all__ = ["VARIABLE", "expand_text", "expand_url", "variables_in"]

VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_text(text: str, variables: Mapping[str, str]) -> str:
    return VARIABLE.sub(lambda m: variables.get(m.group(1).lower(), m.group(0)), text)


def expand_url(url: str, variables: Mapping[str, str]) -> str:
    return VARIABLE.sub(
        lambda m: quote(variables[m.group(1).lower()], safe="")
        if m.group(1).lower() in variables else m.group(0), url)


def variables_in(text: str) -> list[str]:
    return [m.group(1).lower() for m in VARIABLE.finditer(text)]
