"""Called number → script, and the SIP values a script can read as variables. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["Dialplan", "header_variables"]


class Dialplan:
    """Exact called number/extension first, then the longest ``prefix*`` entry, then default."""

    def __init__(self, entries: Mapping[str, str], default: str) -> None:
        self.exact = {k: v for k, v in entries.items() if not k.endswith("*")}
        self.prefixes = sorted(((k[:-1], v) for k, v in entries.items() if k.endswith("*")),
                               key=lambda kv: len(kv[0]), reverse=True)
        self.default = default

    def script_for(self, callee: str) -> str:
        if callee in self.exact:
            return self.exact[callee]
        for prefix, script in self.prefixes:
            if callee.startswith(prefix):
                return script
        return self.default


def header_variables(headers: list[tuple[str, str]]) -> dict[str, str]:
    """``User-Agent: X`` → ``$sip_user_agent`` (first occurrence of each header)."""
    variables: dict[str, str] = {}
    for name, value in headers:
        key = "sip_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        variables.setdefault(key, value)
    return variables
