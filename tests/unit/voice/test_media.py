"""RtpSession's pure parts: G.711 both laws (pyVoIP 1.6.8 sent µ-law under PT 8), one digit
per RFC 4733 event, and no packet, however malformed, raising out of the receive path."""

from __future__ import annotations

import audioop
import random
import struct

import pytest

from ivr.voice.media import CODECS, MediaClock, RtpSession


def _session(digits: list[str]) -> RtpSession:
    return RtpSession("unit", ("127.0.0.1", 0), ("127.0.0.1", 9), CODECS[8], 101,
                      digits.append, MediaClock())


@pytest.mark.parametrize("payload_type, encode", [(0, audioop.lin2ulaw),
                                                  (8, audioop.lin2alaw)])
def test_g711_laws_match_the_standard_encoders(payload_type: int, encode: object) -> None:
    tone = bytes(128 + int(100 * ((n % 20) - 10) / 10) for n in range(160))
    linear = audioop.bias(tone, 1, -128)
    assert CODECS[payload_type].encode(tone) == encode(linear, 1)  # type: ignore[operator]
    decoded = CODECS[payload_type].decode(CODECS[payload_type].encode(tone))
    assert max(abs(a - b) for a, b in zip(decoded, tone, strict=True)) <= 2


def _event(event: int, timestamp: int, *, end: bool = False) -> bytes:
    return struct.pack("!BBHIIBBH", 0x80, 101, 1, timestamp, 7, event,
                       (0x80 if end else 0) | 10, 160)


def test_one_digit_per_event_even_without_the_marker_and_flash_is_ignored() -> None:
    digits: list[str] = []
    session = _session(digits)
    for packet in [_event(2, 1000), _event(2, 1000), _event(2, 1000, end=True),   # one press
                   _event(16, 2000),                                              # flash
                   _event(11, 3000, end=True), _event(11, 3000, end=True)]:        # '#'
        session._packet(packet)
    assert digits == ["2", "#"]


def test_an_event_replayed_with_the_same_timestamp_after_its_end_is_a_new_press() -> None:
    """A tool replaying the same capture twice (SIPp's pcap_play, key "1" then "1" again)
    sends both presses with one timestamp: the second starts without the end bit."""
    digits: list[str] = []
    session = _session(digits)
    press = [_event(1, 5000), _event(1, 5000), *[_event(1, 5000, end=True)] * 3]
    for packet in press + press:
        session._packet(packet)
    assert digits == ["1", "1"]


def test_received_audio_is_decoded_in_arrival_order() -> None:
    session = _session([])
    frame = CODECS[8].encode(bytes([200]) * 160)
    session._packet(struct.pack("!BBHII", 0x80, 8, 1, 4_000_000_000, 7) + frame)
    session._packet(struct.pack("!BBHII", 0x80, 8, 2, 5, 7) + frame)   # far timestamps: fine
    assert len(session.read(320)) == 320 and session.read() == b"\x80" * 160


def test_no_malformed_packet_raises() -> None:
    session = _session([])
    rnd = random.Random(17)
    for _ in range(20000):
        session._packet(rnd.randbytes(rnd.randrange(0, 80)))
    session._packet(struct.pack("!BBHII", 0x8F, 8, 1, 1, 1))   # 15 CSRCs announced, none sent
