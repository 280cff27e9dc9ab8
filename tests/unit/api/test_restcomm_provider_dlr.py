"""Provider DLR webhooks, pure parts: Restcomm StatusCallback and generic id/status reports."""

from __future__ import annotations

import pytest

from ivr.api.provider_dlr import parse_generic_dlr, parse_restcomm_callback
from ivr.errors import ValidationError
from ivr.sms.message import Status


def test_restcomm_callback() -> None:
    report = parse_restcomm_callback("cpaas", {
        "MessageSid": "SMabc", "MessageStatus": "undelivered", "ErrorCode": "30003",
        "AccountSid": "AC1", "From": "1", "To": "2", "Body": "secret"})
    assert (report.transport, report.provider_id, report.status, report.error_code) == (
        "cpaas", "SMabc", Status.UNDELIVERED, 30003)
    assert "secret" not in report.raw
    assert parse_restcomm_callback("c", {"MessageSid": "S", "MessageStatus": "sent"}
                                   ).status == Status.SENT


@pytest.mark.parametrize("params,param", [
    ({"MessageStatus": "sent"}, "MessageSid"),
    ({"MessageSid": "S", "MessageStatus": "lost"}, "MessageStatus"),
    ({"MessageSid": "S", "MessageStatus": "failed", "ErrorCode": "x"}, "ErrorCode"),
])
def test_restcomm_callback_errors_name_the_field(params: dict[str, str], param: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_restcomm_callback("c", params)
    assert info.value.param == param


@pytest.mark.parametrize("status,expected", [
    ("delivered", Status.DELIVERED), ("1", Status.DELIVERED), ("2", Status.UNDELIVERED),
    ("8", Status.SENT), ("16", Status.FAILED), ("failed", Status.FAILED)])
def test_generic_dlr(status: str, expected: Status) -> None:
    assert parse_generic_dlr("t", {"id": "42", "status": status}).status == expected


def test_generic_dlr_errors() -> None:
    with pytest.raises(ValidationError, match="id"):
        parse_generic_dlr("t", {"status": "1"})
    with pytest.raises(ValidationError, match="status"):
        parse_generic_dlr("t", {"id": "1", "status": "99"})
