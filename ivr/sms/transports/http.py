"""Templated HTTP provider transport: send each message as one HTTP request.

The model is the Acrobits softphone's generic SMS web service (seed 000:
``genericSmsSendUrl`` / ``genericSmsSendPostData`` / ``genericSmsContentType``) judged the way
Kannel's ``smsc = http``, ``system-type = generic`` judges replies (success / permfail /
tempfail regexes, see reference sms-gateway-peers.md §1.4). Presets for the four provider APIs
of the seeds live in :mod:`ivr.sms.transports.http_presets`.

Two ways to build one:

* :func:`from_url` for the transport registry (``[sms.transports]`` values, ``--transport``)::

      http+jsonapi://LOGIN:PASSWORD@sms.example.com
      https+restcomm://ACxxxx:TOKEN@cpaas.example.com/restcomm?sender=19876543212
      https://user:pw@example.com/send_message/?from=%account[username]%&to=%sms_to%&body=%sms_body%#timeout=10

  With a preset (``http+<preset>://``) the query string and the fragment hold options. A plain
  ``http(s)://`` URL *is* the send URL template (its query is part of the template), so its
  options go in the ``#fragment``, which is never sent to the provider. The userinfo gives
  ``%account[username]%`` / ``%account[password]%``.

* :func:`from_dict` for a configuration table with the same option names (``send_url``,
  ``post_data``, ``content_type``, ``method``, ``username``, ``password``, ``auth``,
  ``success_regex``, ``permfail_regex``, ``tempfail_regex``, ``success_json``,
  ``id_json_path``, ``id_regex``, ``error_json_path``, ``tempfail_status``, ``timeout``,
  ``sender``, ``stype``, ``require_dlr``, ``public_url``, ``dlr_url``, ``max_in_flight``,
  ``rate_limit``, ``header.<Name>``, ``preset``).

Placeholders (``%name%``) are escaped for where they stand: percent-encoding in the URL and in
``application/x-www-form-urlencoded`` bodies (``+`` becomes ``%2B`` as in the document's
``sms_to=%2B15551231234``), JSON string escaping in JSON bodies (a placeholder outside quotes
becomes a quoted JSON string), XML escaping in XML bodies. Unknown placeholders are refused
when the transport is built, not when the first message goes out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import requests

from ivr.errors import TransportError
from ivr.sms.message import Message
from ivr.sms.transports.base import SubmitResult, TransportEvents
from ivr.sms.transports.http_config import (
    HttpProviderConfig,
    build_config,
    config_from_url,
    dlr_webhook_url,
)
from ivr.sms.transports.http_response import (
    ResponseRules,
    Verdict,
    json_path,
    judge_response,
    parse_status_ranges,
)
from ivr.sms.transports.http_template import TEMPLATE_VARIABLES, Template, compile_template

__all__ = [
    "TEMPLATE_VARIABLES",
    "HttpProviderConfig",
    "HttpTransport",
    "ResponseRules",
    "Template",
    "Verdict",
    "build_config",
    "compile_template",
    "config_from_url",
    "dlr_webhook_url",
    "from_dict",
    "from_url",
    "json_path",
    "judge_response",
    "parse_status_ranges",
]

log = logging.getLogger(__name__)


def from_dict(name: str, options: Mapping[str, str], *, public_url: str = "",
              dlr_token: str = "") -> HttpTransport:
    """Build a transport from a table of options (see the module docstring for the names).

    ``preset`` fills defaults from :data:`~ivr.sms.transports.http_presets.PRESETS`; then
    ``base_url`` is required instead of ``send_url``. ``public_url`` is how providers reach our
    HTTP API; it makes ``%dlr_url%`` point at ``/dlr/<kind>/<name>`` there.
    """
    return HttpTransport(build_config(name, options, public_url=public_url,
                                      dlr_token=dlr_token))


def from_url(name: str, url: str, *, public_url: str = "",
             dlr_token: str = "") -> HttpTransport:
    """Build a transport from one URL: ``http(s)://`` template or ``http(s)+<preset>://``."""
    return HttpTransport(config_from_url(name, url, public_url=public_url,
                                         dlr_token=dlr_token))


class HttpTransport:
    """One HTTP provider. Stateless between sends, so the dispatcher may call ``send`` from
    ``max_in_flight`` threads at once; each thread keeps its own ``requests.Session``."""

    def __init__(self, config: HttpProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self.max_in_flight = config.max_in_flight
        self.rate_limit = config.rate_limit
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._events: TransportEvents | None = None

    def start(self, events: TransportEvents) -> None:
        self._events = events
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def healthy(self) -> bool:
        return not self._stopped

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # proxies from the environment must not see credentials
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def values_for(self, message: Message) -> dict[str, str]:
        """The placeholder values for one message."""
        cfg = self.config
        if cfg.require_dlr:
            require_dlr = cfg.require_dlr
        else:
            require_dlr = "1" if message.request_status_report else "0"
        return {
            "sms_to": message.recipient,
            "sms_body": message.body,
            "sms_from": message.sender or cfg.sender,
            "sms_id": message.id,
            "content_type": message.content_type or "text/plain",
            "disposition_notification": message.disposition_notification,
            "smart": "0",
            "require_dlr": require_dlr,
            "dlr_url": cfg.dlr_url,
            "stype": cfg.stype,
            "account[username]": cfg.username,
            "account[password]": cfg.password,
        }

    def send(self, message: Message) -> SubmitResult:
        if self._stopped:
            raise TransportError(f"transport {self.name} is stopped", code="stopped",
                                 retryable=True)
        cfg = self.config
        values = self.values_for(message)
        url = cfg.url.render(values)
        data = cfg.body.render(values).encode("utf-8") if cfg.body is not None else None
        headers = {"User-Agent": "ivr-http-transport/0.1"}
        if data is not None:
            headers["Content-Type"] = cfg.content_type
        headers.update(dict(cfg.headers))
        auth = (cfg.username, cfg.password) if cfg.basic_auth else None
        log.info("message %s: %s %s via %s", message.id, cfg.method, cfg.log_url, self.name)
        try:
            response = self._session().request(cfg.method, url, data=data, headers=headers,
                                               auth=auth, timeout=cfg.timeout,
                                               allow_redirects=False)
        except requests.Timeout:
            log.warning("message %s: %s timed out after %.1f s", message.id, cfg.log_url,
                        cfg.timeout)
            raise TransportError(f"{cfg.log_url}: no answer within {cfg.timeout:g} s",
                                 code="HTTP timeout", retryable=True) from None
        except requests.RequestException as exc:
            log.warning("message %s: %s unreachable: %s", message.id, cfg.log_url,
                        type(exc).__name__)
            raise TransportError(f"{cfg.log_url}: {type(exc).__name__}",
                                 code="HTTP connect", retryable=True) from None
        body = response.content.decode(response.encoding or "utf-8", errors="replace")
        log.debug("message %s: HTTP %d, %d bytes: %r", message.id, response.status_code,
                  len(response.content), body[:400])
        verdict = judge_response(response.status_code, body, cfg.rules)
        if not verdict.ok:
            log.warning("message %s: %s refused (%s, %s): %s", message.id, self.name,
                        verdict.code, "retry" if verdict.retryable else "permanent",
                        verdict.error)
            raise TransportError(verdict.error or verdict.code, code=verdict.code,
                                 retryable=verdict.retryable,
                                 error_code=30001 if response.status_code == 429 else 30008)
        log.info("message %s: accepted by %s, provider id %r", message.id, self.name,
                 verdict.provider_id)
        count = max(1, len(message.parts))
        return SubmitResult(provider_ids=[verdict.provider_id] * count)
