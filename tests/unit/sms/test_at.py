"""AT framing: finals, intermediates, URCs in the middle of commands, the CMGS prompt, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.sms.transports.at import (
    AtParser,
    Final,
    Prompt,
    Urc,
    parse_fields,
    signal_dbm,
    transport_error,
)


def feed_all(parser: AtParser, *chunks: bytes) -> list:
    events: list = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


def test_ok_with_intermediate_line_split_across_reads() -> None:
    p = AtParser()
    p.begin("AT+CREG?")
    events = feed_all(p, b"\r\n+CRE", b"G: 0,1\r", b"\n\r\nOK", b"\r\n")
    assert events == [Final(True, ["+CREG: 0,1"], "OK", None, "OK")]
    assert events[0].info("+CREG:") == ["0,1"]


def test_echo_is_dropped_and_info_without_prefix_kept() -> None:
    p = AtParser()
    p.begin("AT+CGMI")
    events = p.feed(b"AT+CGMI\r\r\nIVR Simulated\r\n\r\nOK\r\n")
    assert events == [Final(True, ["IVR Simulated"], "OK", None, "OK")]


@pytest.mark.parametrize("line,kind,code", [
    (b"ERROR", "ERROR", None), (b"+CMS ERROR: 330", "CMS", 330), (b"+CME ERROR: 10", "CME", 10),
])
def test_error_finals(line: bytes, kind: str, code: int | None) -> None:
    p = AtParser()
    p.begin("AT+CMGS=20")
    [final] = p.feed(b"\r\n" + line + b"\r\n")
    assert isinstance(final, Final) and not final.ok
    assert (final.kind, final.code) == (kind, code)
    assert p.pending is None


def test_prompt_then_cmgs_with_urc_in_the_middle() -> None:
    p = AtParser()
    p.begin("AT+CMGS=23")
    assert p.feed(b"\r\n> ") == [Prompt()]
    events = p.feed(b"\r\n+CMTI: \"SM\",3\r\n\r\n+CMGS: 17\r\n\r\nOK\r\n")
    assert events[0] == Urc("+CMTI", '"SM",3')
    assert isinstance(events[1], Final) and events[1].info("+CMGS:") == ["17"]


def test_two_line_urcs_pdu_and_text_modes() -> None:
    p = AtParser()
    events = p.feed(b"\r\n+CDS: 25\r\n00064D0B915155214365F7\r\n+CMT: ,24\r\n0791ABCD\r\n"
                    b"+CDS: 6,77,\"+1555\",145,\"26/01/02,03:04:05+00\",\"26/01/02,03:04:06+00\",0"
                    b"\r\nRING\r\n")
    assert events == [
        Urc("+CDS", "25", "00064D0B915155214365F7"),
        Urc("+CMT", ",24", "0791ABCD"),
        Urc("+CDS", '6,77,"+1555",145,"26/01/02,03:04:05+00","26/01/02,03:04:06+00",0'),
        Urc("RING", "RING"),
    ]


def test_creg_is_a_urc_unless_asked_for() -> None:
    p = AtParser()
    assert p.feed(b"\r\n+CREG: 1\r\n") == [Urc("+CREG", "1")]
    p.begin("AT+CMGF=0")
    assert p.feed(b"\r\n+CREG: 5\r\n\r\nOK\r\n") == [Urc("+CREG", "5"), Final(True, [])]


def test_cancel_turns_late_lines_into_urcs() -> None:
    p = AtParser()
    p.begin("AT")
    p.cancel()
    assert p.feed(b"\r\nOK\r\n") == [Urc("OK", "OK")]


def test_parse_fields_quotes() -> None:
    assert parse_fields('"SM",3') == ["SM", "3"]
    assert parse_fields('0,"+1,555",145') == ["0", "+1,555", "145"]


@pytest.mark.parametrize("code,retryable,error_code", [
    (330, True, 30008), (38, True, 30008), (331, True, 30003), (515, True, 30008),
    (1, False, 30005), (8, False, 30004), (21, False, 30007), (304, False, 30008),
    (99, False, 30008), (540, True, 30008),
])
def test_cms_mapping(code: int, retryable: bool, error_code: int) -> None:
    err = transport_error(Final(False, [], "CMS", code, f"+CMS ERROR: {code}"), "AT+CMGS=20")
    assert (err.code, err.retryable, err.error_code) == (f"CMS {code}", retryable, error_code)
    assert "AT+CMGS=20" in str(err)


def test_cme_and_plain_error_mapping() -> None:
    assert transport_error(Final(False, [], "CME", 10, "+CME ERROR: 10")).retryable
    assert not transport_error(Final(False, [], "CME", 4, "+CME ERROR: 4")).retryable
    plain = transport_error(Final(False, [], "ERROR", None, "ERROR"))
    assert plain.retryable and plain.code == "ERROR"


STREAM = (b"\r\n+CMTI: \"SM\",1\r\n\r\n+CREG: 0,1\r\n\r\nOK\r\n\r\n+CDS: 25\r\n"
          b"00064D0B915155214365F7\r\n\r\nRING\r\n\r\n+CMS ERROR: 330\r\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, len(STREAM) - 1), max_size=12, unique=True))
def test_events_do_not_depend_on_read_boundaries(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    p = AtParser()
    p.begin("AT+CREG?")
    events: list = []
    for a, b in zip(points, points[1:], strict=False):
        events += p.feed(STREAM[a:b])
    assert events == [
        Urc("+CMTI", '"SM",1'),
        Final(True, ["+CREG: 0,1"]),
        Urc("+CDS", "25", "00064D0B915155214365F7"),
        Urc("RING", "RING"),
        Urc("+CMS ERROR", "330"),       # no command pending: reported, not swallowed
    ]


@pytest.mark.parametrize(("answer", "dbm"), [
    ("+CSQ: 20,99", -73), ("+CSQ: 0,0", -113), ("+CSQ: 31,99", -51),
    ("+CSQ: 99,99", None), ("+CSQ:", None), ("OK", None),
])
def test_signal_dbm_ts_27_007(answer: str, dbm: int | None) -> None:
    assert signal_dbm(answer) == dbm
