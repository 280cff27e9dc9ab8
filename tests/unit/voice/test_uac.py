"""Outgoing calls without sockets: where a number goes, failure reasons, and the requests a UAC
builds from a dialog (ACK/BYE after a 2xx, ACK of a failure, CANCEL)."""

from __future__ import annotations

import pytest

from ivr.errors import VoiceError
from ivr.voice import sipmsg
from ivr.voice.settings import SipSettings
from ivr.voice.uac import dial_target, failure_reason


@pytest.mark.parametrize(("number", "settings", "uri", "address", "callee"), [
    ("100", SipSettings(trunk="10.0.0.9"), "sip:100@10.0.0.9:5060", ("10.0.0.9", 5060), "100"),
    ("+36 1 234-5678", SipSettings(trunk="sip:pbx.example:5080"),
     "sip:+3612345678@pbx.example:5080", ("pbx.example", 5080), "+3612345678"),
    ("tel:+3612", SipSettings(trunk="10.0.0.9:5070"), "sip:+3612@10.0.0.9:5070",
     ("10.0.0.9", 5070), "+3612"),
    ("*21#", SipSettings(trunk="10.0.0.9"), "sip:*21%23@10.0.0.9:5060", ("10.0.0.9", 5060),
     "*21#"),
    ("7001", SipSettings(mode="register", server="10.0.0.10", server_port=5062),
     "sip:7001@10.0.0.10:5062", ("10.0.0.10", 5062), "7001"),
    ("7001", SipSettings(mode="register", server="10.0.0.10", trunk="10.0.0.9"),
     "sip:7001@10.0.0.9:5060", ("10.0.0.9", 5060), "7001"),
    ("sip:alice@127.0.0.1:5099;transport=udp", SipSettings(trunk="10.0.0.9"),
     "sip:alice@127.0.0.1:5099;transport=udp", ("127.0.0.1", 5099), "alice"),
    ("bob@192.0.2.7", SipSettings(), "sip:bob@192.0.2.7", ("192.0.2.7", 5060), "bob"),
])
def test_dial_target(number: str, settings: SipSettings, uri: str, address: tuple[str, int],
                     callee: str) -> None:
    target = dial_target(number, settings)
    assert (target.uri, target.address, target.callee) == (uri, address, callee)


@pytest.mark.parametrize(("number", "message"), [
    ("100", "direct mode has no destination for numbers; set [sip] trunk = host[:port]"),
    ("", "the number is empty"),
    ("sips:bob@example.com", "sips: needs SIP over TLS"),
    ("100; drop", "not a phone number, extension or sip: URI"),
])
def test_undiallable_numbers_say_why(number: str, message: str) -> None:
    with pytest.raises(VoiceError, match=message.replace("[", r"\[").replace("]", r"\]")):
        dial_target(number, SipSettings())


@pytest.mark.parametrize(("status", "reason", "expected"), [
    (486, "Busy Here", "busy (486 Busy Here)"),
    (600, "Busy Everywhere", "busy (600 Busy Everywhere)"),
    (480, "Temporarily Unavailable", "no-answer (480 Temporarily Unavailable)"),
    (404, "Not Found", "rejected (404 Not Found)"),
    (503, "Service Unavailable", "rejected (503 Service Unavailable)"),
])
def test_failure_reason(status: int, reason: str, expected: str) -> None:
    assert failure_reason(status, reason) == expected


OK = sipmsg.parse(
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinv;rport=5060\r\n"
    b"Record-Route: <sip:10.0.0.1;lr>\r\nRecord-Route: <sip:10.0.0.2;lr>\r\n"
    b"From: <sip:ivr@127.0.0.1>;tag=ours\r\nTo: <sip:100@10.0.0.9>;tag=theirs\r\n"
    b"Call-ID: c1@127.0.0.1\r\nCSeq: 2 INVITE\r\nContact: <sip:100@10.0.0.50:5070>\r\n"
    b"Content-Length: 0\r\n\r\n")


def test_uac_dialog_acks_then_byes_along_the_reversed_route_set() -> None:
    dialog = sipmsg.Dialog.from_2xx(OK)
    ack = dialog.request("ACK", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKack")
    bye = dialog.request("BYE", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbye")
    assert (ack.uri, ack.get("CSeq"), bye.get("CSeq")) == ("sip:100@10.0.0.50:5070",
                                                           "2 ACK", "3 BYE")
    assert ack.all("Route") == ["<sip:10.0.0.2;lr>", "<sip:10.0.0.1;lr>"]
    assert bye.get("From").endswith("tag=ours") and bye.get("To").endswith("tag=theirs")
    assert dialog.next_hop(("x", 1)) == ("10.0.0.2", 5060)


def test_uas_dialog_keeps_the_record_route_order_and_adds_our_tag() -> None:
    invite = sipmsg.parse(
        b"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
        b"Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.2;lr>\r\n"
        b"From: <sip:a@10.0.0.5>;tag=caller\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: x\r\n"
        b"CSeq: 7 INVITE\r\nContact: <sip:a@10.0.0.5:5070>\r\nContent-Length: 0\r\n\r\n")
    bye = sipmsg.Dialog.from_invite(invite, "ivrtag").request("BYE", "SIP/2.0/UDP h;branch=b")
    assert (bye.uri, bye.get("CSeq")) == ("sip:a@10.0.0.5:5070", "8 BYE")
    assert bye.get("From") == "<sip:ivr@127.0.0.1>;tag=ivrtag"
    assert bye.all("Route") == ["<sip:10.0.0.1;lr>", "<sip:10.0.0.2;lr>"]


def test_ack_of_a_failure_and_cancel_stay_in_the_invite_transaction() -> None:
    invite = sipmsg.request("INVITE", "sip:100@10.0.0.9:5060", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinv;rport"),
        ("From", "<sip:ivr@127.0.0.1>;tag=ours"), ("To", "<sip:100@10.0.0.9:5060>"),
        ("Call-ID", "c1"), ("CSeq", "4 INVITE")])
    busy = sipmsg.parse(sipmsg.response(invite, 486, "Busy Here", to_tag="theirs").encode())
    ack = sipmsg.ack_non_2xx(busy, invite.uri)
    assert (ack.method, ack.uri, ack.get("CSeq")) == ("ACK", invite.uri, "4 ACK")
    assert ack.get("Via") == invite.get("Via") and ack.get("To").endswith(";tag=theirs")
    cancel = sipmsg.cancel_for(invite)
    assert (cancel.uri, cancel.get("CSeq"), cancel.get("Via"), cancel.get("To")) == (
        invite.uri, "4 CANCEL", invite.get("Via"), invite.get("To"))
