"""One HTTP request to a URL someone else chose, connected to the address the policy checked.

OzML fetches (``Request``, ``GoTo``, ``Call&Url=``) and ``<Play>`` downloads go through
:func:`open_vetted`: the URL is judged by the outbound policy (``ivr/urlpolicy.py``), which
resolves the name once, and the TCP connection is made to one of the addresses it judged —
never to a second resolution, which a rebinding DNS server could point elsewhere. TLS still
verifies the certificate against the host name (SNI too), and the Host header names it.
Redirects are not followed here: a caller that follows them vets every hop again.

urllib3 (requests' own engine, already a dependency) does the HTTP: its connection pools take
the address to connect to and, separately, the name to verify.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError as _Urllib3Error

from ivr.urlpolicy import endpoint_of

__all__ = ["OutboundError", "OutboundRefused", "Vetter", "open_vetted"]

_TLS = ssl.create_default_context()


class Vetter(Protocol):
    """The outbound policy as the fetchers need it: (reason, addresses) for a URL."""

    def vet(self, url: str, *, fresh: bool = True) -> tuple[str, tuple[str, ...]]: ...


class OutboundError(Exception):
    """The request could not be made or answered (network, TLS, protocol)."""


class OutboundRefused(OutboundError):
    """The outbound URL policy refused the URL."""


def open_vetted(method: str, url: str, policy: Vetter, *, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, connect_timeout: float = 5.0,
                read_timeout: float = 15.0) -> urllib3.BaseHTTPResponse:
    """The response (not yet read: stream it, then ``release_conn()``) of one request."""
    reason, addresses = policy.vet(url, fresh=True)
    if reason:
        raise OutboundRefused(reason)
    parts = urlsplit(url)
    try:
        host, port = endpoint_of(parts)
    except ValueError as exc:
        raise OutboundError(f"bad URL {url!r}: {exc}") from None
    if not addresses:
        raise OutboundError(f"{host} does not resolve")
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    sent = {**(headers or {}), "Host": parts.netloc.rpartition("@")[2]}
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    return _first_answer(parts.scheme, host, port, addresses, method, target, body, sent,
                         timeout)


def _first_answer(scheme: str, host: str, port: int, addresses: Sequence[str], method: str,
                  target: str, body: bytes | None, headers: dict[str, str],
                  timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
    """Try each judged address in turn until one connects (as a resolver's list is tried)."""
    failure = ""
    for address in addresses:
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False,
                                               maxsize=1, server_hostname=host,
                                               assert_hostname=host, ssl_context=_TLS)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False,
                                              maxsize=1)
        try:
            return pool.urlopen(method, target, body=body, headers=headers, redirect=False,
                                retries=False, preload_content=False, assert_same_host=False)
        except (urllib3.exceptions.NewConnectionError,
                urllib3.exceptions.ConnectTimeoutError) as exc:
            failure = f"{address}: {exc.__class__.__name__}"
            continue
        except (_Urllib3Error, OSError) as exc:
            raise OutboundError(f"{exc.__class__.__name__}: {exc}") from None
    raise OutboundError(f"cannot connect to {host} ({failure})")
