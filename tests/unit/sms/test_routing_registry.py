"""The transport registry: one URL -> one transport, by scheme; loopback URL options."""

from __future__ import annotations

import pytest

from ivr.errors import ConfigError
from ivr.sms.transports import build_transport
from ivr.sms.transports.loopback import LoopbackTransport


def test_loopback_url_keeps_plus_signs_in_patterns() -> None:
    transport = build_transport("lb", "loopback://?delay=0.5&fail=^\\+999&tempfail=^%5C%2B998"
                                "&window=3&rate=2.5")
    assert isinstance(transport, LoopbackTransport)
    assert transport.name == "lb" and transport.delay == 0.5
    assert transport.fail is not None and transport.fail.search("+9991234")
    assert transport.tempfail is not None and transport.tempfail.search("+998")
    assert (transport.max_in_flight, transport.rate_limit) == (3, 2.5)


@pytest.mark.parametrize(("url", "match"), [
    ("gopher://x", "gopher"),
    ("loopback://?dealy=1", "dealy"),
    ("loopback://?delay=soon", "soon"),
    ("loopback://?fail=(", "lb"),
])
def test_bad_urls_are_config_errors_naming_the_problem(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_transport("lb", url)
