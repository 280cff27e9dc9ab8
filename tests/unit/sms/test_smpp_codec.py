"""The SMPP transport's own reading of submit_sm_resp and writing of deliver_sm_resp (its
two most frequent PDUs) agree byte for byte with smpplib's."""

from __future__ import annotations

import pytest
from smpplib import smpp

from ivr.sms.transports.smpp import _make, deliver_sm_resp, submit_sm_resp


@pytest.mark.parametrize(("sequence", "status", "message_id"), [
    (1, 0, "00001F0006"), (0x7FFFFFFF, 0, "1234567890"), (42, 0, ""),
    (7, 0x58, ""), (8, 0x45, ""),
])
def test_submit_sm_resp_reads_as_smpplib_does(sequence: int, status: int,
                                              message_id: str) -> None:
    raw = _make("submit_sm_resp", sequence, status=status, message_id=message_id).generate()
    assert submit_sm_resp(raw) == (sequence, status, message_id)
    parsed = smpp.parse_pdu(raw, client=None, sequence=0, allow_unknown_opt_params=True)
    assert parsed.status == status


def test_submit_sm_resp_without_a_body() -> None:
    """SMPP 3.4 §4.4.2: no body when command_status is an error."""
    raw = bytes.fromhex("00000010" "80000004" "00000058" "00000009")
    assert submit_sm_resp(raw) == (9, 0x58, "")


@pytest.mark.parametrize("status", [0, 0x64])
def test_deliver_sm_resp_is_what_smpplib_writes(status: int) -> None:
    assert deliver_sm_resp(77, status) == _make("deliver_sm_resp", 77, status=status).generate()
