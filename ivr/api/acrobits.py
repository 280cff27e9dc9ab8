"""Acrobits "Send Message" web service target (seed 000): ``/send_message/``.

An Acrobits softphone configured with ``genericSmsSendUrl`` / ``genericSmsSendPostData`` /
``genericSmsContentType`` calls this once per recipient. Accepted exactly as the document's
examples send it: GET query, POST form or POST JSON; ``from`` + ``password`` authenticate the
account; the recipient is ``sms_to`` (the example requests) or ``to`` (the example templates),
the text ``sms_body`` or ``body``. ``content_type`` and ``disposition_notification`` are
stored with the message (the document says the server should, for Fetch Messages).

Answers (document "Response"): 2xx ``{"sms_id": "…"}``; otherwise a JSON ``{"message": "…"}``
the app shows to the user — 401 bad account, 406 invalid recipient (the document's example),
400 another bad parameter, 403 no permission, 429 rate limited.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
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

__all__ = ["AcrobitsSend", "CONTENT_TYPES", "OPENAPI_PATHS", "make_blueprint",
           "parse_send_request"]

log = logging.getLogger(__name__)

# seed 000 "content_type": text, media (file transfer) and IMDN disposition notifications
CONTENT_TYPES = frozenset({"text/plain", "application/x-acro-filetransfer+json",
                           "application/x-acro-disposition-notification"})
MAX_BODY_BYTES = 64 * 1024


class AcrobitsError(Exception):
    """A request the Acrobits app will show as ``message`` with HTTP ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class AcrobitsSend:
    username: str
    password: str
    to: str
    body: str
    content_type: str = "text/plain"
    disposition_notification: str = ""
    smart: bool = False


def _params(method: str, content_type: str, query: str, body: bytes) -> dict[str, str]:
    params: dict[str, str] = dict(parse_qsl(query, keep_blank_values=True))
    if method != "POST" or not body:
        return params
    media = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", errors="strict")
    if media == "application/json":
        try:
            document = json.loads(text)
        except ValueError:
            raise AcrobitsError(400, "Request body is not valid JSON") from None
        if not isinstance(document, dict):
            raise AcrobitsError(400, "Request body must be a JSON object")
        params.update({str(k): "" if v is None else str(v) for k, v in document.items()})
    else:
        # genericSmsContentType defaults to application/x-www-form-urlencoded (seed 000)
        params.update(dict(parse_qsl(text, keep_blank_values=True)))
    return params


def parse_send_request(method: str, content_type: str, query: str,
                       body: bytes) -> AcrobitsSend:
    """Parse one Send Message call; raises AcrobitsError(status, message)."""
    if len(body) > MAX_BODY_BYTES:
        raise AcrobitsError(413, "Request too large")
    try:
        params = _params(method, content_type, query, body)
    except UnicodeDecodeError:
        raise AcrobitsError(400, "Request body is not UTF-8") from None
    username = params.get("from", "") or params.get("username", "")
    password = params.get("password", "")
    if not username or not password:
        raise AcrobitsError(401, "Missing account credentials (from, password)")
    to = (params.get("sms_to") or params.get("to") or "").strip()
    if not to:
        raise AcrobitsError(406, "Invalid recipient")
    text = params.get("sms_body", params.get("body", ""))
    ctype = params.get("content_type", "") or "text/plain"
    if ctype not in CONTENT_TYPES:
        raise AcrobitsError(400, f"Unsupported content_type {ctype!r}")
    if not text and ctype == "text/plain":
        raise AcrobitsError(400, "Empty message body")
    return AcrobitsSend(username=username, password=password, to=to, body=text,
                        content_type=ctype,
                        disposition_notification=params.get("disposition_notification", ""),
                        smart=params.get("smart", "") == "1")


def _answer(status: int, document: Mapping[str, str]) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")


def _auth_error(exc: AuthError) -> AcrobitsError:
    if exc.reason in ("rate_limited", "over_limit"):
        return AcrobitsError(429, "Too many requests, try again later")
    if exc.reason in ("forbidden", "not_permitted"):
        return AcrobitsError(403, "This account may not send messages")
    return AcrobitsError(401, "Invalid username or password")


def make_blueprint(services: ApiServices) -> Blueprint:
    """``/send_message/`` (and without the trailing slash) for GET and POST."""
    bp = Blueprint("acrobits", __name__)
    limiter = services.rate_limiter

    def send_message() -> Response:
        try:
            send = parse_send_request(request.method, request.content_type or "",
                                      request.query_string.decode("latin-1"),
                                      request.get_data(cache=False))
            try:
                user = authorize(services, limiter, send.username, send.password,
                                 current_client(), "sms")
            except AuthError as exc:
                log.info("acrobits: refused %r: %s", send.username, exc.reason)
                raise _auth_error(exc) from None
            try:
                message = services.sms.submit(SmsRequest(
                    recipient=send.to, body=send.body, owner=user.name,
                    content_type=send.content_type,
                    disposition_notification=send.disposition_notification,
                    source="api:acrobits"), log_to=access_log())
            except ValidationError as exc:
                if exc.param.lower() in ("recipient", "to", "sms_to"):
                    raise AcrobitsError(406, "Invalid recipient") from None
                raise AcrobitsError(400, exc.message) from None
            except SmsError as exc:
                raise AcrobitsError(400, str(exc)) from None
        except AcrobitsError as exc:
            return _answer(exc.status, {"message": exc.message})
        return _answer(200, {"sms_id": message.id})

    for rule in ("/send_message/", "/send_message"):
        bp.add_url_rule(rule, f"send_message{len(rule)}", send_message,
                        methods=["GET", "POST"], strict_slashes=False)
    return bp


_PARAMS = ("from", "password", "sms_to", "sms_body", "to", "body", "content_type",
           "disposition_notification", "smart")

OPENAPI_PATHS: dict[str, Any] = {
    "/send_message/": {
        "get": {"summary": "Acrobits Send Message (seed 000), GET query",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in _PARAMS],
                "responses": {"200": {"description": '{"sms_id": "..."}'},
                              "401": {"description": '{"message": "..."}'},
                              "406": {"description": '{"message": "Invalid recipient"}'}}},
        "post": {"summary": "Acrobits Send Message, form or JSON body",
                 "requestBody": {"content": {
                     ct: {"schema": {"type": "object", "properties": {
                         n: {"type": "string"} for n in _PARAMS}}}
                     for ct in ("application/x-www-form-urlencoded", "application/json")}},
                 "responses": {"200": {"description": '{"sms_id": "..."}'},
                               "400": {"description": '{"message": "..."}'},
                               "401": {"description": '{"message": "..."}'},
                               "406": {"description": '{"message": "Invalid recipient"}'}}},
    },
}
