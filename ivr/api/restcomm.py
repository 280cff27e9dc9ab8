"""Restcomm SMS API dialect (seed 003): ``/api/2012-04-24/Accounts/{AccountSid}/SMS/Messages``.

JSON with a ``.json`` suffix, Restcomm's XML (``<RestcommResponse>``) without it. HTTP Basic
auth with ``AccountSid:AuthToken`` (or the user's name and password; the demo user works too);
an account may only see and send as itself. The document's curl examples use the
``/restcomm/2012-04-24/...`` prefix while its endpoint table says ``/api/2012-04-24/...``;
both are served so that both kinds of client work unchanged.

Pure helpers (resource shape, paging fields, XML, callback parameters) are separate from the
views so they are testable without a server. :func:`status_callback_params` is the
``CallbackFormatter`` the SMS pipeline uses for ``callback_format = "restcomm"``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request
from lxml import etree

from ivr.api.app import access_log
from ivr.api.auth import RateLimiter, admit
from ivr.api.client import current_client
from ivr.api.render import xml_text
from ivr.api.services import ApiServices
from ivr.call import SmsRequest
from ivr.errors import ApiError, AuthError, SmsError, ValidationError
from ivr.sms.message import Direction, Message, Status

__all__ = [
    "API_VERSION",
    "OPENAPI_PATHS",
    "ListParams",
    "make_blueprint",
    "message_id_from_sid",
    "message_resource",
    "message_sid",
    "paging_fields",
    "parse_list_params",
    "render_xml",
    "rfc2822",
    "status_callback_params",
]

log = logging.getLogger(__name__)

API_VERSION = "2012-04-24"
PREFIXES = ("/api", "/restcomm")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
SOURCE_PREFIX = "api:restcomm:"          # Message.source carries the AccountSid for callbacks

# ---------------------------------------------------------------------------------------------
# Pure helpers


def message_sid(message_id: str) -> str:
    """``SM`` + 32 hex digits, from our UUID message id (seed 003's Sid format)."""
    try:
        return "SM" + uuid.UUID(message_id).hex
    except ValueError:
        return "SM" + message_id


def message_id_from_sid(sid: str) -> str | None:
    """Our message id for a Sid, or ``None`` if it cannot be one of ours (case-insensitive:
    stores keep provider ids lower-cased, see ``ivr.sms.store.canonical_ids``)."""
    if sid[:2].upper() != "SM":
        return None
    try:
        return str(uuid.UUID(hex=sid[2:]))
    except ValueError:
        return None


def rfc2822(when: dt.datetime | None) -> str | None:
    """``Thu, 19 Nov 2015 07:21:35 -0500`` (RFC 2822 §3.3), as the document's dates."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return format_datetime(when.replace(microsecond=0))


def _direction(message: Message) -> str:
    return "outbound-api" if message.direction == Direction.OUTBOUND else "inbound"


def account_sid_of(message: Message) -> str:
    return message.source[len(SOURCE_PREFIX):] if message.source.startswith(SOURCE_PREFIX) else ""


def messages_uri(prefix: str, account_sid: str) -> str:
    return f"{prefix}/{API_VERSION}/Accounts/{account_sid}/SMS/Messages"


def message_resource(message: Message, account_sid: str, *, prefix: str = "/api",
                     json_suffix: bool = True, full: bool = True) -> dict[str, Any]:
    """Every attribute of seed 003's SMS resource, in the document's order.

    ``full=False`` is the POST answer, which the document shows without ``date_sent``,
    ``num_segments`` and the error fields ("This is not available in POST response").
    """
    sid = message_sid(message.id)
    resource: dict[str, Any] = {
        "sid": sid,
        "date_created": rfc2822(message.created_at),
        "date_updated": rfc2822(message.updated_at or message.created_at),
    }
    if full:
        resource["date_sent"] = rfc2822(message.sent_at)
    resource.update({
        "account_sid": account_sid,
        "from": message.sender,
        "to": message.recipient,
        "body": message.body,
        "status": str(message.status),
        "direction": _direction(message),
    })
    if full:
        resource["num_segments"] = message.segments
    resource["api_version"] = API_VERSION
    resource["uri"] = (f"{messages_uri(prefix, account_sid)}/{sid}"
                       + (".json" if json_suffix else ""))
    if full:
        resource["error_code"] = message.error_code
        resource["error_message"] = message.error_message or None
    return resource


def status_callback_params(message: Message, status: Status) -> dict[str, str]:
    """StatusCallback parameters, in the document's order (seed 003 "Status Callback").

    ``ErrorCode`` is only present when an error occurred. The events themselves (sent/failed,
    then delivered/undelivered/failed) are produced by the pipeline's status changes.
    """
    if status not in (Status.SENT, Status.FAILED, Status.DELIVERED, Status.UNDELIVERED):
        return {}   # queued/sending are not events of the document; {} means "no callback"
    params = {"MessageSid": message_sid(message.id), "MessageStatus": str(status)}
    if message.error_code is not None and status in (Status.FAILED, Status.UNDELIVERED):
        params["ErrorCode"] = str(message.error_code)
    params.update({"AccountSid": account_sid_of(message), "From": message.sender,
                   "To": message.recipient, "Body": message.body})
    return params


_SORT_FIELDS = {"datecreated": "created_at", "from": "sender", "to": "recipient",
                "direction": "direction", "status": "status"}


@dataclass(frozen=True)
class ListParams:
    page: int = 0
    page_size: int = DEFAULT_PAGE_SIZE
    after_sid: str = ""
    to: str = ""
    from_: str = ""
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    sort_by: str = "created_at"
    descending: bool = False
    sort_raw: str = ""


def _iso(value: str, name: str, end: bool) -> dt.datetime:
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            # a bare date as EndTime means the whole of that day
            when = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
        else:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO-8601 date or date/time, got {value!r}",
                       400) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw!r}", 400) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}", 400)
    return value


def parse_list_params(args: Mapping[str, str]) -> ListParams:
    """Page, PageSize, AfterSid, To, From, StartTime, EndTime, SortBy=<attribute>[:asc|desc]."""
    sort_raw = args.get("SortBy", "")
    sort_by, descending = "created_at", False
    if sort_raw:
        name, _, direction = sort_raw.partition(":")
        if name.lower() not in _SORT_FIELDS:
            raise ApiError(400, f"SortBy: unknown attribute {name!r} (known: DateCreated, "
                                "From, To, Direction, Status)", 400)
        if direction.lower() not in ("", "asc", "desc"):
            raise ApiError(400, f"SortBy: direction must be asc or desc, got {direction!r}", 400)
        sort_by, descending = _SORT_FIELDS[name.lower()], direction.lower() == "desc"
    after_sid = args.get("AfterSid", "")
    if after_sid and message_id_from_sid(after_sid) is None:
        raise ApiError(400, f"AfterSid: {after_sid!r} is not a message Sid", 400)
    return ListParams(
        page=_int(args, "Page", 0, 0, 10_000_000),
        page_size=_int(args, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        after_sid=after_sid, to=args.get("To", ""), from_=args.get("From", ""),
        start_time=_iso(args["StartTime"], "StartTime", False) if args.get("StartTime") else None,
        end_time=_iso(args["EndTime"], "EndTime", True) if args.get("EndTime") else None,
        sort_by=sort_by, descending=descending, sort_raw=sort_raw)


def _page_uri(base: str, params: ListParams, page: int, after_sid: str = "") -> str:
    query: list[tuple[str, str]] = []
    for key, value in (("To", params.to), ("From", params.from_),
                       ("StartTime", params.start_time.isoformat() if params.start_time else ""),
                       ("EndTime", params.end_time.isoformat() if params.end_time else ""),
                       ("SortBy", params.sort_raw)):
        if value:
            query.append((key, value))
    query += [("Page", str(page)), ("PageSize", str(params.page_size))]
    if after_sid:
        query.append(("AfterSid", after_sid))
    return f"{base}?{urlencode(query)}"


def paging_fields(base: str, params: ListParams, total: int, count: int,
                  last_sid: str) -> dict[str, Any]:
    """The document's paging block. ``start``/``end`` are strings and a missing previous or
    next page is the string ``"null"``, exactly as the document's example shows them."""
    num_pages = max(1, math.ceil(total / params.page_size))
    start = params.page * params.page_size
    end = start + count - 1 if count else start
    has_next = start + count < total
    return {
        "page": params.page,
        "num_pages": num_pages,
        "page_size": params.page_size,
        "total": total,
        "start": str(start),
        "end": str(end),
        "uri": base,
        "first_page_uri": _page_uri(base, params, 0),
        "previous_page_uri": (_page_uri(base, params, params.page - 1) if params.page > 0
                              else "null"),
        "next_page_uri": (_page_uri(base, params, params.page + 1, last_sid) if has_next
                          else "null"),
        "last_page_uri": _page_uri(base, params, num_pages - 1),
    }


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _xml_resource(parent: Any, resource: Mapping[str, Any]) -> None:
    node = etree.SubElement(parent, "SMSMessage")
    for key, value in resource.items():
        child = etree.SubElement(node, _pascal(key))
        if value is not None:
            child.text = xml_text(str(value))


def render_xml(resource: Mapping[str, Any] | None = None, *,
               page: Mapping[str, Any] | None = None,
               messages: Sequence[Mapping[str, Any]] | None = None,
               error: tuple[int, str] | None = None) -> bytes:
    """Restcomm's XML: ``<RestcommResponse>`` around one ``<SMSMessage>``, a paged
    ``<SMSMessages page=… total=…>`` list, or ``<RestException>``."""
    root = etree.Element("RestcommResponse")
    if error is not None:
        exc = etree.SubElement(root, "RestException")
        etree.SubElement(exc, "Status").text = str(error[0])
        etree.SubElement(exc, "Message").text = xml_text(error[1])
    elif page is not None:
        attrs = {k.replace("_", ""): str(v) for k, v in page.items()}
        node = etree.SubElement(root, "SMSMessages", attrs)
        for item in messages or []:
            _xml_resource(node, item)
    elif resource is not None:
        _xml_resource(root, resource)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------
# Views


def _wants_json(suffix: str) -> bool:
    return suffix == ".json"


def _respond(document: Any, status: int, as_json: bool, *, xml: bytes | None = None) -> Response:
    if as_json:
        return Response(json.dumps(document), status=status, content_type="application/json")
    return Response(xml if xml is not None else render_xml(document), status=status,
                    content_type="application/xml")


def _error(status: int, message: str, as_json: bool) -> Response:
    if as_json:
        return _respond({"status": status, "message": message}, status, True)
    resp = _respond(None, status, False, xml=render_xml(error=(status, message)))
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Basic realm="Restcomm"'
    return resp


def _authenticate(services: ApiServices, limiter: RateLimiter, account_sid: str, as_json: bool) -> Any:
    """The user behind Basic auth, which must own ``account_sid`` (403 otherwise)."""
    auth = request.authorization
    if auth is None or not auth.username:
        raise _Abort(_error(401, "Authentication required (HTTP Basic AccountSid:AuthToken)",
                            as_json))
    try:
        client = current_client()
        if auth.username.startswith("AC") and len(auth.username) == 34:
            user = services.users.authenticate_account(auth.username, auth.password or "",
                                                       client.address, proxied=client.proxied)
        else:
            user = services.users.authenticate(auth.username, auth.password or "",
                                               client.address, proxied=client.proxied)
    except AuthError as exc:
        log.info("restcomm: authentication refused for %r: %s", auth.username, exc.reason)
        if exc.reason == "rate_limited":
            raise _Abort(_error(429, "Too many requests", as_json)) from None
        if exc.reason == "forbidden":
            raise _Abort(_error(403, "Forbidden", as_json)) from None
        raise _Abort(_error(401, "Authentication failed", as_json)) from None
    if user.account_sid != account_sid:
        log.info("restcomm: user %s asked for account %s", user.name, account_sid)
        raise _Abort(_error(403, "The authenticated account may not access this account",
                            as_json))
    try:
        return admit(limiter, user, "sms")
    except AuthError as exc:
        if exc.reason == "over_limit":
            raise _Abort(_error(429, "Too many requests", as_json)) from None
        raise _Abort(_error(403, "This account may not use the SMS API", as_json)) from None


class _Abort(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("abort")
        self.response = response


def _prefix() -> str:
    return "/restcomm" if request.path.startswith("/restcomm/") else "/api"


def _send(services: ApiServices, limiter: RateLimiter, account_sid: str, suffix: str) -> Response:
    as_json = _wants_json(suffix)
    user = _authenticate(services, limiter, account_sid, as_json)
    form = request.form if request.form else request.args
    for key in ("From", "To", "Body"):
        if not form.get(key, "").strip():
            return _error(400, f"{key} is required", as_json)
    method = (form.get("StatusCallbackMethod") or "POST").upper()
    if method not in ("GET", "POST"):
        return _error(400, "StatusCallbackMethod must be GET or POST", as_json)
    callback = form.get("StatusCallback", "").strip()
    to = form["To"].strip()
    sms = SmsRequest(
        recipient=to, body=form["Body"], sender=form["From"].strip(),
        # seed 003: "StatusCallback is not applicable to messages addressed to CPaaS Clients"
        callback_url="" if to.startswith("client:") else callback,
        callback_method=method, callback_format="restcomm", owner=user.name,
        source=SOURCE_PREFIX + account_sid)
    try:
        message = services.sms.submit(sms, log_to=access_log())
    except ValidationError as exc:
        name = {"recipient": "To", "sender": "From", "message": "Body",
                "callbackurl": "StatusCallback"}.get(exc.param.lower(), exc.param)
        return _error(400, f"{name}: {exc.message}", as_json)
    except SmsError as exc:
        return _error(400, str(exc), as_json)
    resource = message_resource(message, account_sid, prefix=_prefix(), json_suffix=as_json,
                                full=False)
    return _respond(resource, 200, as_json)


def _list(services: ApiServices, limiter: RateLimiter, account_sid: str, suffix: str) -> Response:
    as_json = _wants_json(suffix)
    user = _authenticate(services, limiter, account_sid, as_json)
    try:
        params = parse_list_params(request.args)
    except ApiError as exc:
        return _error(400, exc.message, as_json)
    messages, total = _query(services, user.name, params)
    base = messages_uri(_prefix(), account_sid) + (".json" if as_json else "")
    items = [message_resource(m, account_sid, prefix=_prefix(), json_suffix=as_json)
             for m in messages]
    page = paging_fields(base, params, total, len(items),
                         items[-1]["sid"] if items else "")
    if as_json:
        return _respond({**page, "messages": items}, 200, True)
    return _respond(None, 200, False, xml=render_xml(page=page, messages=items))


def _query(services: ApiServices, owner: str, params: ListParams) -> tuple[list[Message], int]:
    """Translate the list parameters into the SMS service's MessageQuery."""
    from ivr.sms.submit import MessageQuery

    after_id = message_id_from_sid(params.after_sid) if params.after_sid else None
    query = MessageQuery(
        owner=owner, recipient=params.to or None, sender=params.from_ or None,
        created_from=params.start_time, created_to=params.end_time,
        sort=params.sort_by, descending=params.descending,
        offset=0 if after_id else params.page * params.page_size,
        limit=params.page_size, after_id=after_id)
    result: tuple[list[Message], int] = services.sms.query(query)
    return result


def _get_one(services: ApiServices, limiter: RateLimiter, account_sid: str, sid: str,
             suffix: str) -> Response:
    as_json = _wants_json(suffix)
    user = _authenticate(services, limiter, account_sid, as_json)
    message_id = message_id_from_sid(sid)
    message = services.sms.get(message_id) if message_id else None
    if message is None or message.owner != user.name:
        return _error(404, f"The requested resource {sid} was not found", as_json)
    return _respond(message_resource(message, account_sid, prefix=_prefix(),
                                     json_suffix=as_json), 200, as_json)


def make_blueprint(services: ApiServices) -> Blueprint:
    """The Restcomm SMS endpoints under ``/api`` and ``/restcomm``."""
    bp = Blueprint("restcomm", __name__)
    limiter = services.rate_limiter

    def messages(account_sid: str, suffix: str = "") -> Response:
        try:
            if request.method == "POST":
                return _send(services, limiter, account_sid, suffix)
            return _list(services, limiter, account_sid, suffix)
        except _Abort as abort:
            return abort.response

    def one(account_sid: str, sid: str) -> Response:
        suffix = ".json" if sid.endswith(".json") else ""
        try:
            return _get_one(services, limiter, account_sid, sid.removesuffix(".json"), suffix)
        except _Abort as abort:
            return abort.response

    for prefix in PREFIXES:
        base = f"{prefix}/{API_VERSION}/Accounts/<account_sid>/SMS/Messages"
        bp.add_url_rule(base, f"messages{prefix[1:]}", messages, methods=["GET", "POST"])
        bp.add_url_rule(base + ".json", f"messages_json{prefix[1:]}", messages,
                        methods=["GET", "POST"], defaults={"suffix": ".json"})
        bp.add_url_rule(base + "/<sid>", f"one{prefix[1:]}", one, methods=["GET"])
    return bp


# OpenAPI 3.0: no type lists, so nullable string/integer attributes are left untyped.
_RESOURCE_SCHEMA = {"type": "object", "properties": {
    k: {"nullable": True} for k in (
        "sid", "date_created", "date_updated", "date_sent", "account_sid", "from", "to", "body",
        "status", "direction", "num_segments", "api_version", "uri", "error_code",
        "error_message")}}

OPENAPI_PATHS: dict[str, Any] = {
    f"/api/{API_VERSION}/Accounts/{{AccountSid}}/SMS/Messages.json": {
        "post": {"summary": "Send an SMS (seed 003)",
                 "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                     "type": "object", "required": ["From", "To", "Body"],
                     "properties": {k: {"type": "string"} for k in (
                         "From", "To", "Body", "StatusCallback", "StatusCallbackMethod")}}}}},
                 "responses": {"200": {"description": "The new message",
                                       "content": {"application/json": {
                                           "schema": _RESOURCE_SCHEMA}}},
                               "400": {"description": "Missing or invalid parameter"},
                               "401": {"description": "Authentication required"},
                               "403": {"description": "Another account"}}},
        "get": {"summary": "List SMS messages with paging, filters and sorting",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in ("Page", "PageSize", "AfterSid", "To", "From",
                                         "StartTime", "EndTime", "SortBy")],
                "responses": {"200": {"description": "One page of messages"},
                              "400": {"description": "Bad paging/filter parameter"},
                              "401": {"description": "Authentication required"}}},
        "parameters": [{"name": "AccountSid", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
    },
    f"/api/{API_VERSION}/Accounts/{{AccountSid}}/SMS/Messages/{{MessageSid}}": {
        "get": {"summary": "One SMS message (.json suffix for JSON, XML otherwise)",
                "responses": {"200": {"description": "The message"},
                              "404": {"description": "Unknown Sid"}}},
        "parameters": [{"name": "AccountSid", "in": "path", "required": True,
                        "schema": {"type": "string"}},
                       {"name": "MessageSid", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
    },
}
