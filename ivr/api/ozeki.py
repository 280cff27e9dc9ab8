"""Ozeki Phone System's HTTP command API: ``/api?command=SendSms&Username=…`` (seed 004).

GET query or POST form; parameter names and the command value are case-insensitive; both
``DeliveryReportURL`` and Ozeki 10's ``DelivaryReportURL`` are accepted. Results use Ozeki's
status codes and message templates (ivr/api/render.py), as XML (default) or JSON
(``format=json`` or ``Accept: application/json``). The view only parses, authenticates, calls
a service and renders.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, request

from ivr.api import ozeki_calls
from ivr.api.app import access_log
from ivr.api.auth import authorize
from ivr.api.client import current_client
from ivr.api.render import OzekiResult, error, render_json, render_xml
from ivr.api.services import ApiServices
from ivr.call import SmsRequest
from ivr.errors import AuthError, SmsError, ValidationError
from ivr.sms.message import Message, Status

__all__ = ["COMMANDS", "OPENAPI_PATHS", "delivery_report_params", "make_blueprint",
           "split_recipients"]

log = logging.getLogger(__name__)

COMMANDS = ("SendSms", "ListActiveCalls", "Hangup", "SendDTMF", "Speak",
            "Play") + ozeki_calls.COMMANDS
_RECIPIENT = re.compile(r"^\+?[0-9][0-9 ()\-./]{1,30}$")
_DELIVERY_STATUS = {Status.DELIVERED: "Delivered", Status.UNDELIVERED: "Undelivered",
                    Status.FAILED: "Failed", Status.SENT: "Sent"}


def _iso(when: dt.datetime | None) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else ""


def delivery_report_params(message: Message, status: Status) -> dict[str, str]:
    """Parameters of the SMSDeliveryReport request sent to a DeliveryReportURL.

    Ozeki documents the notification name and SmsId; the rest follows Ozeki's own names where
    they exist (Recipient, Sender) and is documented in docs/http-api.md. Only final statuses
    are reported, as Ozeki reports the delivery report, not the submission.
    """
    if status not in (Status.DELIVERED, Status.UNDELIVERED, Status.FAILED):
        return {}
    params = {
        "NotificationName": "SMSDeliveryReport",
        "SmsId": message.id,
        "Recipient": message.recipient,
        "Sender": message.sender,
        "DeliveryStatus": _DELIVERY_STATUS[status],
        "DeliveryTime": _iso(message.delivered_at or message.updated_at),
        "SubmitTime": _iso(message.sent_at),
        "Segments": str(message.segments),
        "ErrorCode": str(message.error_code or ""),
        "ErrorMessage": message.error_message,
    }
    return params


def split_recipients(raw: str) -> list[str]:
    """``+1 555 0100, +1 555 0101;+1555…`` → one entry per recipient (order kept)."""
    return [part.strip() for part in re.split(r"[,;]", raw) if part.strip()]


def _params() -> dict[str, str]:
    """Query and form merged, names lower-cased (the form wins on a clash).

    A request without a Content-Type has no form to parse (Werkzeug would still wrap the
    input stream to find that out), which is every GET.
    """
    merged = {key.lower(): value for key, value in request.args.items()}
    if request.want_form_data_parsed:
        merged.update({key.lower(): value for key, value in request.form.items()})
    return merged


def _wants_json(params: Mapping[str, str]) -> bool:
    if params.get("format", "").lower() == "json":
        return True
    if "Accept" not in request.headers:     # no preference: XML, without parsing anything
        return False
    best = request.accept_mimetypes.best_match(["application/xml", "application/json"])
    return best == "application/json" and request.accept_mimetypes["application/json"] > \
        request.accept_mimetypes["application/xml"]


def _respond(result: OzekiResult, as_json: bool) -> Response:
    if as_json:
        return Response(render_json(result), status=result.http_status,
                        mimetype="application/json")
    return Response(render_xml(result), status=result.http_status,
                    content_type="application/xml; charset=utf-8")


class _Failure(Exception):
    def __init__(self, result: OzekiResult) -> None:
        super().__init__(result.message)
        self.result = result


def make_blueprint(services: ApiServices) -> Blueprint:
    bp = Blueprint("ozeki", __name__)
    limiter = services.rate_limiter

    def authenticate(command: str, params: Mapping[str, str], permission: str,
                     cost: int = 1) -> Any:
        name, password = params.get("username", ""), params.get("password", "")
        if not name or not password:
            raise _Failure(error(command, 304))
        try:
            return authorize(services, limiter, name, password, current_client(), permission,
                             cost)
        except AuthError as exc:
            if exc.reason == "forbidden":
                raise _Failure(error(command, 307, detail=str(exc))) from None
            if exc.reason == "rate_limited":
                raise _Failure(error(command, 429, "?", name, detail=str(exc),
                                     http_status=429)) from None
            if exc.reason == "not_permitted":
                raise _Failure(error(command, 306, detail=str(exc))) from None
            if exc.reason == "over_limit":
                raise _Failure(error(command, 429, str(exc.limit), name,
                                     http_status=429)) from None
            raise _Failure(error(command, 305)) from None

    def send_sms(params: Mapping[str, str]) -> OzekiResult:
        named = split_recipients(params.get("recipient", ""))
        cap = services.settings.http.max_recipients
        # Every recipient is one message: each costs one token of the user's rate.
        charged = max(1, min(len(named), cap))
        user = authenticate("SendSms", params, "sms", charged)
        recipients = ozeki_calls.expand_recipients(  # contact and list names (issue 15)
            services, named)
        body = params.get("message", "")
        if not recipients:
            raise _Failure(error("SendSms", 302, "Recipient", "SendSms"))
        if len(recipients) > cap:
            raise _Failure(error("SendSms", 302, "Recipient", "SendSms",
                                 detail=f"{len(recipients)} recipients; at most {cap} per "
                                        "request ([http] max_recipients)"))
        if len(recipients) > charged and not limiter.allow(   # a list name's other members
                user.name, user.rate_limit_per_minute, len(recipients) - charged):
            raise _Failure(error("SendSms", 429, str(user.rate_limit_per_minute or
                                                     limiter.default_per_minute), user.name,
                                 http_status=429))
        if not body:
            raise _Failure(error("SendSms", 302, "Message", "SendSms"))
        for recipient in recipients:
            if not _RECIPIENT.match(recipient):
                raise _Failure(error("SendSms", 302, "Recipient", "SendSms",
                                     detail=f"{recipient!r} is not a phone number"))
        report_url = params.get("deliveryreporturl") or params.get("delivaryreporturl") or ""
        parts = urlsplit(report_url)
        if report_url and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise _Failure(error("SendSms", 302, "DeliveryReportURL", "SendSms",
                                 detail="expected an http:// or https:// URL"))
        ids: list[tuple[str, str]] = []
        for recipient in recipients:
            try:
                message = services.sms.submit(SmsRequest(
                    recipient=recipient, body=body, sender=params.get("sender", ""),
                    callback_url=report_url, callback_method=services.settings.ozml.delivery_report_method, callback_format="ozeki",
                    owner=user.name, source="api:ozeki"), log_to=access_log())
            except ValidationError as exc:
                detail = exc.message + (f"; accepted before it: {', '.join(i for _, i in ids)}"
                                        if ids else "")
                param = "DeliveryReportURL" if exc.param == "CallbackUrl" else exc.param
                raise _Failure(error("SendSms", 302, param, "SendSms",
                                     detail=detail)) from None
            except SmsError as exc:
                raise _Failure(error("SendSms", 501, detail=str(exc))) from None
            ids.append(("SmsId", message.id))   # its acceptance is in the access line
        return OzekiResult("SendSms", fields=ids)

    def call_control(command: str, params: Mapping[str, str]) -> OzekiResult:
        authenticate(command, params, "calls")
        calls = services.calls
        if calls is None:
            raise _Failure(error(command, 303, command,
                                 detail="the SIP side is not running in this process"))
        if command == "ListActiveCalls":
            return OzekiResult(command, calls=[_call_info(c) for c in calls.list_calls()])
        call_id = params.get("callid", "")
        if not call_id:
            raise _Failure(error(command, 302, "CallId", command))
        actions: dict[str, tuple[str, Callable[[str, str], bool] | None]] = {
            "Hangup": ("", None), "SendDTMF": ("keys", calls.send_dtmf),
            "Speak": ("text", calls.speak), "Play": ("audiofile", calls.play)}
        name, action = actions[command]
        value = params.get(name, "") or (params.get("url", "") if command == "Play" else "")
        if name and not value:
            raise _Failure(error(command, 302, {"keys": "Keys", "text": "Text",
                                                "audiofile": "AudioFile"}[name], command))
        try:
            done = calls.hangup(call_id) if action is None else action(call_id, value)
        except KeyError:
            raise _Failure(error(command, 601, call_id)) from None
        if not done:
            raise _Failure(error(command, 303, command, detail="the call refused it"))
        return OzekiResult(command)

    @bp.route("/api", methods=["GET", "POST"])
    @bp.route("/", methods=["GET", "POST"])
    def api() -> Response:
        try:
            params = _params()
        except UnicodeDecodeError as exc:  # undecodable form body: Ozeki's 300
            return _respond(error("", 300, str(exc)), False)
        as_json = _wants_json(params)
        raw = params.get("command", "")
        command = next((c for c in COMMANDS if c.lower() == raw.lower()), "")
        if not command:
            return _respond(error("", 301, raw, detail="supported: " + ", ".join(COMMANDS)),
                            as_json)
        try:
            if command in ozeki_calls.COMMANDS:
                authenticate(command, params, "calls")
                result = ozeki_calls.run(command, params, services)
            else:
                result = send_sms(params) if command == "SendSms" else \
                    call_control(command, params)
        except _Failure as failure:
            result = failure.result
        return _respond(result, as_json)

    return bp


def _call_info(info: Any) -> dict[str, str]:
    return {"CallState": str(info.state), "CallId": str(info.call_id),
            "Source": str(info.source), "CallerId": str(info.caller_id),
            "Destination": str(info.destination),
            "StartTime": _iso(info.start_time),
            "RingDuration": f"{info.ring_seconds:.0f}",
            "TalkDuration": f"{info.talk_seconds:.0f}"}


_PARAM = {"in": "query", "schema": {"type": "string"}}
OPENAPI_PATHS: dict[str, Any] = {
    "/api": {
        method: {
            "summary": "Ozeki HTTP API command (SendSms, ListActiveCalls, Hangup, Call, "
                       "SendDTMF, Speak, Play)",
            "parameters": [dict(_PARAM, name=n, required=n == "command") for n in (
                "command", "Username", "Password", "Recipient", "Message", "Sender",
                "DeliveryReportURL", "CallId", "Keys", "Text", "AudioFile", "Dialled", "Url",
                "CallerId", "format")],
            "responses": {"200": {"description": "Ozeki XML result (Code, Message, SmsId...)",
                                  "content": {"application/xml": {}, "application/json": {}}},
                          "429": {"description": "rate limited"}},
        } for method in ("get", "post")
    },
}
