"""Inbound delivery-report webhooks from HTTP providers, turned into DeliveryReports.

* ``/dlr/restcomm/<transport>``: a Restcomm StatusCallback (seed 003 "Status Callback HTTP
  Parameters"): ``MessageSid`` is the provider id our ``restcomm`` preset stored when the
  provider answered the send, ``MessageStatus`` is sent/failed/delivered/undelivered.
  The ``restcomm`` preset points ``StatusCallback`` here through ``[http] public_url``.
* ``/dlr/http/<transport>``: a generic, Kannel ``dlr-url`` style receiver for templated
  providers: ``id`` (provider id), ``status`` (``delivered``/``undelivered``/``failed``/
  ``sent``, or Kannel's dlr type 1/2/4/8/16, sms-gateway-peers.md §1.1) and optional ``error``.

Both require ``?token=<webhook_token(callback key, transport)>``, which the webhook URL that
``ivr`` gives the provider carries (403 otherwise: without it anyone who can reach the API
could mark messages delivered or failed). ``ivr sms webhook NAME`` prints the full URL.

Both accept GET and POST (StatusCallbackMethod may be either) and answer 200 with an empty body
once the report is handed to the SMS service; the matching to a message (by transport name and
provider id) is the service's job. An unknown transport name is a 404 so a misconfigured
provider shows up in its own logs.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, request

from ivr.api.client import current_client
from ivr.api.services import ApiServices
from ivr.errors import ValidationError
from ivr.logsafe import escape
from ivr.sms.callbacks import webhook_token
from ivr.sms.message import Status
from ivr.sms.transports.base import DeliveryReport

__all__ = ["OPENAPI_PATHS", "make_blueprint", "parse_generic_dlr", "parse_restcomm_callback"]

log = logging.getLogger(__name__)

_RESTCOMM_STATUS = {"sent": Status.SENT, "delivered": Status.DELIVERED,
                    "undelivered": Status.UNDELIVERED, "failed": Status.FAILED,
                    "sending": Status.SENDING, "queued": Status.QUEUED}

# Kannel dlr types (userguide "dlr-mask"): 1 delivered, 2 not delivered to phone, 4 buffered on
# the SMSC, 8 delivered to SMSC, 16 rejected by the SMSC.
_KANNEL_TYPES = {"1": Status.DELIVERED, "2": Status.UNDELIVERED, "4": Status.SENT,
                 "8": Status.SENT, "16": Status.FAILED}


def _error_code(raw: str, param: str) -> int | None:
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(param, f"must be an integer, got {raw!r}") from None


def parse_restcomm_callback(transport: str, params: Mapping[str, str]) -> DeliveryReport:
    """A Restcomm StatusCallback as a DeliveryReport; ValidationError names a bad field."""
    sid = params.get("MessageSid", "").strip()
    if not sid:
        raise ValidationError("MessageSid", "is required")
    raw_status = params.get("MessageStatus", "").strip().lower()
    status = _RESTCOMM_STATUS.get(raw_status)
    if status is None:
        raise ValidationError("MessageStatus", f"unknown status {raw_status!r}")
    code = _error_code(params.get("ErrorCode", "").strip(), "ErrorCode")
    return DeliveryReport(transport=transport, status=status, provider_id=sid,
                          error_code=code, recipient=params.get("To", ""),
                          raw="&".join(f"{k}={v}" for k, v in params.items() if k != "Body"))


def parse_generic_dlr(transport: str, params: Mapping[str, str]) -> DeliveryReport:
    """A ``?id=…&status=…[&error=…]`` report (status by name or Kannel dlr type)."""
    provider_id = params.get("id", "").strip()
    if not provider_id:
        raise ValidationError("id", "is required")
    raw_status = params.get("status", "").strip().lower()
    status = _RESTCOMM_STATUS.get(raw_status) or _KANNEL_TYPES.get(raw_status)
    if status is None:
        raise ValidationError("status", f"unknown status {raw_status!r}")
    code = _error_code(params.get("error", "").strip(), "error")
    return DeliveryReport(transport=transport, status=status, provider_id=provider_id,
                          error_code=code, error_text=params.get("error_text", ""),
                          raw="&".join(f"{k}={v}" for k, v in params.items()))


def make_blueprint(services: ApiServices) -> Blueprint:
    """The provider DLR endpoints; reports go to ``services.sms.on_delivery_report``."""
    bp = Blueprint("provider_dlr", __name__)

    def receive(kind: str, transport: str) -> Response:
        if transport not in services.settings.sms.transports:
            log.warning("provider dlr: unknown transport %r from %s", escape(transport, 64),
                        current_client().address)
            return Response("unknown transport\n", status=404, content_type="text/plain")
        expected = webhook_token(services.sms.callbacks.key, transport)
        # bytes: compare_digest refuses str with non-ASCII characters (TypeError → 500)
        given = request.args.get("token", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected.encode("ascii")):
            log.warning("provider dlr %s/%s from %s refused: missing or wrong token", kind,
                        transport, current_client().address)
            return Response("missing or wrong token\n", status=403, content_type="text/plain")
        params = {k: v for k, v in request.values.items() if k != "token"}
        parse = parse_restcomm_callback if kind == "restcomm" else parse_generic_dlr
        try:
            report = parse(transport, params)
        except ValidationError as exc:
            log.warning("provider dlr %s/%s: %s", kind, transport, exc)
            return Response(f"{exc}\n", status=400, content_type="text/plain")
        log.info("provider dlr %s/%s: provider id %s -> %s", kind, transport,
                 report.provider_id, report.status)
        services.sms.on_delivery_report(report)
        return Response("", status=200)

    bp.add_url_rule("/dlr/<any(restcomm, http):kind>/<transport>", "receive", receive,
                    methods=["GET", "POST"])
    return bp


_RESPONSES = {"200": {"description": "Report accepted"},
              "400": {"description": "Missing or bad parameter"},
              "403": {"description": "Missing or wrong token"},
              "404": {"description": "Unknown transport"}}

OPENAPI_PATHS: dict[str, Any] = {
    "/dlr/restcomm/{transport}": {
        "post": {"summary": "Restcomm StatusCallback from a provider (seed 003 parameters)",
                 "responses": _RESPONSES},
        "parameters": [{"name": "transport", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
    },
    "/dlr/http/{transport}": {
        "get": {"summary": "Generic provider DLR: id, status (name or Kannel type), error",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in ("id", "status", "error", "token")],
                "responses": _RESPONSES},
        "parameters": [{"name": "transport", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
    },
}
