"""Enswitch JSON API ``messages/text/send`` (seed 002): ``/api/json/messages/text/send/``.

Parameters are separated by ``;`` (the document's examples) or ``&``, in the query string
(GET) or a form body (POST). Percent escapes that are not valid (the example's
``an%example``) are kept literally, as a lenient server must to accept the example verbatim.

Answer body: ``{"responses":[{"code":"204","key":"","message":"OK"}]}``. The document lists
the codes 204/400/401/402/403; the HTTP status is 200 for 204 (a 204 status could not carry
the body) and equals the code otherwise, so clients that only look at the status line work
too. 400 names the bad field in ``key``.

Attachments ``filenameX``/``fileX`` (X from 1, base64) are decoded, size-limited and stored
with the message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from flask import Blueprint, Response, request

from ivr.api.app import access_log
from ivr.api.auth import authorize
from ivr.api.client import current_client
from ivr.api.services import ApiServices
from ivr.call import SmsRequest
from ivr.errors import AuthError, SmsError, ValidationError

__all__ = ["EnswitchError", "EnswitchSend", "MAX_ATTACHMENT_BYTES", "MAX_ATTACHMENTS",
           "OPENAPI_PATHS", "make_blueprint", "parse_send_request", "render", "split_params"]

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 1024 * 1024     # per file, after base64 decoding
MAX_ATTACHMENTS = 10
MAX_REQUEST_BYTES = 16 * 1024 * 1024


class EnswitchError(Exception):
    def __init__(self, code: str, key: str, message: str) -> None:
        super().__init__(message)
        self.code, self.key, self.message = code, key, message


@dataclass(frozen=True)
class EnswitchSend:
    username: str
    password: str
    cnumber: str
    message: str
    stype: str
    snumber: str
    customer: str
    attachments: tuple[tuple[str, bytes], ...]


def split_params(text: str) -> list[tuple[str, str]]:
    """``a=1;b=2&c=3`` -> pairs; ``+`` is a space and bad escapes stay as they are."""
    pairs: list[tuple[str, str]] = []
    for chunk in text.replace(";", "&").split("&"):
        if not chunk:
            continue
        key, _, value = chunk.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def parse_send_request(pairs: Sequence[tuple[str, str]]) -> EnswitchSend:
    """Validate the parameters; raises EnswitchError("400", key, message)."""
    params: dict[str, str] = {}
    for key, value in pairs:
        params.setdefault(key, value)
    if not params.get("auth_username") or not params.get("auth_password"):
        raise EnswitchError("401", "", "The authentication details provided are invalid.")
    for key in ("cnumber", "message", "snumber"):
        if not params.get(key, "").strip():
            raise EnswitchError("400", key, f"The {key} parameter is required.")
    stype = params.get("stype", "")
    if stype not in ("", "phone"):
        raise EnswitchError("400", "stype", 'stype must be "phone" or an empty string.')
    customer = params.get("customer", "")
    if customer and not customer.isdigit():
        raise EnswitchError("400", "customer", "customer must be an integer.")
    return EnswitchSend(username=params["auth_username"], password=params["auth_password"],
                        cnumber=params["cnumber"].strip(), message=params["message"],
                        stype=stype, snumber=params["snumber"].strip(), customer=customer,
                        attachments=_attachments(params))


def _attachments(params: Mapping[str, str]) -> tuple[tuple[str, bytes], ...]:
    files: list[tuple[str, bytes]] = []
    numbers = sorted({int(k[len(p):]) for k in params for p in ("filename", "file")
                      if k.startswith(p) and k[len(p):].isdigit()})
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        raise EnswitchError("400", f"file{numbers[0]}", "Files must be numbered from 1.")
    if len(numbers) > MAX_ATTACHMENTS:
        raise EnswitchError("400", f"file{MAX_ATTACHMENTS + 1}",
                            f"At most {MAX_ATTACHMENTS} files may be attached.")
    for index in numbers:
        name = params.get(f"filename{index}", "").strip()
        data = params.get(f"file{index}", "")
        if not name:
            raise EnswitchError("400", f"filename{index}", f"filename{index} is required.")
        if not data:
            raise EnswitchError("400", f"file{index}", f"file{index} is required.")
        if len(data) > MAX_ATTACHMENT_BYTES * 4 // 3 + 4:
            raise EnswitchError("400", f"file{index}", "File too large.")
        try:
            # "+" in base64 arrives as a space when the client did not escape it
            decoded = base64.b64decode(data.replace(" ", "+"), validate=True)
        except (binascii.Error, ValueError):
            raise EnswitchError("400", f"file{index}", "File is not valid base64.") from None
        if len(decoded) > MAX_ATTACHMENT_BYTES:
            raise EnswitchError("400", f"file{index}", "File too large.")
        files.append((name, decoded))
    return tuple(files)


def render(code: str, key: str = "", message: str = "OK") -> Response:
    status = 200 if code == "204" else int(code)
    body = {"responses": [{"code": code, "key": key, "message": message}]}
    return Response(json.dumps(body), status=status, content_type="application/json")


def _auth_error(exc: AuthError) -> EnswitchError:
    if exc.reason in ("forbidden", "not_permitted"):
        return EnswitchError("402", "", "Your role does not allow this.")
    if exc.reason in ("rate_limited", "over_limit"):
        return EnswitchError("403", "", "Your rate plan does not allow this.")
    return EnswitchError("401", "", "The authentication details provided are invalid.")


_SERVICE_KEYS = {"recipient": "cnumber", "message": "message", "sender": "snumber",
                 "attachments": "file1"}


def make_blueprint(services: ApiServices) -> Blueprint:
    """``/api/json/messages/text/send/`` for GET and POST."""
    bp = Blueprint("enswitch", __name__)
    limiter = services.rate_limiter

    def send() -> Response:
        if request.content_length and request.content_length > MAX_REQUEST_BYTES:
            return render("400", "", "Request too large.")
        pairs = split_params(request.query_string.decode("latin-1"))
        if request.method == "POST":
            if request.mimetype == "multipart/form-data":
                pairs += list(request.form.items(multi=True))
            else:
                pairs += split_params(request.get_data(as_text=True))
        try:
            params = parse_send_request(pairs)
            try:
                user = authorize(services, limiter, params.username, params.password,
                                 current_client(), "sms")
            except AuthError as exc:
                log.info("enswitch: refused %r: %s", params.username, exc.reason)
                raise _auth_error(exc) from None
            try:
                services.sms.submit(SmsRequest(
                    recipient=params.cnumber, body=params.message, sender=params.snumber,
                    owner=user.name, attachments=params.attachments, source="api:enswitch",
                    meta={"stype": params.stype, "customer": params.customer}),
                    log_to=access_log())
            except ValidationError as exc:
                raise EnswitchError("400", _SERVICE_KEYS.get(exc.param.lower(), exc.param),
                                    exc.message) from None
            except SmsError as exc:
                raise EnswitchError("400", "", str(exc)) from None
        except EnswitchError as exc:
            return render(exc.code, exc.key, exc.message)
        return render("204")

    bp.add_url_rule("/api/json/messages/text/send/", "send", send, methods=["GET", "POST"],
                    strict_slashes=False)
    return bp


_ARGS = ("auth_username", "auth_password", "cnumber", "message", "stype", "snumber",
         "customer", "filename1", "file1")

OPENAPI_PATHS: dict[str, Any] = {
    "/api/json/messages/text/send/": {
        method: {"summary": "Enswitch messages/text/send (seed 002); ';' or '&' separated",
                 "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                                for n in _ARGS],
                 "responses": {"200": {"description": 'responses[0].code "204"'},
                               "400": {"description": "Invalid input; key names the field"},
                               "401": {"description": "Bad authentication details"},
                               "402": {"description": "Role does not allow this"},
                               "403": {"description": "Rate plan does not allow this"}}}
        for method in ("get", "post")
    },
}
