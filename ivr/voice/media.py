"""Media: one RTP stream per call (:class:`RtpSession`) on one shared clock (:class:`MediaClock`).

This is the only module that imports pyVoIP. What is kept of pyVoIP 1.6.8's RTP client is its
packet parser (``RTPMessage``: header, CSRC list, payload-type table); everything it gets wrong
for an IVR is ours (reference pyvoip-1.6.8-notes.md §1, §3):

- its ``encode_packet`` sends µ-law under PT 8 → we encode PCMU *and* PCMA ourselves
  (``audioop.lin2ulaw`` / ``lin2alaw``, G.711), so A-law callers hear clean audio;
- its receive buffer (``RTPPacketManager``) seeks to the sender's RTP timestamp, so one packet
  with a far timestamp makes it allocate gigabytes → received audio is queued in arrival
  order, bounded, and only from the address the dialog negotiated;
- its telephone-event parser indexes a 16-entry table with the event byte (IndexError for
  event 16 = flash, which killed the receive thread) and reports only marker packets → a
  digit is reported once per RFC 4733 event (new timestamp), events above 15 are ignored;
- two threads per call (a 20 ms sleeper and a 10 ms busy poll) drift under the GIL at 100
  calls → one clock thread sends every stream on an absolute 20 ms schedule and one thread
  receives every stream with a selector, so a call costs no media thread at all.

An :class:`RtpSession` is held by the call leg (composition): ``write``/``flush``/``pending``
for prompts and barge-in, ``read`` for recording, ``retarget`` for a re-INVITE that moves the
far end's media, ``set_sending`` for the ACK gate and for hold.
"""

from __future__ import annotations

import audioop
import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pyVoIP.RTP import PayloadType, RTPMessage, RTPParseError

from ivr import metrics

__all__ = ["Codec", "CODECS", "MediaClock", "RtpSession", "PTIME"]

log = logging.getLogger(__name__)
PTIME = 0.020
FRAME = 160                       # 20 ms of 8 kHz audio, one byte per sample (u8 / G.711)
SILENCE = b"\x80" * FRAME          # u8 silence
_MAX_INBOUND = 50 * 60 * 5        # received frames kept for read(): five minutes
_DTMF_KEYS = "0123456789*#ABCD"


@dataclass(frozen=True)
class Codec:
    """A G.711 codec: the static payload type (RFC 3551 §6) and its 8-bit encoding."""

    payload_type: int
    name: str                      # rtpmap encoding name: PCMU or PCMA

    def encode(self, u8: bytes) -> bytes:
        """Unsigned 8-bit linear (what prompts are stored as) to G.711."""
        linear = audioop.bias(u8, 1, -128)
        return audioop.lin2ulaw(linear, 1) if self.name == "PCMU" else \
            audioop.lin2alaw(linear, 1)

    def decode(self, payload: bytes) -> bytes:
        linear = audioop.ulaw2lin(payload, 1) if self.name == "PCMU" else \
            audioop.alaw2lin(payload, 1)
        return audioop.bias(linear, 1, 128)


CODECS = {0: Codec(0, "PCMU"), 8: Codec(8, "PCMA")}


