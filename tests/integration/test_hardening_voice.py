"""Hostile SDP against the real voice engine on 127.0.0.1 (security issue, high item 1):
an offer nobody should send is refused with 488 and no call is silenced by it."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from sip_caller import place_call

from tests.integration.voice_peers import Ivr, free_port

pytestmark = pytest.mark.slow


def _invite(ivr_port: int, local_port: int, call_id: str, media_line: str,
            address: str = "127.0.0.1") -> bytes:
    sdp = (f"v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
           f"{media_line}\r\n")
    return (f"INVITE sip:ivr@127.0.0.1:{ivr_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{call_id}\r\n"
            "From: <sip:a@127.0.0.1>;tag=t1\r\nTo: <sip:ivr@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:a@127.0.0.1:{local_port}>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()


def _final_status(sock: socket.socket) -> int:
    sock.settimeout(3.0)
    while True:
        data = sock.recv(65535)
        status = int(data.split(b" ", 2)[1])
        if status >= 200:
            return status


@pytest.mark.parametrize("media_line, address", [
    ("m=audio 99999999 RTP/AVP 0", "127.0.0.1"),          # OverflowError in sendto formerly
    ("m=audio 0 RTP/AVP 0", "127.0.0.1"),
    (f"m=audio {'9' * 5000} RTP/AVP 0", "127.0.0.1"),
    ("m=", "127.0.0.1"),                                    # IndexError formerly
    ("m=audio 40000 RTP/AVP 0", "media.example.invalid"),  # resolved per packet formerly
    ("m=audio 40000 RTP/AVP 0", "::1"),
])
def test_hostile_offer_gets_488_and_the_next_call_has_clean_rtp(
        start_ivr: Callable[..., Ivr], media_line: str, address: str) -> None:
    ivr = start_ivr()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        sock.sendto(_invite(ivr.port, sock.getsockname()[1], f"hostile-{free_port()}",
                            media_line, address), ("127.0.0.1", ivr.port))
        assert _final_status(sock) == 488
    finally:
        sock.close()
    result = place_call(f"127.0.0.1:{ivr.port}", digits=[(2.5, "1")], duration=8)
    assert result.status == 200
    assert len(result.packets) > 50
    assert result.gap_stats()[1] <= 30.0


class _Exploding:
    """A stream whose send raises what no socket raises (the clock's contract is: any
    exception ends that stream only)."""
    call_id = "exploding"

    def send_one(self) -> None:
        raise OverflowError("port must be 0-65535")


class _Counting:
    call_id = "healthy"

    def __init__(self) -> None:
        self.sent = 0

    def send_one(self) -> None:
        self.sent += 1


def test_media_clock_survives_a_stream_that_raises() -> None:
    import time

    from ivr.voice.media import MediaClock

    clock = MediaClock()
    healthy = _Counting()
    try:
        clock.add(_Exploding())  # type: ignore[arg-type]
        clock.add(healthy)  # type: ignore[arg-type]
        time.sleep(0.5)
        assert healthy.sent >= 15                     # 25 ticks in 0.5 s, some slack
        assert len(clock._senders) == 1               # the exploding stream was dropped
    finally:
        clock.stop()
