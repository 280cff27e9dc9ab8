"""Which address a request comes from, behind trusted proxies (pure)."""

from __future__ import annotations

import pytest

from ivr.api.client import Client, parse_networks, resolve_client

LOOPBACK = parse_networks(["127.0.0.1", "::1"])
WITH_LB = parse_networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(("peer", "xff", "trusted", "expected"), [
    ("127.0.0.1", None, LOOPBACK, Client("127.0.0.1", False)),         # direct, local
    ("127.0.0.1", "203.0.113.9", LOOPBACK, Client("203.0.113.9", True)),
    ("127.0.0.1", "1.2.3.4, 203.0.113.9", LOOPBACK, Client("203.0.113.9", True)),  # forged left
    ("127.0.0.1", "127.0.0.1", LOOPBACK, Client("127.0.0.1", True)),   # proxied, never loopback
    ("203.0.113.9", "127.0.0.1", LOOPBACK, Client("203.0.113.9", False)),  # untrusted peer
    ("127.0.0.1", "198.51.100.2, 10.1.1.1", WITH_LB, Client("198.51.100.2", True)),
    ("127.0.0.1", "[2001:db8::7]:5555", LOOPBACK, Client("2001:db8::7", True)),
    ("127.0.0.1", "203.0.113.9:4711", LOOPBACK, Client("203.0.113.9", True)),
    ("::ffff:127.0.0.1", "203.0.113.9", LOOPBACK, Client("203.0.113.9", True)),
    ("127.0.0.1", "evil\r\nline", LOOPBACK, Client("unparseable:evil\\r\\nline", True)),
    ("127.0.0.1", "203.0.113.9", [], Client("127.0.0.1", False)),       # nobody trusted
])
def test_resolve_client(peer: str, xff: str | None, trusted: list[object],
                        expected: Client) -> None:
    assert resolve_client(peer, xff, trusted) == expected  # type: ignore[arg-type]


def test_bad_trusted_proxy_entry_is_named() -> None:
    with pytest.raises(ValueError, match="'nginx.local'"):
        parse_networks(["127.0.0.1", "nginx.local"])
