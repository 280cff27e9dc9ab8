"""Each HTTP preset against an independent server implementing that provider's document.

The peers (tools/http_peers.py) run on 127.0.0.1:0 with real sockets; the transport talks to
them exactly as it would to the provider, error answers included.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from ivr.errors import TransportError
from ivr.sms.message import Direction, Message, Part
from ivr.sms.transports.http import HttpTransport, from_url
from tests.integration.test_smpp_transport import Events
from tools.http_peers import (
    AcrobitsPeer,
    EnswitchAccount,
    EnswitchPeer,
    JsonApiPeer,
    Recorder,
    RestcommPeer,
    Slow,
    Unavailable,
)


def msg(recipient: str = "+15551231234", body: str = "Hello World", **kw: Any) -> Message:
    fields: dict[str, Any] = {"id": "0b5c1c1e-1", "direction": Direction.OUTBOUND,
                              "sender": "", "recipient": recipient, "body": body}
    fields.update(kw)
    return Message(**fields)


def started(transport: HttpTransport) -> HttpTransport:
    transport.start(Events())
    return transport


@pytest.fixture
def acrobits() -> Iterator[AcrobitsPeer]:
    with AcrobitsPeer(no_credit={"poor"}, accounts={"johndow": "12345678", "poor": "x"}) as peer:
        yield peer  # type: ignore[misc]


# -- 000 Acrobits ------------------------------------------------------------------------------

def test_acrobits_preset_posts_form_and_reads_sms_id(acrobits: AcrobitsPeer) -> None:
    t = started(from_url("acro", f"http+acrobits-generic://johndow:12345678@{acrobits.netloc}"))
    result = t.send(msg(body="Grüße & 100% \"ok\"", disposition_notification="x:positive"))
    assert result.provider_ids == ["12456"]
    hit = acrobits.hits[-1]
    assert (hit.method, hit.path) == ("POST", "/send_message/")
    assert hit.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert hit.first("sms_body") == "Grüße & 100% \"ok\""
    assert hit.first("sms_to") == "+15551231234"
    assert hit.first("disposition_notification") == "x:positive"
    assert hit.first("content_type") == "text/plain"


def test_acrobits_doc_get_template_verbatim(acrobits: AcrobitsPeer) -> None:
    """The document's genericSmsSendUrl, pasted as is (only the host changed)."""
    url = (f"http://johndow:12345678@{acrobits.netloc}/send_message/?from=%account[username]%"
           "&password=%account[password]%&to=%sms_to%&body=%sms_body%")
    t = started(from_url("acro", url))
    assert t.send(msg(recipient="+1(555)123-1234", parts=[Part(0), Part(1)])).provider_ids == [
        "12456", "12456"]
    hit = acrobits.hits[-1]
    assert hit.method == "GET"
    assert hit.query == ("from=johndow&password=12345678&to=%2B1%28555%29123-1234"
                         "&body=Hello%20World")


def test_acrobits_doc_json_post_template(acrobits: AcrobitsPeer) -> None:
    post = ('{ "from" : "%account[username]%", "password" : "%account[password]%", '
            '"to" : "%sms_to%", "body" : "%sms_body%" }')
    url = (f"http://johndow:12345678@{acrobits.netloc}/send_message/#"
           + urllib.parse.urlencode({"post_data": post, "content_type": "application/json"}))
    t = started(from_url("acro", url))
    t.send(msg(body='say "hi"\n'))
    hit = acrobits.hits[-1]
    assert hit.headers["Content-Type"] == "application/json"
    assert json.loads(hit.body) == {"from": "johndow", "password": "12345678",
                                    "to": "+15551231234", "body": 'say "hi"\n'}


@pytest.mark.parametrize("user,password,recipient,retryable,error", [
    ("johndow", "12345678", "not-a-number", False, "Invalid recipient"),
    ("poor", "x", "+15551231234", False, "Not enough credit"),
    ("johndow", "wrong", "+15551231234", False, "Invalid username or password"),
])
def test_acrobits_errors_are_permanent_with_the_message_field(
        acrobits: AcrobitsPeer, user: str, password: str, recipient: str, retryable: bool,
        error: str) -> None:
    t = started(from_url("acro", f"http+acrobits-generic://{user}:{password}@{acrobits.netloc}"))
    with pytest.raises(TransportError) as info:
        t.send(msg(recipient=recipient))
    assert (info.value.retryable, info.value.message) == (retryable, error)


def test_unavailable_provider_is_transient() -> None:
    class Down(Unavailable, AcrobitsPeer):
        pass

    with Down() as peer:
        t = started(from_url("acro", f"http+acrobits-generic://johndow:12345678@{peer.netloc}"))
        with pytest.raises(TransportError) as info:
            t.send(msg())
    assert info.value.retryable and info.value.code == "HTTP 503"
    assert "temporarily unavailable" in info.value.message


def test_timeout_and_refused_connection_are_transient() -> None:
    class Hung(Slow, AcrobitsPeer):
        delay = 2.0

    with Hung() as peer:
        t = started(from_url("a", f"http+acrobits-generic://johndow:1@{peer.netloc}#timeout=0.3"))
        started_at = time.monotonic()
        with pytest.raises(TransportError) as info:
            t.send(msg())
        assert time.monotonic() - started_at < 1.9
        assert info.value.retryable and info.value.code == "HTTP timeout"
        netloc = peer.netloc
    t = started(from_url("a", f"http+acrobits-generic://johndow:1@{netloc}"))
    with pytest.raises(TransportError) as info:
        t.send(msg())
    assert info.value.retryable and info.value.code == "HTTP connect"


