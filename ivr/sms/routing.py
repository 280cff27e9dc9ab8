"""Which transport sends a message. Pure.

Rules, first match wins: an explicit transport name on the message; ``sender:<id>`` rules;
the longest matching recipient prefix; the default transport.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.errors import SmsError

__all__ = ["Router"]


class Router:
    def __init__(self, transports: list[str], rules: Mapping[str, str], default: str = "") -> None:
        if not transports:
            raise SmsError("no SMS transport is configured ([sms.transports])")
        self.transports = transports
        self.default = default or transports[0]
        self.sender_rules = {k[len("sender:"):]: v for k, v in rules.items()
                             if k.startswith("sender:")}
        self.prefix_rules = sorted(((k, v) for k, v in rules.items()
                                    if not k.startswith("sender:")),
                                   key=lambda kv: len(kv[0]), reverse=True)
        for target in [self.default, *rules.values()]:
            if target not in transports:
                raise SmsError(f"[sms.routes] names transport {target!r}, which is not in "
                               f"[sms.transports] ({', '.join(transports)})")

    def route(self, recipient: str, sender: str = "", explicit: str = "") -> str:
        if explicit:
            if explicit not in self.transports:
                raise SmsError(f"no transport named {explicit!r}")
            return explicit
        if sender in self.sender_rules:
            return self.sender_rules[sender]
        for prefix, name in self.prefix_rules:
            if recipient.startswith(prefix):
                return name
        return self.default
