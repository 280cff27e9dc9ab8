"""Parsing: safety, case-insensitivity, located errors, warnings for unknown attributes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ivr.errors import OzmlError
from ivr.ozml.parser import parse_document
from ivr.ozml.verbs import build_script

SEED_004 = (b'<?xml version="1.0"?> <Response> <Speak>An SMS will be sent to +062554670.</Speak> '
            b'<SendSms Recipient="+062554670">Hello! How are you?</SendSms> <Speak>The SMS has '
            b'been sent.</Speak> <Hangup></Hangup> </Response>')


def error_of(data: bytes | str) -> OzmlError:
    with pytest.raises(OzmlError) as info:
        build_script(parse_document(data, "s.xml"))
    return info.value


def test_seed_example_parses() -> None:
    document = parse_document(SEED_004, "seed.xml")
    assert [e.tag for e in document.root] == ["Speak", "SendSms", "Speak", "Hangup"]
    assert document.warnings == []


def test_names_are_case_insensitive_and_normalised() -> None:
    script = build_script(parse_document(
        b'<response><speak>hi</speak><userinput timeout="2" REPEAT="true"><inputs>'
        b'<input key="1"><hangup/></input></inputs></userinput><var id="x">1</var></response>'))
    names = [type(c).__name__ for c in script.commands]
    assert names == ["Speak", "UserInput", "Var"]


@pytest.mark.parametrize(("data", "line", "col", "fragment"), [
    (b"<Response>\n  <Speek>x</Speek>\n</Response>", 2, 3, "unknown command <Speek> (did you mean <Speak>?)"),
    (b"<Response>\n<Dance/></Response>", 2, 1, "unknown command <Dance>"),
    (b"<Response><Speak>x</Response>", 1, 30, "XML parse error"),
    (b"<Response></Response>", 1, 1, "<Response> is empty"),
    (b"<Response/>", 1, 1, "<Response> is empty"),
    (b"<Speak>x</Speak>", 1, 1, "root element must be <Response>"),
    (b"", 1, 1, "empty document"),
    (b"<Response>\n<Hangup>now</Hangup></Response>", 2, 1, "<Hangup> cannot contain text"),
    (b"<Response>\n<Var>x</Var></Response>", 2, 1, "missing a required attribute"),
    (b'<Response>\n  <UserInput Timeout="soon"/></Response>', 2, 14, "Timeout: expected a number"),
    (b'<Response><UserInput Digits="two"/></Response>', 1, 22, "Digits: expected a whole number"),
    (b'<Response><UserInput Repeat="maybe"/></Response>', 1, 22, "expected true or false"),
    (b'<Response><UserInput FinishOnKey="x"/></Response>', 1, 22, "not DTMF keys"),
    (b'<Response><Delay>later</Delay></Response>', 1, 11, "expected a number of seconds"),
    (b'<Response><Delay/></Response>', 1, 11, "number of seconds is required"),
    (b'<Response><Speak/></Response>', 1, 11, "text to speak"),
    (b'<Response><Speak Text="a">b</Speak></Response>', 1, 18, "not both"),
    (b'<Response><GoTo Method="PUT">x</GoTo></Response>', 1, 17, "GET or POST"),
    (b'<Response><Record Format="ogg"/></Response>', 1, 19, "expected mp3 or wav"),
    (b'<Response><Call>123</Call></Response>', 1, 11, "Url is required"),
    (b'<Response><SendDTMF Keys="12x"/></Response>', 1, 21, "not DTMF keys"),
    (b'<Response><Var Id="1x">v</Var></Response>', 1, 16, "not a variable name"),
    (b'<Response><UserInput><Inputs><Input Key="1"/><Input Key="1"/></Inputs></UserInput>'
     b'</Response>', 1, 53, "used twice"),
    (b'<Response><SendSms DeliveryReportURL="a" DelivaryReportURL="b">x</SendSms></Response>',
     1, 42, "twice"),
])
def test_errors_are_located(data: bytes, line: int, col: int, fragment: str) -> None:
    error = error_of(data)
    assert fragment in error.message
    assert (error.line, error.col) == (line, col)
    assert str(error).startswith(f"s.xml:{line}:{col}: ")


def test_unknown_attribute_is_a_warning_and_dropped() -> None:
    document = parse_document(b'<Response>\n<Speak Colour="red">hi</Speak></Response>', "w.xml")
    assert len(document.warnings) == 1
    warning = document.warnings[0]
    assert (warning.severity, warning.line, warning.col) == ("warning", 2, 8)
    assert "no attribute 'Colour'" in warning.message
    assert "Colour" not in document.root[0].attrib


def test_alias_delivary_report_url() -> None:
    script = build_script(parse_document(
        b'<Response><SendSms DelivaryReportURL="http://a/b">hi</SendSms></Response>'))
    assert script.commands[0].delivery_report_url == "http://a/b"  # type: ignore[attr-defined]


def test_leading_whitespace_keeps_line_numbers() -> None:
    error = error_of(b"\n\n<Response>\n<Speek/></Response>")
    assert error.line == 4


def test_xxe_is_refused_without_reading(tmp_path: object) -> None:
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            b"<Response><Speak>&x;</Speak></Response>")
    error = error_of(data)
    assert "DOCTYPE" in error.message and error.line == 2
    assert "root:" not in str(error)


def test_billion_laughs_is_refused_quickly() -> None:
    lol = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10 if i > 1 else b"&lol;" * 10)
        for i in range(1, 10))
    data = b"<!DOCTYPE lolz [" + lol + b"]><Response><Speak>&lol9;</Speak></Response>"
    started = time.monotonic()
    error = error_of(data)
    assert time.monotonic() - started < 1.0
    assert "not allowed" in error.message


def test_entity_without_doctype_is_not_expanded() -> None:
    error = error_of(b"<Response><Speak>&nbsp;</Speak></Response>")
    assert "XML parse error" in error.message


def test_ten_megabytes_is_refused_unparsed() -> None:
    data = b"<Response>" + b"<Speak>x</Speak>" * (10 * 1024 * 1024 // 16) + b"</Response>"
    started = time.monotonic()
    error = error_of(data)
    assert "over the 1000000-byte limit" in error.message
    assert time.monotonic() - started < 1.0


def test_numeric_character_references_are_decoded() -> None:
    script = build_script(parse_document(b"<Response><Speak>caf&#233; &amp; bar</Speak></Response>"))
    assert script.commands[0].text == "café & bar"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", sorted(
    (Path(__file__).resolve().parents[3] / "ozml_scripts").glob("*.xml")), ids=lambda p: p.name)
def test_table_validator_agrees_with_the_relax_ng_schema(path: Path) -> None:
    """schema.rng stays the source of truth: what the compiled table accepts, libxml2's RELAX
    NG validator accepts too (after names are normalised)."""
    from importlib import resources

    from lxml import etree

    from ivr.ozml.parser import RAW_TAG

    rng = etree.RelaxNG(etree.fromstring(
        resources.files("ivr.ozml").joinpath("schema.rng").read_bytes()))
    root = parse_document(path.read_bytes(), str(path)).root
    for element in root.iter():
        element.attrib.pop(RAW_TAG, None)
    assert rng.validate(root), rng.error_log.last_error


@pytest.mark.parametrize("body", [
    "<Hangup>x</Hangup>", "<Array Id='a'><Speak>x</Speak></Array>", "<MoveFile Source='a'/>",
    "<UserInput><Speak>x</Speak></UserInput>", "<ForEach><Speak>x</Speak></ForEach>",
])
def test_table_validator_refuses_what_relax_ng_refuses(body: str) -> None:
    with pytest.raises(OzmlError):
        build_script(parse_document(f"<Response>{body}</Response>"))