def test_4xx_can_be_configured_transient() -> None:
    with AcrobitsPeer() as peer:
        t = started(from_url("a", f"http+acrobits-generic://nobody:x@{peer.netloc}"
                                  "?tempfail_status=401,500-599"))
        with pytest.raises(TransportError) as info:
            t.send(msg())
    assert info.value.retryable


def test_stopped_transport_refuses_with_retry() -> None:
    t = started(from_url("a", "http+acrobits-generic://u:p@127.0.0.1:9"))
    t.stop()
    assert not t.healthy()
    with pytest.raises(TransportError) as info:
        t.send(msg())
    assert info.value.retryable


# -- 001 JSON:API ------------------------------------------------------------------------------

def test_jsonapi_preset() -> None:
    with JsonApiPeer() as peer:
        t = started(from_url("j", f"http+jsonapi://LOGIN:PASSWORD@{peer.netloc}?sender=Ivr"))
        result = t.send(msg(recipient="12123388100", body="test"))
        assert result.provider_ids == ["1561370632513"]
        hit = peer.hits[-1]
        assert (hit.method, hit.path, hit.body) == ("POST", "/api/message", b"")
        assert hit.params["destination_number"] == ["12123388100"]
        assert (hit.first("require_dlr"), hit.first("source_number")) == ("1", "Ivr")
        assert hit.first("request_id") == "0b5c1c1e-1"
        bad = started(from_url("j", f"http+jsonapi://LOGIN:nope@{peer.netloc}"))
        with pytest.raises(TransportError) as info:
            bad.send(msg())
        assert info.value.message == "Please check your login and password"
        assert not info.value.retryable
        with pytest.raises(TransportError) as info:
            t.send(msg(recipient="abc"))
        assert info.value.message == "Invalid number abc" and not info.value.retryable


# -- 002 Enswitch ------------------------------------------------------------------------------

def test_enswitch_preset_and_its_error_codes() -> None:
    accounts = {"user": EnswitchAccount("password", {"2125550000"}),
                "norole": EnswitchAccount("pw", {"1"}, can_send=False),
                "noplan": EnswitchAccount("pw", {"1"}, rate_plan_allows=False)}
    with EnswitchPeer(accounts) as peer:
        t = started(from_url("e", f"http+enswitch://user:password@{peer.netloc}"
                                  "?sender=2125550000"))
        assert t.send(msg(recipient="2125551234", body="This is an example message")
                      ).provider_ids == [""]
        hit = peer.hits[-1]
        assert hit.method == "GET" and ";" in hit.query and "&" not in hit.query
        assert peer.sent == [{"cnumber": "2125551234", "snumber": "2125550000", "stype": "",
                              "message": "This is an example message"}]
        cases = [
            (f"http+enswitch://user:bad@{peer.netloc}?sender=1",
             "The authentication details provided are invalid."),
            (f"http+enswitch://norole:pw@{peer.netloc}?sender=1", "Your role does not allow this."),
            (f"http+enswitch://noplan:pw@{peer.netloc}?sender=1",
             "Your rate plan does not allow this."),
            (f"http+enswitch://user:password@{peer.netloc}?sender=999",
             "The customer does not own this number."),
            (f"http+enswitch://user:password@{peer.netloc}", "Missing required parameter snumber."),
        ]
        for url, error in cases:
            with pytest.raises(TransportError) as info:
                started(from_url("e", url)).send(msg())
            assert (info.value.message, info.value.retryable) == (error, False), url


def test_enswitch_peer_checks_attachments() -> None:
    with EnswitchPeer() as peer:
        import requests

        base = f"{peer.url}/api/json/messages/text/send/"
        ok = requests.post(base, data={"auth_username": "user", "auth_password": "password",
                                       "snumber": "2125550000", "cnumber": "2", "message": "m",
                                       "filename1": "a.txt",
                                       "file1": base64.b64encode(b"hi").decode()}, timeout=10)
        assert ok.json()["responses"][0]["code"] == "204"
        bad = requests.get(base + "?auth_username=user;auth_password=password;snumber=2125550000"
                           ";cnumber=2;message=m;filename1=a;file1=***", timeout=10)
        assert bad.status_code == 400 and bad.json()["responses"][0]["key"] == "file1"


# -- 003 Restcomm ------------------------------------------------------------------------------

def test_restcomm_preset_basic_auth_and_status_callbacks() -> None:
    sid = "AC" + "0" * 32
    with RestcommPeer() as peer, Recorder() as dlr:
        t = started(from_url("r", f"http+restcomm://{sid}:YourAuthToken@{peer.netloc}/restcomm"
                                  f"?sender=19876543212&public_url={dlr.url}"))
        provider_id = t.send(msg(recipient="13216549878", body="Test SMS")).provider_ids[0]
        assert provider_id.startswith("SM") and len(provider_id) == 34
        hit = peer.hits[-1]
        assert hit.path == f"/restcomm/2012-04-24/Accounts/{sid}/SMS/Messages.json"
        assert hit.headers["Authorization"].startswith("Basic ")
        assert (hit.first("From"), hit.first("To"), hit.first("Body")) == (
            "19876543212", "13216549878", "Test SMS")
        assert hit.first("StatusCallback") == f"{dlr.url}/dlr/restcomm/r"
        hits = dlr.wait_for(2)
        assert [h.first("MessageStatus") for h in hits] == ["sent", "delivered"]
        assert {h.first("MessageSid") for h in hits} == {provider_id}
        assert all(h.path == "/dlr/restcomm/r" for h in hits)
        with pytest.raises(TransportError) as info:
            started(from_url("r", f"http+restcomm://{sid}:bad@{peer.netloc}/restcomm?sender=1")
                    ).send(msg())
        assert info.value.message == "Authentication is required" and not info.value.retryable
        with pytest.raises(TransportError) as info:
            t.send(msg(recipient="client alice"))
        assert "not a valid E.164" in info.value.message
