"""JSON:API message dialect, pure parts: positional pairing, flags, data/errors rendering."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from ivr.api.jsonapi import JsonApiError, parse_message_request, render_data, render_errors
from ivr.sms.message import Direction, Message

TWO = ("_login=LOGIN&_password=PASSWORD&destination_number=12123388100&body=test&require_dlr=1"
       "&destination_number=12123388101&body=test1&require_dlr=1")


def test_repeated_numbers_pair_by_position() -> None:
    send = parse_message_request(parse_qsl(TWO))
    assert [(r.number, r.body, r.require_dlr, r.request_id) for r in send.recipients] == [
        ("12123388100", "test", True, "1"), ("12123388101", "test1", True, "2")]


def test_single_value_applies_to_every_number_and_request_ids_echo() -> None:
    send = parse_message_request(parse_qsl(
        "_login=a&_password=b&destination_number=1&destination_number=2&body=hi"
        "&request_id=x&request_id=y&stealth_ping=1&source_name=Shop"))
    assert [(r.body, r.request_id, r.require_dlr) for r in send.recipients] == [
        ("hi", "x", False), ("hi", "y", False)]
    assert send.stealth_ping and send.source_name == "Shop"


@pytest.mark.parametrize("query,status,code", [
    ("destination_number=1", 401, "authentication"),
    ("_login=a&_password=b", 400, "destination_number"),
    ("_login=a&_password=b&destination_number=", 400, "destination_number"),
    ("_login=a&_password=b&destination_number=1&stealth_ping=yes", 400, "invalid_parameter"),
])
def test_errors(query: str, status: int, code: str) -> None:
    with pytest.raises(JsonApiError) as info:
        parse_message_request(parse_qsl(query, keep_blank_values=True))
    assert (info.value.status, info.value.code) == (status, code)


def test_data_object_for_one_array_for_many_never_errors() -> None:
    send = parse_message_request(parse_qsl(TWO))
    msg = Message(id="1561371433517", direction=Direction.OUTBOUND, sender="",
                  recipient="+12123388100", body="test")
    one = render_data([(send.recipients[0], msg)])
    assert one == {"data": {"attributes": {"destination_number": "12123388100", "segments": 1,
                                           "status": "ok"},
                            "id": "1561371433517", "meta": {"request_id": "1"},
                            "type": "message"}}
    many = render_data([(send.recipients[0], msg), (send.recipients[1], None)])
    assert isinstance(many["data"], list) and "errors" not in many
    assert many["data"][1]["attributes"]["status"] == "error"
    err = render_errors([JsonApiError(401, "authentication", "Please check your login and "
                                      "password", "Authentication error")])
    assert err == {"errors": [{"code": "authentication",
                               "detail": "Please check your login and password",
                               "title": "Authentication error"}]}
