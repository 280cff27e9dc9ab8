"""Fetching the next OzML document (GoTo, Request, ForwardToUrl, FinishedUrl, Call Url).

Ozeki notifies web apps with an HTTP POST, form-encoded, always carrying ``NotificationName``;
the response body is OzML. Timeouts follow Twilio (connect 5 s, whole request 15 s) so a slow
web app never leaves a caller in silence for long. Local files are allowed too (scripts that
``GoTo`` a sibling file), resolved against the current document.

Every URL — the first and each redirect hop — passes the deployment's outbound URL policy
(``UrlChecker``, the same rules as SMS callbacks) before it is requested; redirects are
followed by hand for that reason (at most ``MAX_REDIRECTS``), and each hop connects to the
address the policy judged (``ivr/outbound.py``), so DNS rebinding cannot redirect it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3

from ivr.errors import OzmlFetchError
from ivr.outbound import OutboundError, OutboundRefused, open_vetted
from ivr.ozml.ports import UrlChecker
from ivr.urlpolicy import UrlPolicy

__all__ = ["Fetcher", "Fetched", "HttpFetcher", "resolve", "is_url", "MAX_REDIRECTS"]

MAX_REDIRECTS = 5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    body: bytes
    location: str   # where it came from (final URL after redirects, or file path)


class Fetcher(Protocol):
    def fetch(self, location: str, form: dict[str, str], method: str = "POST") -> Fetched: ...


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def resolve(location: str, base: str) -> str:
    """``location`` relative to the document at ``base`` (a URL or a file path)."""
    if is_url(location) or not base:
        return location
    if is_url(base):
        return urljoin(base, location)
    path = Path(location)
    return str(path if path.is_absolute() else Path(base).parent / path)


class HttpFetcher:
    def __init__(self, connect_timeout: float = 5.0, total_timeout: float = 15.0,
                 max_bytes: int = 1_000_000, policy: UrlChecker | None = None) -> None:
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        # No policy (tests, tools): nothing is denied, but the connection still goes to the
        # address resolved once per hop.
        self.policy: UrlChecker = policy if policy is not None else UrlPolicy([], [])

    def _request(self, location: str, form: dict[str, str],
                 method: str) -> tuple[str, urllib3.BaseHTTPResponse]:
        """(final URL, its response), each hop checked against the policy and connected to
        the address the policy judged."""
        url = location
        for _ in range(MAX_REDIRECTS + 1):
            encoded = urlencode(form)
            body = encoded.encode() if method == "POST" else None
            target = url if method == "POST" or not form else \
                f"{url}{'&' if urlsplit(url).query else '?'}{encoded}"
            headers = {"Accept": "application/xml, text/xml", "User-Agent": "ivr"}
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            try:
                response = open_vetted(method, target, self.policy, body=body, headers=headers,
                                       connect_timeout=self.connect_timeout,
                                       read_timeout=self.total_timeout)
            except OutboundRefused as exc:
                raise OzmlFetchError(f"{url} refused by the outbound URL policy: {exc}",
                                     source=location) from None
            except OutboundError as exc:
                raise OzmlFetchError(f"cannot fetch {url}: {exc}", source=location) from None
            if response.status not in (301, 302, 303, 307, 308) or \
                    not response.headers.get("Location"):
                return url, response
            response.release_conn()
            url = urljoin(url, response.headers["Location"])
            if response.status in (301, 302, 303):
                method, form = "GET", {}   # RFC 9110 §15.4: a POST becomes a GET
        raise OzmlFetchError(f"{location}: more than {MAX_REDIRECTS} redirects",
                             source=location)

    def fetch(self, location: str, form: dict[str, str], method: str = "POST") -> Fetched:
        if not is_url(location):
            return self._read_file(location)
        deadline = time.monotonic() + self.total_timeout
        final, response = self._request(location, form, method)
        try:
            if response.status >= 400:
                raise OzmlFetchError(f"{location} answered HTTP {response.status}",
                                     source=location)
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.stream(65536):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise OzmlFetchError(f"{location}: document over {self.max_bytes} bytes",
                                             source=location)
                    if time.monotonic() > deadline:
                        raise OzmlFetchError(f"{location}: no complete answer within "
                                             f"{self.total_timeout:g} s", source=location)
                    chunks.append(chunk)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise OzmlFetchError(f"{location}: {exc}", source=location) from None
            log.debug("fetched %s (%d bytes, HTTP %d)", location, size, response.status)
            return Fetched(b"".join(chunks), final)
        finally:
            response.release_conn()

    def _read_file(self, location: str) -> Fetched:
        try:
            path = Path(location)
            if path.stat().st_size > self.max_bytes:
                raise OzmlFetchError(f"{location}: document over {self.max_bytes} bytes",
                                     source=location)
            return Fetched(path.read_bytes(), str(path))
        except OSError as exc:
            raise OzmlFetchError(f"cannot read {location}: {exc.strerror}",
                                 source=location) from None
