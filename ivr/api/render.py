"""Ozeki HTTP API results as XML or JSON. Pure functions.

Shape (seed 004, with its closing-tag typo corrected)::

    <?xml version="1.0"?>
    <OzApi_CommandResult_SendSms xmlns:xsd="http://www.w3.org/2001/XMLSchema"
                                 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <Code>200</Code>
      <Message>Command successfully executed</Message>
      <SmsId>7d678b16-0e81-4a05-805b-851e4794495e</SmsId>
    </OzApi_CommandResult_SendSms>
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape as _escape_markup

__all__ = ["OzekiResult", "STATUS", "render_xml", "render_json", "error"]

# Characters XML 1.0 cannot carry at all (§2.2), escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot carry written as ``\\xNN``, so an answer
    that quotes a client's bad input stays well-formed."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace")
                        .decode("ascii"), text)


def escape(text: str) -> str:
    return _escape_markup(xml_text(text))


# Ozeki's status codes and message templates (ozekiphone.com p_4235).
STATUS: dict[int, tuple[str, str]] = {
    200: ("OK", "Command successfully executed"),
    300: ("ParseError", "Error occured during parsing message: '{0}'"),
    301: ("NotImplementedCommand", "Not implemented command: '{0}'"),
    302: ("InvalidParameter", "Missing or invalid parameter '{0}' for command '{1}'"),
    303: ("InappropriateCommand", "Command '{0}' cannot be used here"),
    304: ("Authentication required", "Authentication required"),
    305: ("Authentication failed", "Authentication failed, bad username or password"),
    306: ("Forbidden User", "User is not allowed to use API in ACL"),
    307: ("ForbiddenAddress", "Use API from this address is forbidden"),
    402: ("CallConnectFailed", "Call connect to '{0}' failed with result state '{1}'"),
    429: ("RateLimited", "Too many requests: at most {0} per minute for user '{1}'"),
    501: ("SmsDestinationNotFound", "Destination of the SMS is not found"),
    601: ("CallNotFound", "Call not found with ID '{0}'"),
}
_NS = ('xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
       'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')


@dataclass(frozen=True)
class OzekiResult:
    command: str                       # canonical command name, "" for unknown commands
    code: int = 200
    message: str = STATUS[200][1]
    fields: Sequence[tuple[str, str]] = ()          # e.g. [("SmsId", id), ...] in order
    calls: Sequence[Mapping[str, str]] | None = None  # ListActiveCalls, ListCallHistory
    list_tags: tuple[str, str] = ("ActiveCalls", "CallInfo")   # the list's and an item's
    detail: str = ""                   # extra human text appended to errors (JSON: "Detail")
    http_status: int = 200

    @property
    def root(self) -> str:
        return f"OzApi_CommandResult_{self.command}" if self.command else "OzApi_CommandResult"


def error(command: str, code: int, *args: str, detail: str = "",
          http_status: int = 200) -> OzekiResult:
    return OzekiResult(command, code, STATUS[code][1].format(*args), detail=detail,
                       http_status=http_status)


def render_xml(result: OzekiResult) -> str:
    message = result.message + (f" ({result.detail})" if result.detail else "")
    lines = ['<?xml version="1.0"?>', f"<{result.root} {_NS}>",
             f"  <Code>{result.code}</Code>", f"  <Message>{escape(message)}</Message>"]
    lines += [f"  <{name}>{escape(value)}</{name}>" for name, value in result.fields]
    if result.calls is not None:
        outer, inner = result.list_tags
        lines.append(f"  <{outer}>")
        for call in result.calls:
            lines.append(f"    <{inner}>")
            lines += [f"      <{k}>{escape(v)}</{k}>" for k, v in call.items()]
            lines.append(f"    </{inner}>")
        lines.append(f"  </{outer}>")
    lines.append(f"</{result.root}>")
    return "\n".join(lines) + "\n"


def render_json(result: OzekiResult) -> str:
    document: dict[str, object] = {"Code": result.code, "Message": result.message}
    if result.detail:
        document["Detail"] = result.detail
    for name, value in result.fields:
        if name in document:  # repeated fields (several SmsIds) become a list
            previous = document[name]
            document[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            document[name] = value
    if result.calls is not None:
        document[result.list_tags[0]] = [dict(call) for call in result.calls]
    return json.dumps(document)