class MediaClock:
    """Sends one packet for every sending session every 20 ms, and receives for all of them."""

    def __init__(self) -> None:
        self._senders: set[RtpSession] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._selector = selectors.DefaultSelector()
        self._receiver: threading.Thread | None = None

    # -- sending -------------------------------------------------------------------------
    def add(self, session: RtpSession) -> None:
        with self._lock:
            self._senders.add(session)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="media-clock",
                                                daemon=True)
                self._thread.start()

    def remove(self, session: RtpSession) -> None:
        with self._lock:
            self._senders.discard(session)

    # -- receiving -----------------------------------------------------------------------
    def watch(self, sock: socket.socket, session: RtpSession) -> None:
        with self._lock:
            self._selector.register(sock, selectors.EVENT_READ, session)
            if self._receiver is None:
                self._stop.clear()
                self._receiver = threading.Thread(target=self._receive, name="media-recv",
                                                  daemon=True)
                self._receiver.start()

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            threads = [self._thread, self._receiver]
            self._thread = self._receiver = None
        for thread in threads:
            if thread is not None:
                thread.join(2)

    def _run(self) -> None:
        tick = last = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                sessions = list(self._senders)
            for session in sessions:
                self._send_one(session)
            sent, last = last, time.monotonic()
            if sessions:  # interval between two rounds of packets (20 ms when on time)
                metrics.rtp_gap(last - sent)
            tick += PTIME
            delay = tick - time.monotonic()
            if delay < -0.2:  # far behind (machine stalled): resynchronise, do not burst
                tick = time.monotonic()
            elif delay > 0:
                time.sleep(delay)

    def _send_one(self, session: RtpSession) -> None:
        """One call's packet. Whatever one stream raises ends that stream only: the clock
        serves every call, so an exception escaping here would silence them all."""
        try:
            session.send_one()
        except OSError as exc:  # a socket closed under us by a hang-up
            log.debug("[call %s] RTP send failed: %s", session.call_id, exc)
        except Exception:
            log.exception("[call %s] RTP stream failed; dropping that stream only",
                          session.call_id)
            self.remove(session)

    def _receive(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                empty = not self._selector.get_map()
            if empty:
                time.sleep(0.05)
                continue
            try:
                ready = self._selector.select(timeout=0.2)
            except OSError:     # a socket closed between unregister and select
                continue
            for key, _ in ready:
                session: RtpSession = key.data
                try:
                    session.receive()
                except Exception:
                    log.exception("[call %s] RTP receive failed; packet dropped",
                                  session.call_id)


class RtpSession:
    """One call's RTP: G.711 out on the shared clock, G.711 and RFC 4733 digits in."""

    def __init__(self, call_id: str, local: tuple[str, int], remote: tuple[str, int],
                 codec: Codec, event_pt: int | None, on_digit: Callable[[str], None],
                 clock: MediaClock, signalling: str = "") -> None:
        self.call_id = call_id
        # Heard only from the SDP address or the host the SIP dialog runs with: a phone
        # behind NAT (or baresip naming its LAN address in SDP) sends from where its SIP
        # comes from; anyone else who finds the port is not heard.
        self._heard_from = {remote[0], signalling} - {""}
        self.local = local
        self.codec = codec
        self.event_pt = event_pt
        self._remote = remote
        self._on_digit = on_digit
        self._clock = clock
        self._sock: socket.socket | None = None
        self._out = bytearray()
        self._out_lock = threading.Lock()
        self._filler: bytes | None = None
        self._filler_at = 0
        self._send_lock = threading.Lock()     # the clock and a DTMF sender share seq numbers
        self._inbound: deque[bytes] = deque(maxlen=_MAX_INBOUND)
        self._taps: list[Callable[[bytes], None]] = []
        self._assoc = {codec.payload_type: PayloadType.PCMU if codec.name == "PCMU"
                       else PayloadType.PCMA}
        if event_pt is not None:
            self._assoc[event_pt] = PayloadType.EVENT
        self._sequence = random.randint(0, 0xFFFF)
        self._timestamp = random.randint(0, 0xFFFFFFFF)
        self._ssrc = random.randint(1, 0xFFFFFFFF)
        self._last_event: int | None = None
        self._event_ended = False          # the end bit of _last_event was seen
        self._sending = False
        self._receiving = True
        self.sent_packets = 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Open the port and receive. Nothing is sent until :meth:`set_sending` (the ACK)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(self.local)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self._clock.watch(sock, self)

    def stop(self) -> None:
        self._clock.remove(self)
        sock, self._sock = self._sock, None
        if sock is not None:
            self._clock.unwatch(sock)
            sock.close()

    @property
    def remote(self) -> tuple[str, int]:
        return self._remote

    def retarget(self, address: str, port: int) -> None:
        """Send to a new address from now on (a re-INVITE in the same dialog moved it)."""
        self._remote = (address, port)
        self._heard_from.add(address)

    def set_codec(self, codec: Codec) -> None:
        """Encode with another G.711 law from the next packet (a re-INVITE changed it)."""
        self.codec = codec
        self._assoc[codec.payload_type] = PayloadType.PCMU if codec.name == "PCMU" \
            else PayloadType.PCMA

    @property
    def sending(self) -> bool:
        return self._sending

    def set_sending(self, send: bool) -> None:
        """Start or stop packets to the far end (after the ACK; hold; inactive streams)."""
        self._sending = send
        if send and self._sock is not None:
            self._clock.add(self)
        else:
            self._clock.remove(self)

    def set_receiving(self, receive: bool) -> None:
        self._receiving = receive

    # -- outbound audio ------------------------------------------------------------------
    def write(self, u8: bytes) -> None:
        """Queue 8 kHz unsigned 8-bit audio; it is sent at 20 ms per 160 bytes."""
        with self._out_lock:
            self._out += u8

    def flush(self) -> None:
        """Drop queued audio not yet sent (barge-in)."""
        with self._out_lock:
            self._out.clear()

    def pending(self) -> int:
        """Bytes queued but not yet sent (8000 are one second still to play)."""
        with self._out_lock:
            return len(self._out)

    def take_pending(self) -> bytes:
        """Remove and return what is queued (a prompt interrupted by hold, to resume later)."""
        with self._out_lock:
            queued = bytes(self._out)
            self._out.clear()
            return queued

    def set_filler(self, u8: bytes | None) -> None:
        """Audio looped whenever nothing is queued (music on hold); None for silence."""
        with self._out_lock:
            self._filler = u8 or None
            self._filler_at = 0

    def send_one(self) -> None:
        """One 20 ms packet (the filler or silence when nothing is queued), by the clock."""
        with self._out_lock:
            frame = bytes(self._out[:FRAME])
            del self._out[:FRAME]
            filler = self._filler
            if not frame and filler is not None:
                start = self._filler_at
                frame = (filler[start:] + filler)[:FRAME] if start + FRAME > len(filler) \
                    else filler[start:start + FRAME]
                self._filler_at = (start + FRAME) % len(filler)
        sock = self._sock
        if sock is None or not self._sending:
            return
        frame += SILENCE[len(frame):]
        self._send(self.codec.payload_type, self.codec.encode(frame), marker=False)
        self._timestamp = (self._timestamp + FRAME) & 0xFFFFFFFF

    def _send(self, payload_type: int, payload: bytes, *, marker: bool,
              timestamp: int | None = None) -> None:
        sock = self._sock
        if sock is None:
            return
        with self._send_lock:
            header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
                                 self._sequence, self._timestamp if timestamp is None
                                 else timestamp, self._ssrc)
            self._sequence = (self._sequence + 1) & 0xFFFF
            sock.sendto(header + payload, self._remote)
            self.sent_packets += 1

    def send_dtmf(self, keys: str) -> bool:
        """RFC 4733 events (100 ms each, three end packets); False without telephone-event.
        Blocks for the duration; ``,`` is a half-second pause."""
        if self.event_pt is None:
            return False
        for key in keys:
            if key == ",":
                time.sleep(0.5)
                continue
            event = _DTMF_KEYS.find(key.upper())
            if event < 0:
                continue
            stamp = self._timestamp
            for n in range(8):  # 5 x 20 ms in progress, then 3 end packets (E bit)
                end = n >= 5
                duration = min(n + 1, 5) * FRAME
                self._send(self.event_pt, struct.pack("!BBH", event, (0x80 if end else 0) | 10,
                                                      duration),
                           marker=n == 0, timestamp=stamp)
                time.sleep(PTIME)
            self._timestamp = (self._timestamp + FRAME * 6) & 0xFFFFFFFF
            time.sleep(0.05)
        return True

    # -- inbound -------------------------------------------------------------------------
    def receive(self) -> None:
        """Read what is waiting on the socket (called by the clock's receive thread)."""
        sock = self._sock
        if sock is None:
            return
        for _ in range(16):
            try:
                packet, source = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if source[0] not in self._heard_from or not self._receiving:
                continue     # only the dialog's hosts are heard (issue 17 item 5)
            self._packet(packet)

    def _packet(self, packet: bytes) -> None:
        if len(packet) < 12:    # shorter than RTP's fixed header (RFC 3550 §5.1)
            return
        try:
            message = RTPMessage(packet, self._assoc)
        except (RTPParseError, ValueError, IndexError, TypeError):
            return
        if message.payload_type == PayloadType.EVENT:
            self._event(message.payload, message.timestamp)
        elif message.payload_type in (PayloadType.PCMU, PayloadType.PCMA) and \
                message.payload and len(message.payload) <= 4 * FRAME:
            codec = CODECS[0 if message.payload_type == PayloadType.PCMU else 8]
            audio = codec.decode(message.payload)
            self._inbound.append(audio)
            for tap in list(self._taps):
                tap(audio)

    def _event(self, payload: bytes, timestamp: int) -> None:
        """RFC 4733 §2.5.1.3: all packets of one event share its timestamp; report it once.
        A packet without the end bit after the event ended starts a new one even with the
        same timestamp (a sender that replays an event, e.g. the same key pressed twice by a
        tool replaying captures): retransmitted end packets never lack the end bit."""
        if len(payload) < 4 or payload[0] >= len(_DTMF_KEYS):
            return
        ended = bool(payload[1] & 0x80)
        if timestamp == self._last_event and not (self._event_ended and not ended):
            self._event_ended = self._event_ended or ended
            return
        self._last_event, self._event_ended = timestamp, ended
        self._on_digit(_DTMF_KEYS[payload[0]])

    def add_tap(self, tap: Callable[[bytes], None]) -> None:
        """Also give every received frame (u8) to ``tap`` (a recording started over HTTP
        while the script reads the stream itself)."""
        self._taps.append(tap)

    def remove_tap(self, tap: Callable[[bytes], None]) -> None:
        if tap in self._taps:
            self._taps.remove(tap)

    def read(self, length: int = FRAME) -> bytes:
        """Up to ``length`` bytes of received audio (u8), silence when none is waiting."""
        out = bytearray()
        while len(out) < length and self._inbound:
            out += self._inbound.popleft()
        return bytes(out) if out else SILENCE[:length]
