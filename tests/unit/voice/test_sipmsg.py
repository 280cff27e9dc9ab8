"""SIP/SDP parsing and building, dialplan."""

from __future__ import annotations

import pytest

from ivr.voice import sipmsg
from ivr.voice.dialplan import Dialplan, header_variables
from ivr.voice.sipmsg import digest_authorization as _digest

INVITE = (b"INVITE sip:100@127.0.0.1:5060 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n"
          b"f: \"Ann\" <sip:+3611@10.0.0.5>;tag=abc\r\n"
          b"t: <sip:100@127.0.0.1>\r\ni: call-1@host\r\nCSeq: 7 INVITE\r\n"
          b"m: <sip:ann@10.0.0.5:5070>\r\nRecord-Route: <sip:10.0.0.9;lr>\r\n"
          b"User-Agent: softphone\r\n X 1.0\r\nc: application/sdp\r\nl: 152\r\n\r\n"
          b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
          b"m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
          b"a=sendrecv\r\n")


def test_parse_invite_with_compact_and_folded_headers() -> None:
    m = sipmsg.parse(INVITE)
    assert (m.method, m.uri, m.call_id, m.cseq) == ("INVITE", "sip:100@127.0.0.1:5060",
                                                   "call-1@host", (7, "INVITE"))
    assert len(m.all("Via")) == 2
    assert m.get("User-Agent") == "softphone X 1.0"
    assert sipmsg.param(m.get("From"), "tag") == "abc"
    assert sipmsg.uri_user(m.get("From")) == "+3611"
    sdp = sipmsg.parse_sdp(m.body)
    assert (sdp.address, sdp.port, sdp.formats) == ("10.0.0.5", 4000, (8, 0, 101))
    assert sdp.payloads[0] == "PCMU/8000" and sdp.payloads[101] == "telephone-event/8000"


def test_response_echoes_dialog_headers_and_adds_tag() -> None:
    m = sipmsg.parse(INVITE)
    ok = sipmsg.parse(sipmsg.response(m, 200, "OK", to_tag="xyz").encode())
    assert ok.status == 200 and ok.all("Via") == m.all("Via")
    assert ok.get("To").endswith(";tag=xyz") and ok.get("From") == m.get("From")
    assert ok.get("Record-Route") == m.get("Record-Route")
    trying = sipmsg.parse(sipmsg.response(m, 100, "Trying", to_tag="xyz").encode())
    assert "tag=" not in trying.get("To")


def test_answer_carries_the_chosen_codec_event_and_direction() -> None:
    sdp = sipmsg.parse_sdp(sipmsg.answer_sdp("127.0.0.1", 10000, 101, 5))
    assert sdp.formats == (0, 101) and sdp.port == 10000 and sdp.direction == "sendrecv"
    held = sipmsg.answer_sdp("127.0.0.1", 10000, 99, 5, codecs=(8,), version=2,
                             direction="recvonly")
    assert b"o=ivr 5 7 IN IP4" in held and b"a=rtpmap:8 PCMA/8000" in held
    assert sipmsg.parse_sdp(held).direction == "recvonly"


def _offer(media: str, *attributes: str) -> sipmsg.Sdp:
    return sipmsg.parse_sdp(("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\n"
                             f"t=0 0\r\nm=audio 4000 RTP/AVP {media}\r\n"
                             + "".join(f"a={a}\r\n" for a in attributes)).encode())


@pytest.mark.parametrize("media, attributes, chosen", [
    # linphone: three telephone-event rates; only the 8000 Hz one goes with G.711
    ("0 99 100 101", ("rtpmap:99 telephone-event/48000", "rtpmap:100 telephone-event/16000",
                      "rtpmap:101 telephone-event/8000"), (0, 101)),
    ("8 101", ("rtpmap:101 telephone-event/8000",), (8, 101)),            # PCMA only
    ("8 0 101", ("rtpmap:101 telephone-event/8000",), (8, 101)),          # offerer's order
    ("0 99", ("rtpmap:99 telephone-event/48000",), (0, None)),            # never relabel
    ("9 18", (), None),                                                   # no G.711
    ("96 0", ("rtpmap:96 opus/48000/2",), (0, None)),
])
def test_choose_audio(media: str, attributes: tuple[str, ...],
                      chosen: tuple[int, int | None] | None) -> None:
    assert sipmsg.choose_audio(_offer(media, *attributes)) == chosen


@pytest.mark.parametrize("offered, holding, answer", [
    ("sendrecv", False, "sendrecv"), ("sendonly", False, "recvonly"),
    ("recvonly", False, "sendonly"), ("inactive", False, "inactive"),
    ("sendrecv", True, "sendonly"), ("sendonly", True, "inactive"),
])
def test_answer_direction_rfc3264(offered: str, holding: bool, answer: str) -> None:
    assert sipmsg.answer_direction(offered, holding) == answer


def test_direction_and_old_style_hold_are_read() -> None:
    assert _offer("0", "sendonly").on_hold
    assert _offer("0", "inactive").direction == "inactive"
    assert not _offer("0", "sendrecv").on_hold
    old = sipmsg.parse_sdp(b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n")
    assert old.on_hold                                   # RFC 2543 hold: c=0.0.0.0


@pytest.mark.parametrize("length", [b"9" * 5000, b"-1", b"12a", b"99999999999"])
def test_bad_content_length_is_a_parse_error(length: bytes) -> None:
    with pytest.raises(sipmsg.SipParseError, match="bad Content-Length"):
        sipmsg.parse(INVITE.replace(b"l: 152", b"l: " + length))


@pytest.mark.parametrize("data", [b"", b"HELLO\r\n\r\n", b"SIP/2.0 abc OK\r\n\r\n",
                                  b"INVITE sip:x SIP/2.0\r\nno colon here\r\n\r\n"])
def test_garbage_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(sipmsg.SipParseError):
        sipmsg.parse(data)


def test_sdp_without_audio_is_refused() -> None:
    with pytest.raises(sipmsg.SipParseError, match="no audio"):
        sipmsg.parse_sdp(b"v=0\r\nm=video 5000 RTP/AVP 96\r\n")


def test_uri_host_port() -> None:
    assert sipmsg.uri_host_port("sip:ann@10.0.0.5:5070;transport=udp") == ("10.0.0.5", 5070)
    assert sipmsg.uri_host_port("sip:10.0.0.9;lr") == ("10.0.0.9", 5060)
    assert sipmsg.uri_host_port("sip:[::1]:5080") == ("::1", 5080)


def test_digest_matches_rfc_2617_example() -> None:
    # RFC 2617 §3.5 example values (with qop=auth, cnonce random: check the no-qop form)
    header = _digest('Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"',
                     "GET", "/dir/index.html", "Mufasa", "Circle Of Life")
    assert 'response="670fd8c2df070c60b045671b8b24ff02"' in header


def test_dialplan_exact_then_longest_prefix_then_default() -> None:
    plan = Dialplan({"100": "a.xml", "36*": "b.xml", "3620*": "c.xml"}, "default.xml")
    assert plan.script_for("100") == "a.xml"
    assert plan.script_for("36201234") == "c.xml"
    assert plan.script_for("3611") == "b.xml"
    assert plan.script_for("999") == "default.xml"


def test_sip_headers_become_variables() -> None:
    variables = header_variables([("User-Agent", "X"), ("P-Asserted-Identity", "<sip:1@a>"),
                                  ("User-Agent", "second")])
    assert variables == {"sip_user_agent": "X", "sip_p_asserted_identity": "<sip:1@a>"}
