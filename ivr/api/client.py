"""Who is asking: the client address behind trusted reverse proxies.

Behind nginx every request comes from 127.0.0.1. Taken at face value, per-address lockouts
would lock every client out together, and loopback-only accounts (the demo user) would be
usable from anywhere. So ``X-Forwarded-For`` is read only when the peer is a configured
trusted proxy (``[http] trusted_proxies``), walking from the right past trusted hops to the
first address a trusted proxy vouched for (the left part is whatever the client wrote). A
request that came through a proxy is never "from this machine".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app, g, request

from ivr.logsafe import escape

__all__ = ["Client", "TrustedProxies", "current_client", "resolve_client"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedProxies = Sequence[_Network]
TRUSTED_PROXIES_KEY = "IVR_TRUSTED_PROXIES"


@dataclass(frozen=True)
class Client:
    address: str        # what lockouts are keyed by and what the logs show
    proxied: bool       # came through a trusted proxy: never treated as loopback


def parse_networks(entries: Sequence[str]) -> list[_Network]:
    """``["127.0.0.1", "10.0.0.0/8"]`` → networks; ValueError names the bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {entry!r} is not an address or network") \
                from None
    return networks


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("["):                       # "[2001:db8::1]:443"
        text = text[1:text.find("]")] if "]" in text else text
    elif text.count(":") == 1:                     # "203.0.113.9:5555"
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
             trusted: TrustedProxies) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def resolve_client(peer: str, forwarded_for: str | None, trusted: TrustedProxies) -> Client:
    """Pure: the client of a request from ``peer`` carrying ``X-Forwarded-For``."""
    if not forwarded_for:            # the common case: nothing to judge, nothing to parse
        return Client(peer, proxied=False)
    peer_ip = _ip(peer)
    if peer_ip is None or not _trusted(peer_ip, trusted):
        return Client(peer, proxied=False)
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:          # garbage a client wrote: nobody we trust vouched past it
            return Client("unparseable:" + escape(hop.strip(), 45), proxied=True)
        if not _trusted(address, trusted):
            return Client(str(address), proxied=True)
    first = _ip(hops[0]) if hops else None
    return Client(str(first) if first else peer, proxied=True)


def current_client() -> Client:
    """The client of the Flask request being served (judged once per request: the view
    and the access log line both ask)."""
    client: Client | None = g.get("_ivr_client")
    if client is None:
        trusted: TrustedProxies = current_app.config.get(TRUSTED_PROXIES_KEY, ())
        client = g._ivr_client = resolve_client(
            request.remote_addr or "", request.headers.get("X-Forwarded-For"), trusted)
    return client
