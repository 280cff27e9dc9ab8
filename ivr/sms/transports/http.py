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

import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import requests

from ivr.errors import ConfigError, TransportError
from ivr.sms.message import Message
from ivr.sms.transports.base import SubmitResult, TransportEvents
from ivr.sms.transports.http_presets import DEFAULT_PATHS, PRESETS

__all__ = [
    "TEMPLATE_VARIABLES",
    "HttpProviderConfig",
    "HttpTransport",
    "Template",
    "Verdict",
    "compile_template",
    "from_dict",
    "from_url",
    "json_path",
    "judge_response",
    "parse_status_ranges",
]

log = logging.getLogger(__name__)

# Acrobits global/account parameters we can fill, plus our own additions (sms_id, dlr_url...).
TEMPLATE_VARIABLES = frozenset({
    "sms_to", "sms_body", "sms_from", "sms_id", "content_type", "disposition_notification",
    "smart", "require_dlr", "dlr_url", "stype", "account[username]", "account[password]",
})

_PLACEHOLDER = re.compile(r"%([a-z_]+(?:\[[a-z_]+\])?)%")
_ERROR_PREVIEW = 100   # seed 000: "takes first 100 characters of the raw response body"

# ---------------------------------------------------------------------------------------------
# Templates (pure)


def _percent(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _json_inside(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _json_outside(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _xml(value: str) -> str:
    return xml_escape(value, {'"': "&quot;", "'": "&apos;"})


def _raw(value: str) -> str:
    return value


@dataclass(frozen=True)
class Template:
    """A compiled template: literal text and ``(variable, escaper)`` slots, in order."""

    pieces: tuple[str | tuple[str, Callable[[str], str]], ...]

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p[0] for p in self.pieces if isinstance(p, tuple))

    def render(self, values: Mapping[str, str]) -> str:
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                name, escape = piece
                out.append(escape(values.get(name, "")))
        return "".join(out)


def _body_context(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return "form"
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media in ("text/xml", "application/xml") or media.endswith("+xml"):
        return "xml"
    return "raw"


def compile_template(text: str, context: str, *, where: str = "template") -> Template:
    """Split ``text`` into literals and placeholders escaped for ``context``.

    ``context`` is ``url`` (percent-encoding everywhere: path segments and query values),
    ``form``, ``json`` (tracks whether each placeholder stands inside a JSON string literal),
    ``xml`` or ``raw``. Raises ConfigError naming an unknown placeholder.
    """
    pieces: list[str | tuple[str, Callable[[str], str]]] = []
    in_string = False
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name not in TEMPLATE_VARIABLES:
            raise ConfigError(f"{where}: unknown placeholder %{name}% "
                              f"(known: {', '.join(sorted(TEMPLATE_VARIABLES))})")
        literal = text[pos:match.start()]
        if context == "json":
            in_string = _json_string_state(literal, in_string)
        pieces.append(literal)
        escape: Callable[[str], str]
        if context in ("url", "form"):
            escape = _percent
        elif context == "json":
            escape = _json_inside if in_string else _json_outside
        elif context == "xml":
            escape = _xml
        else:
            escape = _raw
        pieces.append((name, escape))
        pos = match.end()
    pieces.append(text[pos:])
    return Template(tuple(p for p in pieces if p != ""))


def _json_string_state(literal: str, in_string: bool) -> bool:
    """Whether we are inside a JSON string literal after scanning ``literal`` (RFC 8259 §7)."""
    escaped = False
    for char in literal:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


# ---------------------------------------------------------------------------------------------
# Judging the reply (pure)


def json_path(document: Any, path: str) -> Any:
    """Follow ``a.b.0.c`` through dicts and lists; ``None`` when any step is missing.

    A list met where a key is expected yields its first element's key, so ``data.id`` works for
    JSON:API's single ``data`` object and for a one-element ``data`` array alike.
    """
    current = document
    for step in path.split("."):
        if isinstance(current, list):
            if step.isdigit():
                index = int(step)
                current = current[index] if index < len(current) else None
                continue
            current = current[0] if current else None
        if isinstance(current, dict):
            current = current.get(step)
        else:
            return None
        if current is None:
            return None
    return current


def parse_status_ranges(spec: str) -> frozenset[int]:
    """``"408,429,500-599"`` -> the set of HTTP statuses; raises ConfigError on junk."""
    statuses: set[int] = set()
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        low, _, high = item.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ConfigError(f"tempfail_status: {item!r} is not a status or range") from None
        statuses.update(range(first, last + 1))
    return frozenset(statuses)


@dataclass(frozen=True)
class ResponseRules:
    success_regex: str = ""
    permfail_regex: str = ""
    tempfail_regex: str = ""
    success_json: str = ""                  # "path=value"
    id_json_path: str = ""
    id_regex: str = ""
    error_json_paths: tuple[str, ...] = ("message",)
    tempfail_statuses: frozenset[int] = field(
        default_factory=lambda: parse_status_ranges("408,425,429,500-599"))


@dataclass(frozen=True)
class Verdict:
    """How one provider reply was judged."""

    ok: bool
    provider_id: str = ""
    retryable: bool = False
    error: str = ""
    code: str = ""


def _error_text(body: str, document: Any, paths: tuple[str, ...]) -> str:
    for path in paths:
        value = json_path(document, path) if document is not None else None
        if isinstance(value, str | int | float) and str(value) != "":
            return str(value)
    return body.strip()[:_ERROR_PREVIEW]


def judge_response(status: int, body: str, rules: ResponseRules) -> Verdict:
    """Decide success / permanent / temporary failure for one reply, Kannel-generic style.

    Order: ``permfail_regex`` then ``tempfail_regex`` win over the status line (a provider that
    answers 200 with "ERR: no credit" is still a failure); then a non-2xx status is temporary if
    listed in ``tempfail_statuses`` (5xx, 408, 425, 429 by default) else permanent; a 2xx must
    also satisfy ``success_regex`` / ``success_json`` when set, else it is a permanent failure
    (retrying an answer we do not understand could send the message twice).
    """
    try:
        document: Any = json.loads(body) if body.strip()[:1] in ("{", "[") else None
    except ValueError:
        document = None
    code = f"HTTP {status}"
    if rules.permfail_regex and re.search(rules.permfail_regex, body):
        return Verdict(False, retryable=False, error=_error_text(body, document,
                                                                 rules.error_json_paths), code=code)
    if rules.tempfail_regex and re.search(rules.tempfail_regex, body):
        return Verdict(False, retryable=True, error=_error_text(body, document,
                                                                rules.error_json_paths), code=code)
    if not 200 <= status < 300:
        return Verdict(False, retryable=status in rules.tempfail_statuses,
                       error=_error_text(body, document, rules.error_json_paths) or code,
                       code=code)
    if rules.success_regex and not re.search(rules.success_regex, body):
        return Verdict(False, retryable=False, code=code,
                       error=_error_text(body, document, rules.error_json_paths))
    if rules.success_json:
        path, _, expected = rules.success_json.partition("=")
        actual = json_path(document, path) if document is not None else None
        if actual is None or str(actual) != expected:
            return Verdict(False, retryable=False, code=code,
                           error=_error_text(body, document, rules.error_json_paths))
    provider_id = ""
    if rules.id_json_path and document is not None:
        value = json_path(document, rules.id_json_path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            provider_id = str(value)
    if not provider_id and rules.id_regex:
        match = re.search(rules.id_regex, body)
        if match:
            provider_id = match.groupdict().get("id") or (match.group(1) if match.groups()
                                                           else match.group(0))
    return Verdict(True, provider_id=provider_id.strip(), code=code)


# ---------------------------------------------------------------------------------------------
# Configuration


_OPTION_NAMES = frozenset({
    "send_url", "post_data", "content_type", "method", "username", "password", "auth",
    "success_regex", "permfail_regex", "tempfail_regex", "success_json", "id_json_path",
    "id_regex", "error_json_path", "tempfail_status", "timeout", "sender", "stype",
    "require_dlr", "public_url", "dlr_url", "dlr_kind", "max_in_flight", "rate_limit", "preset",
})


@dataclass(frozen=True)
class HttpProviderConfig:
    """Everything an :class:`HttpTransport` needs, validated and compiled."""

    name: str
    url: Template
    body: Template | None
    method: str
    content_type: str
    username: str = ""
    password: str = ""
    basic_auth: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    rules: ResponseRules = field(default_factory=ResponseRules)
    timeout: float = 30.0
    sender: str = ""
    stype: str = ""
    require_dlr: str = ""        # "" = follow the message's request_status_report
    dlr_url: str = ""
    max_in_flight: int = 4
    rate_limit: float = 0.0
    log_url: str = ""            # scheme://host/path of the send URL, for logs (no secrets)


def _number(options: Mapping[str, str], key: str, default: float, where: str) -> float:
    raw = options.get(key, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{where}: {key} must not be negative")
    return value


def _regex(options: Mapping[str, str], key: str, where: str) -> str:
    pattern = options.get(key, "")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: {key} is not a valid regular expression: {exc}") from None
    return pattern


def dlr_webhook_url(public_url: str, kind: str, name: str, token: str = "") -> str:
    """Our delivery-report webhook for transport ``name`` (``ivr/api/provider_dlr.py``)."""
    url = f"{public_url.rstrip('/')}/dlr/{kind}/{urllib.parse.quote(name, safe='')}"
    return f"{url}?token={token}" if token else url


def from_dict(name: str, options: Mapping[str, str], *, public_url: str = "",
              dlr_token: str = "") -> HttpTransport:
    """Build a transport from a table of options (see the module docstring for the names).

    ``preset`` fills defaults from :data:`~ivr.sms.transports.http_presets.PRESETS`; then
    ``base_url`` is required instead of ``send_url``. ``public_url`` is how providers reach our
    HTTP API; it makes ``%dlr_url%`` point at ``/dlr/<kind>/<name>`` there.
    """
    return HttpTransport(build_config(name, options, public_url=public_url,
                                      dlr_token=dlr_token))


def build_config(name: str, options: Mapping[str, str], *,
                 public_url: str = "", dlr_token: str = "") -> HttpProviderConfig:
    where = f"transport {name!r}"
    merged: dict[str, str] = {}
    preset = options.get("preset", "")
    if preset:
        if preset not in PRESETS:
            raise ConfigError(f"{where}: unknown preset {preset!r} "
                              f"(known: {', '.join(sorted(PRESETS))})")
        merged.update(PRESETS[preset])
    base_url = options.get("base_url", "")
    headers: list[tuple[str, str]] = []
    for key, value in options.items():
        if key.startswith("header."):
            headers.append((key[len("header."):], value))
        elif key == "base_url":
            continue
        elif key not in _OPTION_NAMES:
            raise ConfigError(f"{where}: unknown option {key!r} "
                              f"(known: {', '.join(sorted(_OPTION_NAMES | {'base_url'}))})")
        else:
            merged[key] = value
    send_url = merged.get("send_url", "")
    if "%base_url%" in send_url:
        if not base_url:
            raise ConfigError(f"{where}: preset {preset!r} needs base_url (scheme://host[/path])")
        send_url = send_url.replace("%base_url%", base_url.rstrip("/")
                                    if preset != "acrobits-generic" else base_url)
    if not send_url:
        raise ConfigError(f"{where}: send_url is required")
    split = urllib.parse.urlsplit(send_url)
    if split.scheme not in ("http", "https") or not split.netloc:
        raise ConfigError(f"{where}: send_url must be an absolute http(s) URL, got {send_url!r}")
    post_data = merged.get("post_data", "")
    content_type = merged.get("content_type", "") or "application/x-www-form-urlencoded"
    method = (merged.get("method", "") or ("POST" if post_data else "GET")).upper()
    if method not in ("GET", "POST", "PUT"):
        raise ConfigError(f"{where}: method must be GET, POST or PUT, got {method!r}")
    auth = merged.get("auth", "none").lower()
    if auth not in ("none", "basic"):
        raise ConfigError(f"{where}: auth must be none or basic, got {auth!r}")
    dlr_url = merged.get("dlr_url", "")
    public = merged.get("public_url", "") or public_url
    if not dlr_url and public:
        dlr_url = dlr_webhook_url(public, merged.get("dlr_kind", "http"), name)
    if dlr_url and dlr_token and "token=" not in dlr_url:
        # ivr's webhook refuses reports without it (anyone could mark messages delivered)
        dlr_url += ("&" if "?" in dlr_url else "?") + f"token={dlr_token}"
    rules = ResponseRules(
        success_regex=_regex(merged, "success_regex", where),
        permfail_regex=_regex(merged, "permfail_regex", where),
        tempfail_regex=_regex(merged, "tempfail_regex", where),
        success_json=merged.get("success_json", ""),
        # without a preset, Acrobits semantics (seed 000): an optional "sms_id" in a 2xx body
        id_json_path=merged.get("id_json_path", "" if preset else "sms_id"),
        id_regex=_regex(merged, "id_regex", where),
        error_json_paths=tuple(p.strip() for p in
                               merged.get("error_json_path", "message").split(",") if p.strip()),
        tempfail_statuses=parse_status_ranges(merged.get("tempfail_status",
                                                         "408,425,429,500-599")),
    )
    require_dlr = merged.get("require_dlr", "")
    if require_dlr not in ("", "0", "1"):
        raise ConfigError(f"{where}: require_dlr must be 0 or 1, got {require_dlr!r}")
    return HttpProviderConfig(
        name=name,
        url=compile_template(send_url, "url", where=f"{where} send_url"),
        body=(compile_template(post_data, _body_context(content_type), where=f"{where} post_data")
              if post_data else None),
        method=method,
        content_type=content_type,
        username=merged.get("username", ""),
        password=merged.get("password", ""),
        basic_auth=auth == "basic",
        headers=tuple(headers),
        rules=rules,
        timeout=_number(merged, "timeout", 30.0, where) or 30.0,
        sender=merged.get("sender", ""),
        stype=merged.get("stype", ""),
        require_dlr=require_dlr,
        dlr_url=dlr_url,
        max_in_flight=max(1, int(_number(merged, "max_in_flight", 4, where))),
        rate_limit=_number(merged, "rate_limit", 0.0, where),
        log_url=urllib.parse.urlunsplit((split.scheme, split.hostname or "", split.path, "", "")),
    )


def _url_options(text: str) -> dict[str, str]:
    return {k: v for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True)}


def from_url(name: str, url: str, *, public_url: str = "",
             dlr_token: str = "") -> HttpTransport:
    """Build a transport from one URL: ``http(s)://`` template or ``http(s)+<preset>://``."""
    return HttpTransport(config_from_url(name, url, public_url=public_url,
                                         dlr_token=dlr_token))


def config_from_url(name: str, url: str, *, public_url: str = "",
                    dlr_token: str = "") -> HttpProviderConfig:
    where = f"transport {name!r}"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"{where}: {url!r} is not a URL")
    base_scheme, _, preset = scheme.lower().partition("+")
    if base_scheme not in ("http", "https"):
        raise ConfigError(f"{where}: scheme must be http, https, http+<preset> or "
                          f"https+<preset>, got {scheme!r}")
    rest, _, fragment = rest.partition("#")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path_query = rest[:cut], rest[cut:]
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        userinfo, hostport = "", authority
    user, _, password = userinfo.partition(":")
    if not hostport:
        raise ConfigError(f"{where}: {url!r} has no host")
    options = _url_options(fragment)
    if user:
        options.setdefault("username", urllib.parse.unquote(user))
        options.setdefault("password", urllib.parse.unquote(password))
    if preset:
        path, _, query = path_query.partition("?")
        options.update({k: v for k, v in _url_options(query).items() if k not in options})
        options["preset"] = preset
        if preset not in PRESETS:
            raise ConfigError(f"{where}: unknown preset {preset!r} "
                              f"(known: {', '.join(sorted(PRESETS))})")
        if not path or path == "/":
            path = DEFAULT_PATHS[preset]
        options["base_url"] = f"{base_scheme}://{hostport}{path}"
    else:
        options["send_url"] = f"{base_scheme}://{hostport}{path_query}"
    return build_config(name, options, public_url=public_url, dlr_token=dlr_token)


# ---------------------------------------------------------------------------------------------
# The transport (I/O)


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
