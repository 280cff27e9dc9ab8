"""Configuration of the HTTP provider transport: options from a table or from one URL,
validated and compiled into an :class:`HttpProviderConfig` (the option names are listed in
``ivr/sms/transports/http.py``'s docstring).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.errors import ConfigError
from ivr.sms.transports.http_presets import DEFAULT_PATHS, PRESETS
from ivr.sms.transports.http_response import ResponseRules, parse_status_ranges
from ivr.sms.transports.http_template import Template, body_context, compile_template

__all__ = ["HttpProviderConfig", "build_config", "config_from_url", "dlr_webhook_url"]


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
        body=(compile_template(post_data, body_context(content_type), where=f"{where} post_data")
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
