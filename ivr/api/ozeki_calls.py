"""Ozeki call-control commands (issue 15): Call with all its parameters, and Hold, Unhold,
BlindTransfer, Forward and Record on an active or ringing call, over ``/api?command=…``.

Views only: read the parameters, call the :class:`~ivr.voice.calls.CallControl` seam, render
Ozeki's result (``<OzApi_CommandResult_Hold><Code>200</Code>…``). Errors are results too:
302 for a missing parameter, 601 for an unknown CallId, 303 when the call refuses (a Forward
of an answered call, a hold the phone declined, a transfer nobody accepted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ivr.api.render import OzekiResult, error
from ivr.call import CallEnded, RecordResult
from ivr.errors import IvrError

__all__ = ["COMMANDS", "run"]

log = logging.getLogger(__name__)

COMMANDS = ("Call", "Hold", "Unhold", "BlindTransfer", "Forward", "Record")
_PARAMETER = {"BlindTransfer": ("target", "Target"), "Forward": ("destination", "Destination")}
_MAX_RECORD_SECONDS = 3600.0


def run(command: str, params: Mapping[str, str], calls: Any,
        notify: Callable[[str, dict[str, str]], None] | None) -> OzekiResult:
    """One command for an authenticated user; ``calls`` is the CallControl (None when SIP
    is not running here), ``notify`` sends RecordCompleted to ``[http] notification_url``."""
    if calls is None:
        return error(command, 303, command, detail="the SIP side is not running in this process")
    if command == "Call":
        return _call(params, calls)
    call_id = params.get("callid", "")
    if not call_id:
        return error(command, 302, "CallId", command)
    try:
        if command in _PARAMETER:
            key, name = _PARAMETER[command]
            value = params.get(key, "").strip()
            if not value:
                return error(command, 302, name, command)
            done = calls.blind_transfer(call_id, value) if command == "BlindTransfer" \
                else calls.forward(call_id, value)
        elif command == "Record":
            return _record(params, call_id, calls, notify)
        else:
            done = calls.hold(call_id) if command == "Hold" else calls.unhold(call_id)
    except KeyError:
        return error(command, 601, call_id)
    if not done:
        why = {"Forward": "the call is already answered (Forward is for ringing calls)",
               "BlindTransfer": "the far end did not accept the REFER"}.get(
                   command, "the far end refused the re-INVITE")
        return error(command, 303, command, detail=why)
    return OzekiResult(command)


def _call(params: Mapping[str, str], calls: Any) -> OzekiResult:
    """Call (Ozeki p_4571): Dialled, Url, CallerId, CallerDisplayName, ErrorUrl, and
    ApiExtension, which is accepted and logged (this IVR is the one API extension)."""
    number = params.get("dialled") or params.get("dialed") or params.get("number", "")
    script = params.get("url") or params.get("script", "")
    if not number:
        return error("Call", 302, "Dialled", "Call")
    if not script:
        return error("Call", 302, "Url", "Call")
    error_url = params.get("errorurl", "").strip()
    if error_url and urlsplit(error_url).scheme not in ("http", "https"):
        return error("Call", 302, "ErrorUrl", "Call", detail="expected an http(s) URL")
    if params.get("apiextension"):
        log.info("Call to %s via ApiExtension %s", number, params["apiextension"])
    try:
        call_id = calls.call(number, script, params.get("callerid", ""),
                             params.get("callerdisplayname", ""), error_url)
    except IvrError as exc:
        return error("Call", 402, number, "Failed", detail=str(exc))
    return OzekiResult("Call", fields=[("CallId", call_id)])


def _record(params: Mapping[str, str], call_id: str, calls: Any,
            notify: Callable[[str, dict[str, str]], None] | None) -> OzekiResult:
    raw = params.get("duration", "").strip() or "60"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= _MAX_RECORD_SECONDS:
        return error("Record", 302, "Duration", "Record",
                     detail=f"seconds between 0 and {_MAX_RECORD_SECONDS:g}")

    def done(result: RecordResult) -> None:
        if notify is not None:
            notify("RecordCompleted", {"CallId": call_id, "RecordURL": result.url,
                                       "Duration": f"{result.duration:.1f}",
                                       "Reason": result.reason})

    try:
        url = calls.record(call_id, seconds, done)
    except CallEnded:
        return error("Record", 303, "Record", detail="the call has no media (ended?)")
    return OzekiResult("Record", fields=[("RecordURL", url)])
