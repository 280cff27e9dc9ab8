"""Routing rules: explicit name, sender rule, longest recipient prefix, default."""

from __future__ import annotations

import pytest

from ivr.errors import SmsError
from ivr.sms.routing import Router

ROUTER = Router(["modem", "smpp", "hu", "shop"],
                {"+36": "hu", "+3630": "modem", "+1": "smpp", "sender:Shop": "shop"})


@pytest.mark.parametrize(("recipient", "sender", "explicit", "expected"), [
    ("+36201234567", "", "", "hu"),
    ("+36301234567", "", "", "modem"),          # longest prefix wins over +36
    ("+15551234567", "", "", "smpp"),
    ("+44201234567", "", "", "modem"),          # no rule: the first transport
    ("+36301234567", "Shop", "", "shop"),       # sender rule before prefixes
    ("+36301234567", "Shop", "smpp", "smpp"),   # explicit before everything
])
def test_route(recipient: str, sender: str, explicit: str, expected: str) -> None:
    assert ROUTER.route(recipient, sender, explicit) == expected


def test_default_transport_setting() -> None:
    assert Router(["a", "b"], {}, "b").route("+3611") == "b"


def test_unknown_names_are_errors() -> None:
    with pytest.raises(SmsError, match="nope"):
        Router(["a"], {"+1": "nope"})
    with pytest.raises(SmsError, match="nope"):
        ROUTER.route("+3611", "", "nope")
    with pytest.raises(SmsError):
        Router([], {})
