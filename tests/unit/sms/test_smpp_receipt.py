"""Pure SMPP helpers: receipt text and TLVs, id normalisation (Kannel msg-id-type), errors."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.sms import store
from ivr.sms.message import Status
from ivr.sms.transports.smpp_receipt import (
    canonical_ids,
    convert_receipt_id,
    error_for_status,
    is_receipt,
    normalise_id,
    parse_receipt_text,
    receipt_from_fields,
)

APPENDIX_B = ("id:0123456789 sub:001 dlvrd:001 submit date:2611230854 done date:2611230855 "
              "stat:DELIVRD err:000 text:Hello world and more")


def test_appendix_b_receipt_fields() -> None:
    fields = parse_receipt_text(APPENDIX_B)
    assert fields == {"id": "0123456789", "sub": "001", "dlvrd": "001",
                      "submit date": "2611230854", "done date": "2611230855",
                      "stat": "DELIVRD", "err": "000", "text": "Hello world and more"}
    receipt = receipt_from_fields(APPENDIX_B)
    assert receipt is not None
    assert (receipt.message_id, receipt.status, receipt.error_code) == (
        "0123456789", Status.DELIVERED, None)
    assert receipt.done_at == dt.datetime(2026, 11, 23, 8, 55, tzinfo=dt.UTC)


@pytest.mark.parametrize(("stat", "status", "code"), [
    ("DELIVRD", Status.DELIVERED, None),
    ("UNDELIV", Status.UNDELIVERED, 30003),
    ("EXPIRED", Status.UNDELIVERED, 30003),
    ("DELETED", Status.UNDELIVERED, 30008),
    ("UNKNOWN", Status.UNDELIVERED, 30008),
    ("REJECTD", Status.FAILED, 30007),
    ("ENROUTE", Status.SENT, None),      # not final: never reported as delivered
    ("ACCEPTD", Status.SENT, None),
    ("whatever", Status.UNDELIVERED, 30008),
])
def test_stat_mapping(stat: str, status: Status, code: int | None) -> None:
    receipt = receipt_from_fields(f"id:7 sub:001 dlvrd:000 stat:{stat} err:001 text:x")
    assert receipt is not None and (receipt.status, receipt.error_code) == (status, code)


def test_tlvs_win_over_text_and_suffice_alone() -> None:
    receipt = receipt_from_fields("id:1 stat:DELIVRD", receipted_message_id="ABC",
                                  message_state=5)
    assert receipt is not None and (receipt.message_id, receipt.stat) == ("ABC", "UNDELIV")
    only_tlv = receipt_from_fields("", receipted_message_id="99", message_state=2)
    assert only_tlv is not None and only_tlv.status == Status.DELIVERED


@pytest.mark.parametrize("text", ["", "hello", "stat:DELIVRD", "id:5 text:no status"])
def test_not_a_receipt(text: str) -> None:
    assert receipt_from_fields(text) is None


def test_lower_case_and_seconds_in_dates() -> None:
    receipt = receipt_from_fields("ID:ab12 Sub:1 Dlvrd:1 Submit date:261123085401 "
                                  "Done date:261123085502 Stat:delivrd Err:0 Text:")
    assert receipt is not None and receipt.status == Status.DELIVERED
    assert receipt.done_at == dt.datetime(2026, 11, 23, 8, 55, 2, tzinfo=dt.UTC)


@pytest.mark.parametrize(("esm_class", "expected"), [
    (0x00, False), (0x40, False), (0x04, True), (0x08, True), (0x20, True), (0x44, True)])
def test_esm_class_receipt_bits(esm_class: int, expected: bool) -> None:
    assert is_receipt(esm_class) is expected


@pytest.mark.parametrize(("submit_id", "receipt_id"), [
    ("1F0000", "2031616"),        # hex in submit_sm_resp, decimal in the receipt
    ("2031616", "1f0000"),        # the reverse
    ("00001f0000", "1F0000"),     # leading zeros and case
    ("abc-123", "ABC-123"),       # opaque ids: case only
])
def test_receipt_matches_stored_submit_id(submit_id: str, receipt_id: str) -> None:
    assert normalise_id(submit_id) in canonical_ids(receipt_id)


@pytest.mark.parametrize(("raw", "fmt", "expected"), [
    ("2031616", "hex", "1f0000"), ("1F0000", "dec", "2031616"),
    ("1f0000", "hex", "1f0000"), ("abc-1", "dec", "abc-1"), ("0042", "auto", "42")])
def test_convert_receipt_id(raw: str, fmt: str, expected: str) -> None:
    assert convert_receipt_id(raw, fmt) == expected


@given(st.one_of(st.text(alphabet="0123456789abcdefABCDEF-x", min_size=1, max_size=20),
                 st.integers(0, 2**64).map(str)))
def test_same_rule_as_the_store(raw: str) -> None:
    assert canonical_ids(raw) == store.canonical_ids(raw)


@given(st.integers(1, 2**63))
def test_hex_dec_round_trip(number: int) -> None:
    assert normalise_id(format(number, "X")) in canonical_ids(str(number))
    assert normalise_id(str(number)) in canonical_ids(format(number, "x"))


@pytest.mark.parametrize(("status", "code", "retryable", "error_code"), [
    (0x58, "ESME_RTHROTTLED", True, 30001),
    (0x14, "ESME_RMSGQFUL", True, 30001),
    (0x08, "ESME_RSYSERR", True, 30008),
    (0x0B, "ESME_RINVDSTADR", False, 30005),
    (0xFE, "ESME_RDELIVERYFAILURE", False, 30003),
    (0x0A, "ESME_RINVSRCADR", False, 30007),
    (0x1234, "0x00001234", False, 30008),
])
def test_error_mapping(status: int, code: str, retryable: bool, error_code: int) -> None:
    error = error_for_status(status)
    assert (error.code, error.retryable, error.error_code) == (code, retryable, error_code)
