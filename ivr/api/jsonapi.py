"""HTTP API message (seed 001): ``POST /api/message`` answering in JSON:API format.

Arguments come from the query string (the document's examples put everything there, even on
POST) and/or a form body. ``destination_number`` may repeat; ``body``, ``require_dlr`` and
``request_id`` pair with it by position (one value given once applies to every number).
``stealth_ping=1`` sends a silent SMS (TP-PID 0x40, ``SmsRequest.silent``); a route that
cannot send one makes the service refuse it and the client gets a clear error.

The response holds either ``data`` (an object for one number, an array for several) or
``errors`` — never both (document "Returned data"). ``meta.request_id`` echoes the client's
``request_id``, or the 1-based position when none was passed, as the document's examples show.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, request

from ivr.api.app import access_log
from ivr.api.auth import authorize
from ivr.api.client import current_client
from ivr.api.services import ApiServices
from ivr.call import SmsRequest
from ivr.errors import AuthError, SmsError, ValidationError
from ivr.sms.message import Message

__all__ = ["JsonApiError", "JsonApiSend", "MEDIA_TYPE", "OPENAPI_PATHS", "Recipient",
           "make_blueprint", "parse_message_request", "render_data", "render_errors"]

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.api+json"   # JSON:API 1.0 §5.1
MAX_RECIPIENTS = 100


class JsonApiError(Exception):
    """One JSON:API error object plus the HTTP status to send it with."""

    def __init__(self, status: int, code: str, detail: str, title: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.title = status, code, detail, title


@dataclass(frozen=True)
class Recipient:
    number: str
    body: str
    require_dlr: bool
    request_id: str


@dataclass(frozen=True)
class JsonApiSend:
    login: str
    password: str
    source_name: str
    source_number: str
    stealth_ping: bool
    recipients: tuple[Recipient, ...]


def _flag(value: str, name: str) -> bool:
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise JsonApiError(400, "invalid_parameter", f"{name} must be 0 or 1, got {value!r}",
                       "Invalid parameter")


def _pick(values: Sequence[str], index: int) -> str:
    if len(values) == 1:
        return values[0]
    return values[index] if index < len(values) else ""


def parse_message_request(pairs: Sequence[tuple[str, str]]) -> JsonApiSend:
    """Parse the arguments (query + form, in order); raises JsonApiError."""
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key, []).append(value)

    def one(name: str) -> str:
        return (params.get(name) or [""])[0]

    if not one("_login") or not one("_password"):
        raise JsonApiError(401, "authentication", "Please check your login and password",
                           "Authentication error")
    numbers = [n.strip() for n in params.get("destination_number", [])]
    if not numbers or not all(numbers):
        raise JsonApiError(400, "destination_number", "destination_number is required",
                           "Missing parameter")
    if len(numbers) > MAX_RECIPIENTS:
        raise JsonApiError(400, "destination_number",
                           f"at most {MAX_RECIPIENTS} destination_number values per request",
                           "Too many recipients")
    bodies = params.get("body", [])
    dlrs = params.get("require_dlr", [])
    request_ids = params.get("request_id", [])
    recipients = tuple(
        Recipient(number=number, body=_pick(bodies, i),
                  require_dlr=_flag(_pick(dlrs, i), "require_dlr"),
                  request_id=(request_ids[i] if i < len(request_ids) and request_ids[i]
                              else str(i + 1)))
        for i, number in enumerate(numbers))
    return JsonApiSend(login=one("_login"), password=one("_password"),
                       source_name=one("source_name"), source_number=one("source_number"),
                       stealth_ping=_flag(one("stealth_ping"), "stealth_ping"),
                       recipients=recipients)


def _resource(message: Message | None, recipient: Recipient, error_id: str) -> dict[str, Any]:
    return {
        "attributes": {
            "destination_number": recipient.number,
            "segments": message.segments if message is not None else 0,
            "status": "ok" if message is not None else "error",
        },
        "id": message.id if message is not None else error_id,
        "meta": {"request_id": recipient.request_id},
        "type": "message",
    }


def render_data(results: Sequence[tuple[Recipient, Message | None]]) -> dict[str, Any]:
    """``data``: an object for one number, an array for several (document "Returned data")."""
    items = [_resource(m, r, f"error-{i + 1}") for i, (r, m) in enumerate(results)]
    return {"data": items[0] if len(items) == 1 else items}


def render_errors(errors: Sequence[JsonApiError]) -> dict[str, Any]:
    return {"errors": [{"code": e.code, "detail": e.detail, "title": e.title} for e in errors]}


def _answer(status: int, document: dict[str, Any]) -> Response:
    return Response(json.dumps(document), status=status, content_type=MEDIA_TYPE)


def _auth_error(exc: AuthError) -> JsonApiError:
    if exc.reason in ("rate_limited", "over_limit"):
        return JsonApiError(429, "rate_limited", "Too many requests, try again later",
                            "Rate limited")
    if exc.reason in ("forbidden", "not_permitted"):
        return JsonApiError(403, "forbidden", "This account may not send messages",
                            "Forbidden")
    return JsonApiError(401, "authentication", "Please check your login and password",
                        "Authentication error")


def _validation(exc: ValidationError) -> JsonApiError:
    name = {"recipient": "destination_number", "sender": "source_number", "message": "body",
            "silent": "stealth_ping"}.get(exc.param.lower(), exc.param)
    return JsonApiError(400, name, exc.message, "Invalid parameter")


def _silent_refusal(services: ApiServices, number: str, sender: str) -> JsonApiError | None:
    """A clear error when the route for ``number`` cannot send a silent SMS.

    A transport declares the ability with ``supports_silent = True`` (Type-0 SMS, TP-PID 0x40,
    3GPP TS 23.040 §9.2.3.9: a modem in PDU mode or an SMSC via SMPP ``protocol_id``); HTTP
    providers of the seeds have no such parameter, so their messages would arrive visible.
    """
    try:
        name = services.sms.router.route(number, sender)
    except Exception as exc:  # no route: submit() reports it with the parameter name
        log.debug("jsonapi: no route for %s: %s", number, exc)
        return None
    transport = services.sms.transports.get(name)
    if getattr(transport, "supports_silent", False):
        return None
    return JsonApiError(400, "stealth_ping",
                        f"The route for {number} ({name}) cannot send a silent SMS",
                        "Silent SMS not supported")


def make_blueprint(services: ApiServices) -> Blueprint:
    """``POST /api/message``."""
    bp = Blueprint("jsonapi", __name__)
    limiter = services.rate_limiter

    def message() -> Response:
        pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        if request.mimetype == "application/x-www-form-urlencoded":
            pairs += parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
        try:
            send = parse_message_request(pairs)
            try:
                user = authorize(services, limiter, send.login, send.password,
                                 current_client(), "sms", len(send.recipients))
            except AuthError as exc:
                log.info("jsonapi: refused %r: %s", send.login, exc.reason)
                raise _auth_error(exc) from None
        except JsonApiError as exc:
            return _answer(exc.status, render_errors([exc]))
        results: list[tuple[Recipient, Message | None]] = []
        failures: list[JsonApiError] = []
        for recipient in send.recipients:
            if send.stealth_ping:
                refusal = _silent_refusal(services, recipient.number,
                                          send.source_number or send.source_name)
                if refusal is not None:
                    failures.append(refusal)
                    results.append((recipient, None))
                    continue
            try:
                accepted = services.sms.submit(SmsRequest(
                    recipient=recipient.number, body=recipient.body,
                    sender=send.source_number or send.source_name, owner=user.name,
                    client_ref=recipient.request_id,
                    request_status_report=recipient.require_dlr,
                    silent=send.stealth_ping, source="api:jsonapi"), log_to=access_log())
            except ValidationError as exc:
                failures.append(_validation(exc))
                results.append((recipient, None))
                continue
            except SmsError as exc:
                failures.append(JsonApiError(400, "message", str(exc), "Message refused"))
                results.append((recipient, None))
                continue
            results.append((recipient, accepted))
        if len(send.recipients) == 1 and failures:
            return _answer(failures[0].status, render_errors(failures))
        if failures and len(failures) == len(send.recipients):
            return _answer(400, render_errors(failures))
        return _answer(200, render_data(results))

    bp.add_url_rule("/api/message", "message", message, methods=["POST"])
    return bp


_ARGS = ("_login", "_password", "destination_number", "body", "source_name", "source_number",
         "require_dlr", "stealth_ping", "request_id")

OPENAPI_PATHS: dict[str, Any] = {
    "/api/message": {
        "post": {
            "summary": "Send a message to one or more destination_number (seed 001)",
            "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                           for n in _ARGS],
            "responses": {"200": {"description": "JSON:API data (object or array)"},
                          "400": {"description": "JSON:API errors"},
                          "401": {"description": "JSON:API errors (authentication)"}},
        },
    },
}
