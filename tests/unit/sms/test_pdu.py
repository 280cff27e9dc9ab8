"""PDU codec: published golden PDUs, field tables, and hypothesis round trips."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.sms.encoding import GSM7_BASIC, GSM7_EXTENSION, gsm7_encode, pack_septets, unpack_septets
from ivr.sms.message import Status
from ivr.sms.pdu import (
    Concat,
    PduError,
    decode_deliver,
    decode_pdu,
    decode_status_report,
    decode_submit,
    decode_timestamp,
    encode_deliver,
    encode_status_report,
    encode_submit,
    encode_submit_parts,
    status_from_tp_st,
    validity_octet,
)

GOLDEN = json.loads((Path(__file__).parents[2] / "data" / "pdu" / "golden.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["submit"], ids=lambda c: c["text"])
def test_submit_matches_published_pdu(case: dict) -> None:
    pdu = encode_submit(case["recipient"], case["text"], status_report=case["status_report"],
                        validity_minutes=case["validity_minutes"])
    assert pdu.hex == case["hex"]
    assert pdu.tpdu_length == case["tpdu_length"]
    back = decode_submit(pdu.hex)
    assert (back.recipient, back.text) == (case["recipient"], case["text"])


@pytest.mark.parametrize("case", GOLDEN["deliver"], ids=lambda c: c["sender"])
def test_deliver_matches_published_pdu(case: dict) -> None:
    sms = decode_deliver(case["hex"])
    assert (sms.smsc, sms.sender, sms.text) == (case["smsc"], case["sender"], case["text"])
    assert sms.timestamp is not None
    assert sms.timestamp.replace(tzinfo=None).isoformat() == case["timestamp"]


@pytest.mark.parametrize("case", GOLDEN["status_report"], ids=lambda c: str(c["reference"]))
def test_status_report_golden(case: dict) -> None:
    report = decode_status_report(case["hex"])
    assert report.reference == case["reference"]
    assert report.recipient == case["recipient"]
    assert report.tp_status == case["tp_status"]
    assert report.status == Status(case["status"])
    assert report.smsc == case.get("smsc", "")
    assert report.timestamp == dt.datetime.fromisoformat(case["timestamp"])
    assert isinstance(decode_pdu(case["hex"]), type(report))


@pytest.mark.parametrize("tp_st,status", [
    (0x00, Status.DELIVERED), (0x02, Status.DELIVERED), (0x1F, Status.DELIVERED),
    (0x20, Status.SENT), (0x30, Status.SENT), (0x3F, Status.SENT),
    (0x40, Status.UNDELIVERED), (0x46, Status.UNDELIVERED), (0x65, Status.UNDELIVERED),
    (0xFF, Status.UNDELIVERED),
])
def test_tp_status_mapping(tp_st: int, status: Status) -> None:
    assert status_from_tp_st(tp_st) == status


def test_first_octet_bits_and_silent_pid() -> None:
    pdu = encode_submit("+15551234567", "hi", status_report=True, silent=True)
    data = bytes.fromhex(pdu.hex)
    assert data[0] == 0x00                  # SCA empty: the SIM's SMSC
    assert data[1] == 0x31                  # SUBMIT | VPF relative | SRR
    assert data[2] == 0x00                  # TP-MR left to the modem
    assert data[3:5] == b"\x0b\x91"         # 11 digits, international
    sub = decode_submit(pdu.hex)
    assert sub.pid == 0x40 and sub.status_report and sub.validity == 1440
    national = decode_submit(encode_submit("0612345678", "hi", validity_minutes=None).hex)
    assert national.recipient == "0612345678" and national.validity is None
    assert bytes.fromhex(encode_submit("0612", "x", validity_minutes=None).hex)[3:5] == b"\x04\x81"


def test_concatenated_gsm7_header_and_fill_bits() -> None:
    text = "".join(GSM7_BASIC[i % 128] for i in range(300) if GSM7_BASIC[i % 128] != "\x1b")
    parts = encode_submit_parts("+15551234567", text, concat_reference=0xAB)
    assert len(parts) == 2
    first = bytes.fromhex(parts[0].hex)
    # SCA, FO 0x71 (UDHI|SRR|VPF|SUBMIT), MR, DA(2+6), PID, DCS, VP, UDL=160, UDH
    assert first[1] == 0x71
    assert first[14] == 160
    assert first[15:21] == bytes.fromhex("050003AB0201")
    assert parts[0].tpdu_length == len(first) - 1
    decoded = [decode_submit(p.hex) for p in parts]
    assert [d.concat for d in decoded] == [Concat(0xAB, 2, 1), Concat(0xAB, 2, 2)]
    assert "".join(d.text for d in decoded) == text


def test_ucs2_astral_long_message_parts() -> None:
    text = "😀" * 40 + "é" * 20      # 100 UTF-16 units: 2 parts, pairs never split
    parts = encode_submit_parts("+15551234567", text)
    decoded = [decode_submit(p.hex) for p in parts]
    assert all(d.dcs == 0x08 for d in decoded)
    assert "".join(d.text for d in decoded) == text
    assert all(bytes.fromhex(p.hex)[14] <= 140 for p in parts)


def test_validity_periods() -> None:
    assert [validity_octet(m) for m in (5, 60, 720, 750, 1440, 2880, 43200, 100000)] == [
        0, 11, 143, 144, 167, 168, 196, 202]


def test_timestamp_zone_sign() -> None:
    # 26/08/02 19:37:41, zone octet 0x88: low semi-octet 8 = sign bit + tens 0, high = units 8 -> -2h
    stamp = decode_timestamp(bytes.fromhex("20806291731488"))
    assert stamp.utcoffset() == dt.timedelta(hours=-2)
    assert decode_timestamp(bytes.fromhex("20806291731480")).utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize("bad", ["", "zz", "00", "0001", "0011000B91", "0006"])
def test_garbage_raises_pdu_error(bad: str) -> None:
    with pytest.raises(PduError):
        decode_pdu(bad) if len(bad) != 10 else decode_submit(bad)


def test_bad_recipient() -> None:
    with pytest.raises(PduError):
        encode_submit("+1-555", "x")


GSM_CHARS = st.sampled_from([c for c in GSM7_BASIC if c != "\x1b"] + list(GSM7_EXTENSION))
NUMBERS = st.from_regex(r"\+?[1-9][0-9]{2,14}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(NUMBERS, st.text(GSM_CHARS, min_size=1, max_size=500), st.integers(0, 255))
def test_gsm7_submit_round_trip(number: str, text: str, ref: int) -> None:
    parts = encode_submit_parts(number, text, concat_reference=ref)
    decoded = [decode_submit(p.hex) for p in parts]
    assert "".join(d.text for d in decoded) == text
    assert all(d.recipient == number for d in decoded)
    assert all(p.tpdu_length == len(bytes.fromhex(p.hex)) - 1 for p in parts)


@settings(max_examples=100, deadline=None)
@given(NUMBERS, st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300))
def test_any_text_submit_round_trip(number: str, text: str) -> None:
    decoded = [decode_submit(p.hex) for p in encode_submit_parts(number, text)]
    assert "".join(d.text for d in decoded) == text
    if len(decoded) > 1:
        assert [d.concat.sequence for d in decoded if d.concat] == list(
            range(1, len(decoded) + 1))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_septet_packing_round_trip(septets: bytes, fill: int) -> None:
    assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets


@settings(max_examples=100, deadline=None)
@given(NUMBERS, st.text(GSM_CHARS, max_size=150),
       st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)),
       st.integers(-48, 56))
def test_deliver_and_report_round_trip(number: str, text: str, when: dt.datetime,
                                       quarters: int) -> None:
    stamp = when.replace(microsecond=0, tzinfo=dt.timezone(dt.timedelta(minutes=15 * quarters)))
    sms = decode_deliver(encode_deliver(number, text, stamp, smsc="+4477001"))
    assert (sms.sender, sms.text, sms.timestamp, sms.smsc) == (number, text, stamp, "+4477001")
    report = decode_status_report(encode_status_report(200, number, stamp, stamp, 0x21))
    assert (report.reference, report.recipient, report.status) == (200, number, Status.SENT)
    assert report.discharge == stamp


def test_gsm7_encode_escape_counts() -> None:
    assert gsm7_encode("€") == b"\x1b\x65"
    assert decode_submit(encode_submit("+1555", "{€}", validity_minutes=None).hex).text == "{€}"


@pytest.mark.parametrize("case", GOLDEN["submit_decode"], ids=lambda c: c["text"][:12])
def test_decode_submits_produced_by_gammu(case: dict) -> None:
    sub = decode_submit(case["hex"])
    assert (sub.recipient, sub.text, sub.dcs, sub.status_report) == (
        case["recipient"], case["text"], case["dcs"], case["status_report"])
    assert sub.concat == (Concat(*case["concat"]) if case["concat"] else None)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=180))
def test_decoders_reject_garbage_only_with_pdu_error(data: bytes) -> None:
    for decode in (decode_pdu, decode_submit, decode_deliver, decode_status_report):
        try:
            decode(data.hex())
        except PduError:
            pass
