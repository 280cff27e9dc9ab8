"""Ozeki call-control commands (issue 15): Call with all its parameters, and Hold, Unhold,
BlindTransfer, Forward and Record on an active or ringing call, over ``/api?command=…``.

Views only: read the parameters, call the :class:`~ivr.voice.calls.CallControl` seam, render
Ozeki's result (``<OzApi_CommandResult_Hold><Code>200</Code>…``). Errors are results too:
302 for a missing parameter, 601 for an unknown CallId, 303 when the call refuses (a Forward
of an answered call, a hold the phone declined, a transfer nobody accepted).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ivr.addressbook import AddressBook
from ivr.api.render import OzekiResult, error
from ivr.call_history import CallQuery, CallRecord
from ivr.errors import IvrError

__all__ = ["COMMANDS", "run", "history_fields", "address_book", "expand_recipients"]

log = logging.getLogger(__name__)

COMMANDS = ("Call", "Hold", "Unhold", "BlindTransfer", "Forward", "Record", "ListCallHistory",
            "SendMessage", "ReceiveMessage", "AttendedTransfer", "ListExtensions",
            "ListExtensionTypes", "ListAddressbookNames", "ListAddressbookContacts")
_EXTENSION_TYPES = {
    "IVR": "a dialled number served by an OzML script ([sip.dialplan], [sip] default_script)",
    "SIP": "the SIP account this IVR registers as ([sip] mode = register)",
    "SMS": "an SMS transport, with the recipient prefixes routed to it ([sms.transports], "
           "[sms.routes])",
}
_MAX_WAIT_SECONDS = 60.0
_MAX_PAGE_SIZE = 500
_PARAMETER = {"BlindTransfer": ("target", "Target"), "Forward": ("destination", "Destination"),
              "AttendedTransfer": ("target", "Target")}
_MAX_RECORD_SECONDS = 3600.0


def run(command: str, params: Mapping[str, str], services: Any) -> OzekiResult:
    """One command for an authenticated user. ``services.calls`` is the call control (this
    process's CallControl, or RemoteCalls to the voice process; None without SIP)."""
    if command in ("ListExtensions", "ListExtensionTypes"):
        return _extensions(command, services.settings)
    if command.startswith("ListAddressbook"):
        return _address_book_list(command, params, services)
    calls = services.calls
    if calls is None:
        return error(command, 303, command, detail="the SIP side is not running in this process")
    if command == "Call":
        return _call(params, calls, address_book(services))
    if command == "ListCallHistory":
        return _history(params, calls)
    call_id = params.get("callid", "")
    if not call_id:
        return error(command, 302, "CallId", command)
    try:
        if command in _PARAMETER:
            key, name = _PARAMETER[command]
            value = params.get(key, "").strip()
            if not value:
                return error(command, 302, name, command)
            if command == "AttendedTransfer":
                result = calls.attended_transfer(call_id, value)
                if result.startswith("failed"):
                    return error(command, 303, command, detail=result)
                return OzekiResult(command, fields=[("Result", result)])
            done = calls.blind_transfer(call_id, value) if command == "BlindTransfer" \
                else calls.forward(call_id, value)
        elif command == "Record":
            return _record(params, call_id, calls)
        elif command == "SendMessage":
            text = params.get("message") or params.get("text") or ""
            if not text:
                return error(command, 302, "Message", command)
            done = calls.send_message(call_id, text)
        elif command == "ReceiveMessage":
            return _receive(params, call_id, calls)
        else:
            done = calls.hold(call_id) if command == "Hold" else calls.unhold(call_id)
    except KeyError:
        return error(command, 601, call_id)
    if not done:
        why = {"Forward": "the call is already answered (Forward is for ringing calls)",
               "BlindTransfer": "the far end did not accept the REFER",
               "SendMessage": "the caller's phone did not accept the MESSAGE"}.get(
                   command, "the far end refused the re-INVITE")
        return error(command, 303, command, detail=why)
    return OzekiResult(command)


def address_book(services: Any) -> AddressBook | None:
    """The address book next to the messages (None where the services have none)."""
    book: AddressBook | None = services.address_book
    return book


def expand_recipients(services: Any, recipients: list[str]) -> list[str]:
    """SendSms's recipients with contact and list names replaced by their numbers."""
    book = address_book(services)
    if book is None:
        return recipients
    return [number for recipient in recipients for number in book.resolve(recipient)]


def _address_book_list(command: str, params: Mapping[str, str], services: Any
                       ) -> OzekiResult:
    book = address_book(services)
    if book is None:
        return error(command, 303, command, detail="no address book with this database")
    if command == "ListAddressbookNames":
        return OzekiResult(command, calls=[{"Name": name, "ContactCount": str(count)}
                                           for name, count in book.lists()],
                           list_tags=("AddressbookNames", "Addressbook"))
    name = params.get("addressbookname", "").strip()
    return OzekiResult(command, calls=[
        {"Name": c.name, "Number": c.number, "Addressbooks": " ".join(c.lists)}
        for c in book.contacts(name)], list_tags=("Contacts", "Contact"))


def _call(params: Mapping[str, str], calls: Any, book: AddressBook | None) -> OzekiResult:
    """Call (Ozeki p_4571): Dialled, Url, CallerId, CallerDisplayName, ErrorUrl, and
    ApiExtension, which is accepted and logged (this IVR is the one API extension)."""
    number = params.get("dialled") or params.get("dialed") or params.get("number", "")
    script = params.get("url") or params.get("script", "")
    if not number:
        return error("Call", 302, "Dialled", "Call")
    if book is not None:
        if book.is_list(number.strip()):
            return error("Call", 302, "Dialled", "Call",
                         detail=f"{number!r} is an address book list; dial one contact")
        number = book.resolve(number.strip())[0]
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


def _history(params: Mapping[str, str], calls: Any) -> OzekiResult:
    """ListCallHistory: ``Page`` (from 1), ``PageSize`` (50, at most 500), filters
    ``Direction`` (inbound/outbound), ``Caller``, ``Callee``, ``From``/``To`` (ISO 8601 start
    times, UTC when no offset is given). Newest first; ``TotalCount`` counts every match."""
    command = "ListCallHistory"
    numbers: dict[str, int] = {}
    for name, default, top in (("page", 1, 10**6), ("pagesize", 50, _MAX_PAGE_SIZE)):
        raw = params.get(name, "").strip() or str(default)
        if not raw.isdigit() or not 1 <= int(raw) <= top:
            return error(command, 302, {"page": "Page", "pagesize": "PageSize"}[name], command,
                         detail=f"a whole number from 1 to {top}")
        numbers[name] = int(raw)
    bounds: dict[str, float] = {}
    for name in ("from", "to"):
        raw = params.get(name, "").strip()
        if raw:
            try:
                when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                return error(command, 302, name.title(), command, detail="an ISO 8601 time")
            bounds[name] = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()
    direction = params.get("direction", "").strip().lower()
    if direction not in ("", "inbound", "outbound"):
        return error(command, 302, "Direction", command, detail="inbound or outbound")
    query = CallQuery(direction=direction, caller=params.get("caller", "").strip(),
                      callee=params.get("callee", "").strip(), since=bounds.get("from", 0.0),
                      until=bounds.get("to", 0.0),
                      offset=(numbers["page"] - 1) * numbers["pagesize"],
                      limit=numbers["pagesize"])
    try:
        records, total = calls.list_history(query)
    except IvrError as exc:
        return error(command, 303, command, detail=str(exc))
    return OzekiResult(command, fields=[("TotalCount", str(total)),
                                        ("Page", str(numbers["page"]))],
                       calls=[history_fields(r) for r in records],
                       list_tags=("CallHistory", "CallRecord"))


def history_fields(record: CallRecord) -> dict[str, str]:
    """One call as ListCallHistory and ``ivr calls show`` present it."""
    def iso(when: float) -> str:
        return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") \
            if when else ""

    return {"CallId": record.call_id, "Direction": record.direction,
            "Caller": record.caller, "Callee": record.callee, "Script": record.script,
            "StartTime": iso(record.started_at), "AnswerTime": iso(record.answered_at),
            "EndTime": iso(record.ended_at), "Duration": f"{record.duration:.1f}",
            "HangupCause": record.hangup_cause, "Recordings": " ".join(record.recordings)}


def _extensions(command: str, settings: Any) -> OzekiResult:
    """ListExtensionTypes / ListExtensions: what this IVR serves, from its settings.
    Transport URLs are shown as scheme://host[:port] only: they may carry credentials."""
    if command == "ListExtensionTypes":
        return OzekiResult(command, calls=[{"Name": name, "Description": text}
                                           for name, text in _EXTENSION_TYPES.items()],
                           list_tags=("ExtensionTypes", "ExtensionType"))
    sip, sms = settings.sip, settings.sms
    rows = [{"Name": number, "Type": "IVR", "Target": script}
            for number, script in sorted(sip.dialplan.items())]
    rows.append({"Name": "*", "Type": "IVR", "Target": sip.default_script})
    if sip.mode == "register" and sip.username:
        rows.append({"Name": sip.username, "Type": "SIP",
                     "Target": f"sip:{sip.username}@{sip.server}:{sip.server_port}"})
    for name, url in sorted(sms.transports.items()):
        parts = urlsplit(url)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        prefixes = sorted(p for p, t in sms.routes.items() if t == name)
        rows.append({"Name": name, "Type": "SMS",
                     "Target": f"{parts.scheme}://{parts.hostname or ''}{port}",
                     "Routes": " ".join(prefixes)})
    return OzekiResult(command, calls=rows, list_tags=("Extensions", "Extension"))


def _receive(params: Mapping[str, str], call_id: str, calls: Any) -> OzekiResult:
    """ReceiveMessage: wait up to ``Timeout`` s (default 10, at most 60) for the caller's
    next SIP MESSAGE; ``Received`` says whether one came, ``Text`` is its text."""
    raw = params.get("timeout", "").strip() or "10"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= _MAX_WAIT_SECONDS:
        return error("ReceiveMessage", 302, "Timeout", "ReceiveMessage",
                     detail=f"seconds from 0 to {_MAX_WAIT_SECONDS:g}")
    text = calls.receive_message(call_id, seconds)
    return OzekiResult("ReceiveMessage", fields=[("Received", "true" if text is not None
                                                  else "false"), ("Text", text or "")])


def _record(params: Mapping[str, str], call_id: str, calls: Any) -> OzekiResult:
    raw = params.get("duration", "").strip() or "60"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= _MAX_RECORD_SECONDS:
        return error("Record", 302, "Duration", "Record",
                     detail=f"seconds between 0 and {_MAX_RECORD_SECONDS:g}")

    finished_url = params.get("finishedurl", "").strip()
    if finished_url and urlsplit(finished_url).scheme not in ("http", "https"):
        return error("Record", 302, "FinishedUrl", "Record", detail="expected an http(s) URL")

    try:
        url = calls.record_to(call_id, seconds, finished_url)
    except KeyError:
        raise
    except IvrError as exc:   # CallEnded here, or the voice process's refusal over the socket
        return error("Record", 303, "Record", detail=f"the call has no media (ended?): {exc}")
    return OzekiResult("Record", fields=[("RecordURL", url)])
