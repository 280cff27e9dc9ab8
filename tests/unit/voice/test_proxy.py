"""The proxy's message transforms (ivr/voice/proxy.py), pure: RFC 3261 §16.6 (forwarding a
request), §16.7 (relaying a response), §16.12 (loose routing), RFC 3581 (rport)."""

from __future__ import annotations

import pytest

from ivr.voice import sipmsg
from ivr.voice.proxy import (
    BRANCH_PREFIX,
    forwarded_request,
    relayed_response,
    server_response,
    stateless_branch,
    via_address,
)

INVITE = sipmsg.parse(
    b"INVITE sip:ivr@10.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKcaller;rport\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:ivr@10.0.0.1>\r\n"
    b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@192.168.1.5:5062>\r\n"
    b"Content-Length: 3\r\n\r\nsdp")
OURS = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ivrp-1;rport"
RR = "<sip:10.0.0.1:5060;lr>"


@pytest.mark.parametrize("via, address", [
    ("SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKx", ("192.168.1.5", 5062)),
    ("SIP/2.0/UDP pbx.example.net;branch=z9hG4bKx", ("pbx.example.net", 5060)),
    ("SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKx;received=203.0.113.7;rport=40000",
     ("203.0.113.7", 40000)),
    ("SIP/2.0/UDP 192.168.1.5:5062;rport;branch=z9hG4bKx", ("192.168.1.5", 5062)),
])
def test_where_a_response_goes(via: str, address: tuple[str, int]) -> None:
    assert via_address(via) == address


def test_the_forwarded_invite() -> None:
    out = forwarded_request(INVITE, via=OURS, source=("203.0.113.7", 40000),
                            request_uri="sip:alice@10.0.0.9:5070", record_route=RR)
    assert out is not None and out.uri == "sip:alice@10.0.0.9:5070"
    assert out.all("Via") == [OURS, "SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKcaller"
                                    ";received=203.0.113.7;rport=40000"]
    assert out.get("Max-Forwards") == "69" and out.all("Record-Route") == [RR]
    assert out.body == b"sdp" and out.get("Contact") == "<sip:a@192.168.1.5:5062>"
    assert forwarded_request(INVITE, via=OURS, source=("192.168.1.5", 5062)).all("Via")[1] \
        .endswith(";branch=z9hG4bKcaller;rport=5062")  # type: ignore[union-attr]


def test_max_forwards_used_up_and_our_route_popped() -> None:
    spent = sipmsg.parse(INVITE.encode().replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
    assert forwarded_request(spent, via=OURS, source=("1.2.3.4", 5060)) is None
    bye = sipmsg.parse(b"BYE sip:alice@10.0.0.9:5070 SIP/2.0\r\n"
                       b"Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKbye\r\n"
                       b"Route: <sip:10.0.0.1:5060;lr>, <sip:edge.example.net;lr>\r\n"
                       b"From: <sip:a@x>;tag=1\r\nTo: <sip:alice@y>;tag=2\r\n"
                       b"Call-ID: c1\r\nCSeq: 2 BYE\r\n\r\n")
    out = forwarded_request(bye, via=OURS, source=("192.168.1.5", 5062), own_route=RR)
    assert out is not None and out.all("Route") == ["<sip:edge.example.net;lr>"]
    assert out.get("Max-Forwards") == "69"          # added: the request had none


def test_responses_lose_our_via_or_get_the_callers_back() -> None:
    forwarded = forwarded_request(INVITE, via=OURS, source=("192.168.1.5", 5062),
                                  request_uri="sip:alice@10.0.0.9:5070", record_route=RR)
    assert forwarded is not None
    ok = sipmsg.response(forwarded, 200, "OK", to_tag="t")
    relayed = relayed_response(ok)
    assert relayed is not None
    response, address = relayed
    assert response.all("Via") == forwarded.all("Via")[1:] and address == ("192.168.1.5", 5062)
    assert response.all("Record-Route") == [RR] and response.status == 200
    assert relayed_response(sipmsg.response(INVITE, 200, "OK")) is None   # nothing left
    # A 487 echoing only the CANCEL's Via (ours) still reaches the caller's transaction.
    odd = sipmsg.SipMessage(status=487, reason="Request Terminated", headers=[
        ("Via", OURS), ("To", "<sip:alice@y>;tag=2"), ("Call-ID", "c1"), ("CSeq", "1 INVITE")])
    assert server_response(odd, INVITE).all("Via") == INVITE.all("Via")


def test_stateless_branches_are_stable_and_distinct() -> None:
    bye = sipmsg.SipMessage(method="BYE", uri="sip:a@b", headers=[("Via", "SIP/2.0/UDP h;branch=1")])
    other = sipmsg.SipMessage(method="BYE", uri="sip:a@b", headers=[("Via", "SIP/2.0/UDP h;branch=2")])
    assert stateless_branch(bye, "s") == stateless_branch(bye, "s")
    assert stateless_branch(bye, "s") != stateless_branch(other, "s")
    assert stateless_branch(bye, "s").startswith(BRANCH_PREFIX)
