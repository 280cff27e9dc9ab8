"""INVITE floods, dialog hijacks and fuzzing against the real voice engine on 127.0.0.1
(security issue: medium items 3 and 5, low item 18's SIP edge, and the SIP fuzz proof)."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sip_caller import place_call

from tests.integration.sip_fuzz import (
    RawCaller,
    extreme_sdps,
    flood,
    invite,
    malformed,
    options_answered,
)
from tests.integration.voice_peers import Ivr, long_script, wait_until

pytestmark = pytest.mark.slow


class ThreadPeak:
    """The most threads alive at once while the block runs (sampled every 50 ms)."""

    def __init__(self) -> None:
        self.peak = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, threading.active_count())

    def __enter__(self) -> ThreadPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1)


def test_invite_flood_gets_trying_at_once_503_beyond_the_limit_and_recovers(
        start_ivr: Callable[..., Ivr]) -> None:
    ivr = start_ivr(max_setup_calls=20, ack_timeout=4.0)
    target = ("127.0.0.1", ivr.port)
    threads_before = threading.active_count()
    free_before = len(ivr.engine.endpoint.ports._free)
    with ThreadPeak() as threads:
        result = flood(target, 300, 30.0)
    assert len(result.trying_ms) == 300
    assert result.median_trying_ms() < 50, result.median_trying_ms()
    assert max(result.trying_ms) < 500
    assert result.finals.get(503, 0) > 200, result.finals
    assert result.retry_after and all(v.isdigit() for v in result.retry_after)
    assert threads.peak - threads_before <= 2 * 20 + 5, (threads_before, threads.peak)
    assert options_answered(target)
    # Timer H (ack_timeout): the un-ACKed calls end and give back threads and ports.
    assert wait_until(lambda: ivr.engine.endpoint.legs() == [], 15)
    shared = 3       # started on first use and kept: media-clock, media-recv, sip-timers
    assert wait_until(lambda: threading.active_count() <= threads_before + shared, 10), \
        [t.name for t in threading.enumerate()]
    assert wait_until(lambda: len(ivr.engine.endpoint.ports._free) == free_before, 5)
    call = place_call(f"127.0.0.1:{ivr.port}", digits=[(2.5, "1")], duration=8)
    assert call.status == 200 and len(call.packets) > 50
    assert call.gap_stats()[1] <= 30.0


def _sdp_to(port: int) -> str:
    return ("v=0\r\no=t 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\n")


def test_no_rtp_before_the_ack_and_requests_without_both_tags_get_481(
        start_ivr: Callable[..., Ivr], tmp_path: Path) -> None:
    """RFC 3261 §12.2.2: an attacker who knows only the Call-ID (or a wrong tag) neither
    moves the audio nor ends the call; the caller's own requests still work."""
    ivr = start_ivr(script=long_script(tmp_path))
    caller = RawCaller(("127.0.0.1", ivr.port))
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.1", 0))
    attacker.settimeout(2.0)
    hijacked_media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hijacked_media.bind(("127.0.0.1", 0))
    try:
        assert caller.invite() == 200
        assert caller.rtp_packets(1.0) == 0            # answered, not ACKed: silence
        caller.request("ACK", 1)
        assert caller.rtp_packets(1.0) > 30            # the ACK confirms: audio flows
        for method, from_tag, to_tag in [("BYE", "legit", ""), ("BYE", "other", None),
                                         ("BYE", "legit", "forged"), ("INFO", "", ""),
                                         ("INVITE", "legit", "forged"),
                                         ("INVITE", "other", None)]:
            caller.request(method, 5, from_tag=from_tag, to_tag=to_tag, sock=attacker,
                           body=_sdp_to(hijacked_media.getsockname()[1])
                           if method == "INVITE" else "")
            status = int(attacker.recv(65535).split(b" ", 2)[1])
            assert status == 481, (method, from_tag, to_tag, status)
        assert caller.rtp_packets(0.5, hijacked_media) == 0
        assert caller.rtp_packets(0.5) > 15            # still our call, still our media
        assert len(ivr.engine.calls.list_calls()) == 1
        caller.request("BYE", 6)                       # both tags: the real hang-up
        assert caller.response()[0] == 200
        assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 5)
    finally:
        caller.close()
        attacker.close()
        hijacked_media.close()


