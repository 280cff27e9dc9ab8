"""Where ivr may send an HTTP request on someone else's behalf (SSRF policy).

Every outbound URL that a client or a script chose — delivery-report callbacks, OzML
``Request``/``GoTo``, ``Call&Url=``, ``Play`` URLs — goes through one :class:`UrlPolicy`.
It is top-level because both ``sms/`` and ``ozml/`` use it and neither may import the other.

The check and the connection must see the same addresses: resolving the name twice lets a
DNS answer change in between (rebinding) and send the request to an address that was never
checked. :meth:`UrlPolicy.vet` therefore returns the addresses it judged, and the caller
connects to one of them (:func:`endpoint_of` gives host and port).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import SplitResult, urlsplit

__all__ = ["DEFAULT_DENY", "UrlPolicy", "Vetted", "endpoint_of"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Rule = ipaddress.IPv4Network | ipaddress.IPv6Network | str
_K = TypeVar("_K")
_V = TypeVar("_V")
Resolver = Callable[[str], Sequence[str]]

# Denied unless allowed: link-local (AWS/GCP/Azure/OpenStack metadata at 169.254.169.254),
# Alibaba's metadata (100.100.100.200), Azure's wire server (168.63.129.16), AWS's IPv6
# metadata (fd00:ec2::254), "this network" (0.0.0.0/8: connects to the local host on Linux),
# the unspecified IPv6 address, and loopback (allow 127.0.0.0/8 for callbacks to a local
# application).
DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "168.63.129.16/32",
                "fd00:ec2::254/128", "0.0.0.0/8", "::/128", "127.0.0.0/8", "::1/128")


def _system_resolver(host: str) -> Sequence[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


class Vetted(tuple[str, tuple[str, ...]]):
    """(reason, addresses): ``reason`` is '' when allowed; ``addresses`` are the ones judged,
    IPv4 first, in the resolver's order — connect to these, never to the name."""

    @property
    def reason(self) -> str:
        return self[0]

    @property
    def addresses(self) -> tuple[str, ...]:
        return self[1]


class UrlPolicy:
    """Allow/deny rules for outbound URLs (CIDRs or host names), fixed at construction.

    What a check costs is mostly finding the addresses of the host, so:

    * an IP literal is its own address: no resolver call (none could change the answer);
    * a verdict depends only on the host and its addresses, so it is remembered for them;
    * a name's addresses are remembered for ``resolve_ttl`` seconds, but only for checks
      that may be a little stale: the one at acceptance, which merely refuses early a URL
      that would never be called. The check before each attempt (``fresh=True``) always
      resolves again, so a name that moved to a denied address is refused when it matters.
    """

    def __init__(self, allow: Sequence[str], deny: Sequence[str], *, resolve_ttl: float = 10.0,
                 cache_size: int = 1024, clock: Callable[[], float] = time.monotonic,
                 resolver: Resolver = _system_resolver) -> None:
        self.allow: tuple[_Rule, ...] = tuple(self._net(a) for a in allow)
        self.deny: tuple[_Rule, ...] = tuple(self._net(d) for d in deny)
        self.resolve_ttl = resolve_ttl
        self._cache_size = max(1, cache_size)
        self._clock = clock
        self._resolver = resolver
        self._lock = threading.Lock()
        self._resolved: dict[str, tuple[float, tuple[str, ...]]] = {}  # name -> (until, addrs)
        self._verdicts: dict[tuple[str, frozenset[str]], str] = {}

    @staticmethod
    def _net(value: str) -> _Rule:
        try:
            return ipaddress.ip_network(value, strict=False)
        except ValueError:
            return value.lower()  # a host name

    def check(self, url: str, *, fresh: bool = False) -> str:
        """'' if ``url`` may be called, else the reason.

        A name that does not resolve *now* is not refused: it may resolve when the report is
        due (the check runs at acceptance and again before every attempt, and a failed
        attempt is retried). ``fresh``: resolve the name now, whatever was remembered.
        """
        return self.vet(url, fresh=fresh).reason

    def vet(self, url: str, *, fresh: bool = True) -> Vetted:
        """The verdict on ``url`` and the addresses it was judged on (see the module)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return Vetted((f"not an http(s) URL: {url!r}", ()))
        host = parts.hostname.lower()
        addresses = self._addresses(host, fresh)
        key = (host, frozenset(addresses))
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdict(host, [_address(a) for a in addresses])
            self._remember(self._verdicts, key, verdict)
        return Vetted((verdict, addresses))

    def _addresses(self, host: str, fresh: bool) -> tuple[str, ...]:
        try:
            return (str(_address(host)),)    # an IP literal
        except ValueError:
            pass
        if not fresh:
            known = self._resolved.get(host)
            if known is not None and known[0] > self._clock():
                return known[1]
        try:
            found = list(dict.fromkeys(self._resolver(host)))
        except (OSError, UnicodeError):
            found = []
        addresses = tuple(sorted(found, key=lambda a: ":" in a))   # IPv4 first, stable
        self._remember(self._resolved, host, (self._clock() + self.resolve_ttl, addresses))
        return addresses

    def _remember(self, cache: dict[_K, _V], key: _K, value: _V) -> None:
        """Bounded: the oldest entry goes when full (many distinct hosts cannot grow it)."""
        with self._lock:
            if key not in cache and len(cache) >= self._cache_size:
                cache.pop(next(iter(cache)))
            cache[key] = value

    def _verdict(self, host: str, addresses: list[_Address]) -> str:
        # An IPv4-mapped IPv6 address (::ffff:169.254.169.254) reaches the IPv4 host: it is
        # judged as that address too, or it would slip past an IPv4 rule.
        candidates = addresses + [a.ipv4_mapped for a in addresses
                                  if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped]
        for rule in self.allow:
            if _matches(rule, host, candidates):
                return ""
        for rule in self.deny:
            if _matches(rule, host, candidates):
                return f"{host} is denied by the outbound URL policy ({rule})"
        return ""


def _address(text: str) -> _Address:
    """The address in ``text`` without an IPv6 zone (``fe80::1%eth0``); ValueError if none."""
    return ipaddress.ip_address(text.split("%")[0])


def _matches(rule: _Rule, host: str, addresses: list[_Address]) -> bool:
    if isinstance(rule, str):
        return rule == host
    return any(a in rule for a in addresses)


def endpoint_of(parts: SplitResult) -> tuple[str, int]:
    """(host, port) to connect to: the host without IPv6 brackets and an explicit port, so
    http.client never reads the last group of an IPv6 address as a port. ValueError for a
    URL with no host or a port outside 0-65535."""
    host = parts.hostname
    if not host:
        raise ValueError("no host")
    port = parts.port        # ValueError when out of range or not a number
    return host, port if port is not None else (443 if parts.scheme == "https" else 80)
