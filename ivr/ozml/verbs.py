"""Typed OzML commands, built from a validated tree; attribute values are checked here.

Defaults follow Ozeki where it documents one and TwiML's timing semantics where it is silent
(docs/ozml.md lists every choice). Each command keeps its source line for runtime logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ivr.errors import OzmlError
from ivr.ozml.parser import ParsedDocument

__all__ = [
    "Command", "Speak", "Play", "Delay", "Beep", "Hangup", "Reject", "Exit", "Input",
    "UserInput", "SendSms", "Var", "GoTo", "Record", "BlindTransfer", "Forward", "SendDtmf",
    "CallOut", "SendEmail", "Array", "ForEach", "DeleteFile", "MoveFile", "ReceiveAlarm",
    "SendAlarm",
    "Unsupported", "Script", "build_script", "DTMF_KEYS", "UNLIMITED",
]

DTMF_KEYS = frozenset("0123456789*#ABCD")
UNLIMITED = -1   # Repeat="true": Ozeki repeats without a limit; [ozml] max_call_seconds ends it
_SQL = re.compile(r"\s*(select|with)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    line: int


@dataclass(frozen=True)
class Speak(Command):
    text: str
    language: str = ""
    voice: str = ""
    rate: int = 0


@dataclass(frozen=True)
class Play(Command):
    source: str
    repeat: int = 1            # times to play; UNLIMITED (Repeat="true") until Timeout/limit
    timeout: float = 0.0       # stop after this many seconds; 0 = no limit


@dataclass(frozen=True)
class Delay(Command):
    seconds: float


@dataclass(frozen=True)
class Beep(Command):
    seconds: float = 0.5


@dataclass(frozen=True)
class Hangup(Command):
    pass


@dataclass(frozen=True)
class Reject(Command):
    pass


@dataclass(frozen=True)
class Exit(Command):
    pass


@dataclass(frozen=True)
class Input(Command):
    key: str
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class UserInput(Command):
    prompt: tuple[Command, ...] = ()
    inputs: tuple[Input, ...] = ()
    no_input: tuple[Command, ...] | None = None
    invalid: tuple[Command, ...] | None = None
    timeout: float = 0.0             # first-digit timeout after the prompt; 0 = no limit
    repeat: bool = False             # re-prompt after no/invalid input
    max_repeats: int = 0             # re-prompts Repeat allows; UNLIMITED as Ozeki does
    digits: int = 1                  # collection ends after this many digits (MaxDigits)
    min_digits: int = 0              # fewer digits than this count as an invalid entry
    back_key: str = ""               # nested: back to the enclosing menu; top: continue
    forward_to_url: str = ""         # DtmfEntered for digits that match no <Input>
    finish_on_key: str = ""          # ends collection early; Ozeki has none (FinishOnKey)
    inter_digit_timeout: float = 3.0
    barge_in: bool = True            # a digit stops the prompt


@dataclass(frozen=True)
class SendSms(Command):
    text: str
    recipient: str = ""              # "" = the caller
    sender: str = ""
    delivery_report_url: str = ""


@dataclass(frozen=True)
class Var(Command):
    name: str
    value: str


@dataclass(frozen=True)
class GoTo(Command):
    url: str                         # a URL or path; an SQL query when ``sql`` is true
    method: str = "POST"
    notification: str = "GoTo"       # "Request" for <Request>
    sql: bool = False                # Ozeki's SQL OzML: the query's result is the next script


@dataclass(frozen=True)
class Record(Command):
    duration: float = 3600.0
    inactivity: float = 5.0
    format: str = "mp3"              # Ozeki's default (p_4776); wav on request
    finish_digits: str = "1234567890*#"
    finished_url: str = ""
    beep: bool = False               # Ozeki plays no beep; Beep="true" asks for one
    record_path: str = ""            # Ozeki 10: a name under [audio] recordings_dir


@dataclass(frozen=True)
class BlindTransfer(Command):
    target: str


@dataclass(frozen=True)
class Forward(Command):
    destination: str


@dataclass(frozen=True)
class SendDtmf(Command):
    keys: str


@dataclass(frozen=True)
class CallOut(Command):
    dialled: str
    url: str
    error_url: str = ""
    caller_id: str = ""


@dataclass(frozen=True)
class SendEmail(Command):
    recipient: str
    text: str = ""
    subject: str = ""
    sender: str = ""


@dataclass(frozen=True)
class Array(Command):
    name: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class ForEach(Command):
    source: str
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class DeleteFile(Command):
    path: str


@dataclass(frozen=True)
class MoveFile(Command):
    source: str
    destination: str


@dataclass(frozen=True)
class ReceiveAlarm(Command):
    timeout: float = 10.0            # for the whole Contact ID message
    received: tuple[Command, ...] = ()


@dataclass(frozen=True)
class SendAlarm(Command):
    phone_number: str
    account: str                     # 4 digits
    event_code: str                  # 3 digits
    partition: str                   # 2 digits
    zone: str                        # 3 digits
    qualifier: str = "1"             # Contact ID Q: 1 NewEvent, 3 NewRestore, 6 StatusReport
    result_url: str = ""


@dataclass(frozen=True)
class Unsupported(Command):
    name: str


@dataclass(frozen=True)
class Script:
    commands: tuple[Command, ...]
    source: str
    warnings: tuple[object, ...] = field(default=())


class _Builder:
    def __init__(self, document: ParsedDocument) -> None:
        self.doc = document

    def error(self, element: etree._Element, message: str, attr: str = "") -> OzmlError:
        line, col = self.doc.locate(element, attr)
        return OzmlError(f"<{element.tag}>{' ' + attr if attr else ''}: {message}", line, col,
                         self.doc.source)

    def body(self, element: etree._Element, attr: str = "", required: str = "") -> str:
        """The main value: the attribute if given, else the element's text (stripped)."""
        value = element.get(attr, "") if attr else ""
        text = (element.text or "").strip()
        if value and text:
            raise self.error(element, f"give the value either as {attr}= or as text, not both",
                             attr)
        result = value or text
        if required and not result:
            raise self.error(element, f"{required} is required")
        return result

    def number(self, element: etree._Element, attr: str, default: float, *,
               minimum: float = 0.0, text: str | None = None) -> float:
        raw = element.get(attr) if text is None else text
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw.strip())
        except ValueError:
            raise self.error(element, f"expected a number of seconds, got {raw!r}",
                             attr) from None
        if value < minimum or value != value or value in (float("inf"), float("-inf")):
            raise self.error(element, f"must be at least {minimum:g}, got {raw!r}", attr)
        return value

    def integer(self, element: etree._Element, attr: str, default: int, *,
                minimum: int = 0) -> int:
        raw = element.get(attr)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise self.error(element, f"expected a whole number, got {raw!r}", attr) from None
        if value < minimum:
            raise self.error(element, f"must be at least {minimum}, got {raw!r}", attr)
        return value

    def boolean(self, element: etree._Element, attr: str, default: bool) -> bool:
        raw = element.get(attr)
        if raw is None or raw.strip() == "":
            return default
        low = raw.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise self.error(element, f"expected true or false, got {raw!r}", attr)

    def keys(self, element: etree._Element, attr: str, default: str) -> str:
        raw = element.get(attr)
        if raw is None:
            return default
        value = raw.strip()
        bad = sorted(set(value) - DTMF_KEYS)
        if bad:
            raise self.error(element, f"{''.join(bad)!r} are not DTMF keys (0-9 * # A-D)", attr)
        return value

    def name(self, element: etree._Element, attr: str) -> str:
        name = element.get(attr, "").strip()
        if not name or not (name[0].isalpha() or name[0] == "_") or not all(
                c.isalnum() or c == "_" for c in name):
            raise self.error(element, f"{name!r} is not a variable name (letters, digits, _)",
                             attr)
        return name

    def commands(self, parent: etree._Element) -> tuple[Command, ...]:
        return tuple(self.command(child) for child in parent if isinstance(child.tag, str))

    def command(self, el: etree._Element) -> Command:
        line = el.sourceline or 0
        tag = el.tag
        if tag == "Speak":
            return Speak(line, self.body(el, "Text", required="the text to speak"),
                         el.get("Language", ""), el.get("Voice", ""),
                         self.integer(el, "Rate", 0, minimum=0))
        if tag == "Play":
            return self.play(el, line)
        if tag == "Delay":
            seconds = self.number(el, "Time", -1.0, text=self.body(el, "Time"))
            if seconds < 0:
                raise self.error(el, "the number of seconds is required")
            return Delay(line, seconds)
        if tag == "Beep":
            return Beep(line, self.number(el, "Duration", 0.5))
        if tag in ("Hangup", "Reject", "Exit"):
            return {"Hangup": Hangup, "Reject": Reject, "Exit": Exit}[tag](line)
        if tag == "UserInput":
            return self.user_input(el, line)
        if tag == "SendSms":
            return SendSms(line, self.body(el, "Message", required="the message text"),
                           el.get("Recipient", "").strip(), el.get("Sender", "").strip(),
                           el.get("DeliveryReportURL", "").strip())
        if tag == "Var":
            return Var(line, self.name(el, "Id"), self.body(el, "Value"))
        if tag in ("GoTo", "Request"):
            method = el.get("Method", "POST").strip().upper()
            if method not in ("GET", "POST"):
                raise self.error(el, f"expected GET or POST, got {method!r}", "Method")
            target = self.body(el, "Url", required="the URL")
            return GoTo(line, target, method, tag, sql=bool(_SQL.match(target)))
        if tag == "Record":
            return self.record(el, line)
        if tag == "BlindTransfer":
            return BlindTransfer(line, self.body(el, "Target", required="Target"))
        if tag == "Forward":
            return Forward(line, self.body(el, "Destination", required="Destination"))
        if tag == "SendDTMF":
            keys = self.body(el, "Keys", required="Keys")
            bad = sorted(set(keys) - DTMF_KEYS - set(","))
            if bad:
                raise self.error(el, f"{''.join(bad)!r} are not DTMF keys (0-9 * # A-D)",
                                 "Keys")
            return SendDtmf(line, keys)
        if tag == "Call":
            url = el.get("Url", "").strip()
            if not url:
                raise self.error(el, "Url is required (the OzML run when the call connects)",
                                 "Url")
            return CallOut(line, self.body(el, "Dialled", required="the number to dial"), url,
                           el.get("ErrorUrl", "").strip(), el.get("CallerId", "").strip())
        if tag == "SendEmail":
            return SendEmail(line, el.get("Recipient", "").strip(), self.body(el, "Message"),
                             el.get("Subject", ""), el.get("Sender", "").strip())
        if tag == "Array":
            return Array(line, self.name(el, "Id"),
                         tuple((item.text or "").strip() for item in el
                               if isinstance(item.tag, str)))
        if tag == "ForEach":
            return ForEach(line, self.name(el, "Source"), self.commands(el))
        if tag == "DeleteFile":
            return DeleteFile(line, self.body(el, "File", required="the file to delete"))
        if tag == "MoveFile":
            return MoveFile(line, el.get("Source", "").strip(),
                            el.get("Destination", "").strip())
        if tag == "ReceiveAlarmNotification":
            received = next((self.commands(c) for c in el if c.tag == "Received"), ())
            return ReceiveAlarm(line, self.number(el, "Timeout", 10.0), received)
        if tag == "SendAlarmNotification":
            return self.send_alarm(el, line)
        if tag == "Unsupported":
            return Unsupported(line, el.get("Name", ""))
        if tag in callverbs.TAGS:
            return callverbs.build(self, el, line)
        raise self.error(el, "is not a command here")  # schema forbids this; be explicit

    def send_alarm(self, el: etree._Element, line: int) -> SendAlarm:
        """Ozeki's parameters (p_5554): digits of fixed widths, zero-padded."""
        def digits(attr: str, width: int) -> str:
            value = el.get(attr, "").strip()
            if not value:
                raise self.error(el, f"{attr} is required", attr)
            if not value.isdigit() or len(value) > width:
                raise self.error(el, f"expected at most {width} digits, got {value!r}", attr)
            return value.rjust(width, "0")

        qualifiers = {"newevent": "1", "newrestore": "3", "statusreport": "6"}
        raw = el.get("EventQualifier", "NewEvent").strip().lower()
        if raw not in qualifiers:
            raise self.error(el, f"expected NewEvent, NewRestore or StatusReport, got {raw!r}",
                             "EventQualifier")
        return SendAlarm(line, self.body(el, "PhoneNumber", required="PhoneNumber"),
                         digits("AccountNumber", 4), digits("EventCode", 3),
                         digits("PartitionNumber", 2), digits("ZoneNumber", 3),
                         qualifiers[raw], el.get("ResultUrl", "").strip())

    def play(self, el: etree._Element, line: int) -> Play:
        source = self.body(el, "AudioFile", required="the audio file or URL")
        raw = (el.get("Repeat") or "").strip().lower()
        timeout = self.number(el, "Timeout", 0.0)
        if raw in ("", "false", "no", "0"):
            repeat = 1
        elif raw in ("true", "yes"):
            repeat = UNLIMITED   # Ozeki: until Timeout, else until the call's safety limit
        else:
            repeat = self.integer(el, "Repeat", 1, minimum=1)
        return Play(line, source, repeat, timeout)

    def user_input(self, el: etree._Element, line: int) -> UserInput:
        prompt: tuple[Command, ...] = ()
        inputs: list[Input] = []
        no_input = invalid = None
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag == "InitialCommands":
                prompt = self.commands(child)
            elif child.tag == "Inputs":
                for item in child:
                    if isinstance(item.tag, str):
                        key = self.keys(item, "Key", "")
                        if not key:
                            raise self.error(item, "Key must name the digits to press", "Key")
                        if any(existing.key == key for existing in inputs):
                            raise self.error(item, f"key {key!r} is used twice in this menu",
                                             "Key")
                        inputs.append(Input(item.sourceline or 0, key, self.commands(item)))
            elif child.tag == "NoInput":
                no_input = self.commands(child)
            elif child.tag == "Invalid":
                invalid = self.commands(child)
        finish = self.keys(el, "FinishOnKey", "")
        if len(finish) > 1:
            raise self.error(el, f"one key or empty, got {finish!r}", "FinishOnKey")
        back = self.keys(el, "BackKey", "")
        if len(back) > 1:
            raise self.error(el, f"one key, got {back!r}", "BackKey")
        repeat = self.boolean(el, "Repeat", False)
        digits = self.integer(el, "Digits", 1, minimum=1)    # Ozeki's default: one key
        min_digits = self.integer(el, "MinDigits", 0, minimum=0)
        digits = self.integer(el, "MaxDigits", max(digits, min_digits), minimum=1)
        if min_digits > digits:
            raise self.error(el, f"MinDigits {min_digits} is more than MaxDigits {digits}",
                             "MinDigits")
        return UserInput(
            line, prompt, tuple(inputs), no_input, invalid,
            timeout=self.number(el, "Timeout", 0.0),
            repeat=repeat,
            max_repeats=self.integer(el, "MaxRepeats", UNLIMITED if repeat else 0,
                                     minimum=0),
            digits=digits,
            min_digits=min_digits,
            back_key=back,
            forward_to_url=el.get("ForwardToUrl", "").strip(),
            finish_on_key=finish,
            inter_digit_timeout=self.number(el, "InterDigitTimeout", 3.0),
            barge_in=self.boolean(el, "BargeIn", True),
        )

    def record(self, el: etree._Element, line: int) -> Record:
        fmt = el.get("Format", "mp3").strip().lower()
        if fmt not in ("wav", "mp3"):
            raise self.error(el, f"expected mp3 or wav, got {fmt!r}", "Format")
        return Record(line,
                      duration=self.number(el, "Duration", 3600.0),
                      inactivity=self.number(el, "Inactivity", 5.0),
                      format=fmt,
                      finish_digits=self.keys(el, "FinishDigits", "1234567890*#"),
                      finished_url=el.get("FinishedUrl", "").strip(),
                      beep=self.boolean(el, "Beep", False),
                      record_path=el.get("RecordPath", "").strip())


from ivr.ozml import callverbs  # noqa: E402 (it builds on Command, defined above)


def build_script(document: ParsedDocument) -> Script:
    """Typed commands of a parsed document; raises OzmlError for a bad attribute value."""
    builder = _Builder(document)
    return Script(builder.commands(document.root), document.source, tuple(document.warnings))