def test_5000_digit_content_length_is_refused_and_the_engine_goes_on(
        start_ivr: Callable[..., Ivr], caplog: pytest.LogCaptureFixture) -> None:
    ivr = start_ivr()
    target = ("127.0.0.1", ivr.port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        data = invite(target, sock.getsockname(), "long-length")
        sock.sendto(data.replace(b"Content-Length: ", b"Content-Length: " + b"9" * 5000),
                    target)
        assert options_answered(target)
    finally:
        sock.close()
    assert "bad Content-Length" in caplog.text
    assert "error handling SIP" not in caplog.text          # no traceback


def test_fuzz_survives_answers_options_throughout_and_gives_everything_back(
        start_ivr: Callable[..., Ivr], caplog: pytest.LogCaptureFixture) -> None:
    """Bounded: 600 malformed datagrams, every extreme SDP, 120 INVITEs at 40/s, a hostile
    RTP stream into a live call. Then a normal call has clean RTP, and the threads and RTP
    ports of the fuzzing are all given back."""
    ivr = start_ivr(max_setup_calls=20, ack_timeout=3.0)
    target = ("127.0.0.1", ivr.port)
    warm = place_call(f"127.0.0.1:{ivr.port}", digits=[(1.0, "1")], duration=6)
    assert warm.status == 200
    assert wait_until(lambda: ivr.engine.calls.list_calls() == [], 5)
    threads_before = threading.active_count()
    free_before = len(ivr.engine.endpoint.ports._free)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    try:
        for n, datagram in enumerate(malformed(seed=17, count=600)):
            sock.sendto(datagram, target)
            time.sleep(0.001)
            if n % 100 == 99:
                assert options_answered(target), n
        for n, (sdp, expected) in enumerate(extreme_sdps()):
            sock.sendto(invite(target, sock.getsockname(), f"extreme-{n}", sdp), target)
            while True:     # answers to the fuzz's own INVITEs may still be arriving
                data = sock.recv(65535)
                if not data.startswith(b"SIP/2.0 "):
                    continue
                status = int(data.split(b" ", 2)[1])
                if status >= 200 and f"Call-ID: extreme-{n}\r".encode() in data:
                    break
            assert status == expected, (n, status)
        assert options_answered(target)
        flooded = flood(target, 120, 40.0, linger=0.5)
        assert len(flooded.trying_ms) == 120 and flooded.finals.get(503, 0) > 0
        assert options_answered(target)
        assert wait_until(lambda: ivr.engine.endpoint.legs() == [], 15)   # timer H
        _hostile_rtp_into_a_live_call(ivr)
    finally:
        sock.close()
    assert wait_until(lambda: ivr.engine.endpoint.legs() == [], 15)
    assert wait_until(lambda: threading.active_count() <= threads_before, 10), \
        [t.name for t in threading.enumerate()]
    assert wait_until(lambda: len(ivr.engine.endpoint.ports._free) == free_before, 5)
    assert "error handling SIP" not in caplog.text and "RTP receive failed" not in caplog.text
    call = place_call(f"127.0.0.1:{ivr.port}", digits=[(2.5, "1")], duration=8)
    assert call.status == 200 and call.bye_from_ivr and len(call.packets) > 50
    assert call.gap_stats()[1] <= 30.0


def _hostile_rtp_into_a_live_call(ivr: Ivr) -> None:
    """Garbage, far timestamps, event 16 (flash) and oversize packets at a call's RTP port;
    the call's own digit still gets through afterwards."""
    result: list[object] = []
    caller = threading.Thread(target=lambda: result.append(place_call(
        f"127.0.0.1:{ivr.port}", digits=[(3.0, "2")], duration=10)))
    caller.start()
    assert wait_until(lambda: any(leg.rtp is not None for leg in ivr.engine.endpoint.legs()), 5)
    [leg] = [leg for leg in ivr.engine.endpoint.legs() if leg.rtp is not None]
    port = leg.rtp_port
    rnd = random.Random(5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as noise:
        for n in range(400):
            kind = n % 4
            if kind == 0:
                packet = rnd.randbytes(rnd.randrange(0, 40))
            elif kind == 1:   # PCMU with timestamps jumping across the 32-bit range
                packet = struct.pack("!BBHII", 0x80, 0, n, rnd.randrange(2**32), 1) + \
                    b"\xff" * 160
            elif kind == 2:   # telephone-event 16..255 (pyVoIP: IndexError)
                packet = struct.pack("!BBHIIBBH", 0x80, 0x80 | 101, n, n, 1,
                                     16 + n % 240, 0x0A, 160)
            else:
                packet = struct.pack("!BBHII", 0x8F, 0, n, n, 1) + b"\x00" * 2000
            noise.sendto(packet, ("127.0.0.1", port))
    caller.join(15)
    [call] = result
    assert call.bye_from_ivr                           # type: ignore[attr-defined]
    assert wait_until(lambda: len(ivr.messages()) >= 1)  # digit 2 was still heard
