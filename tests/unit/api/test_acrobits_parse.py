"""Acrobits dialect, pure parts: the document's example requests parse verbatim."""

from __future__ import annotations

import pytest

from ivr.api.acrobits import AcrobitsError, parse_send_request

GET_QUERY = ("from=johndow&password=12345678&sms_to=%2B15551231234&sms_body=Hello%20World"
             "&content_type=text/plain&disposition_notification=xkXRBMCL.twvNcfC9:"
             "positive-delivery,display")
JSON_BODY = b"""{
"from" : "johndow",
"password" : "12345678",
"sms_to" : "+1(555)123-1234",
"sms_body" : "Hello World",
"content_type" : "text/plain",
"disposition_notification" : "xkXRBMCL.twvNcfC9:positive-delivery, display"
}"""


def test_get_example() -> None:
    send = parse_send_request("GET", "", GET_QUERY, b"")
    assert (send.username, send.password, send.to, send.body) == (
        "johndow", "12345678", "+15551231234", "Hello World")
    assert send.disposition_notification == "xkXRBMCL.twvNcfC9:positive-delivery,display"


def test_post_json_example() -> None:
    send = parse_send_request("POST", "application/json", "", JSON_BODY)
    assert send.to == "+1(555)123-1234" and send.content_type == "text/plain"
    assert send.disposition_notification == "xkXRBMCL.twvNcfC9:positive-delivery, display"


def test_template_names_to_and_body_in_a_form() -> None:
    send = parse_send_request("POST", "application/x-www-form-urlencoded", "",
                              b"from=johndow&password=12345678&to=sip%3Abob%40x.org&body=Hi")
    assert (send.to, send.body) == ("sip:bob@x.org", "Hi")


@pytest.mark.parametrize("method,ctype,query,body,status", [
    ("GET", "", "sms_to=1&sms_body=x", b"", 401),
    ("GET", "", "from=a&password=b&sms_body=x", b"", 406),
    ("GET", "", "from=a&password=b&sms_to=1&content_type=image/png&sms_body=x", b"", 400),
    ("GET", "", "from=a&password=b&sms_to=1", b"", 400),
    ("POST", "application/json", "", b"[1]", 400),
    ("POST", "application/json", "", b"{bad", 400),
])
def test_errors(method: str, ctype: str, query: str, body: bytes, status: int) -> None:
    with pytest.raises(AcrobitsError) as info:
        parse_send_request(method, ctype, query, body)
    assert info.value.status == status
