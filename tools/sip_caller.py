"""A small SIP test caller for what SIPp cannot assert: answer time, RTP pacing, audio.

It places one call over UDP (INVITE with PCMU + telephone-event), ACKs the 200, records
every RTP packet it receives with its arrival time, presses digits as RFC 4733 events at
given times, and answers the IVR's BYE (or sends its own). Runnable by hand:

    python tools/sip_caller.py 127.0.0.1:5060 --digits 2@2.5 --duration 10
"""

from __future__ import annotations

import argparse
import audioop
import random
import secrets
import socket
import statistics
import struct
import threading
import time
from dataclasses import dataclass, field

__all__ = ["CallResult", "place_call"]


@dataclass
class CallResult:
    status: int = 0                       # final response to the INVITE
    answer_ms: float = 0.0                # INVITE sent -> 200 OK received
    bye_from_ivr: bool = False
    ended_at: float = 0.0                 # seconds after the answer
    packets: list[tuple[float, int, bytes]] = field(default_factory=list)  # (t, pt, payload)
    responses: list[int] = field(default_factory=list)

    @property
    def gaps_ms(self) -> list[float]:
        times = [t for t, _, _ in self.packets]
        return [(b - a) * 1000 for a, b in zip(times, times[1:], strict=False)]

    @property
    def speech_seconds(self) -> float:
        """Seconds of non-silent PCMU received."""
        loud = sum(1 for _, pt, p in self.packets
                   if pt == 0 and audioop.rms(audioop.ulaw2lin(p, 2), 2) > 200)
        return loud * 0.02

    def gap_stats(self) -> tuple[float, float]:
        gaps = sorted(self.gaps_ms)
        if not gaps:
            return 0.0, 0.0
        return statistics.fmean(gaps), gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]


def _headers(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), value.strip())
    return out


def place_call(target: str, *, callee: str = "ivr", caller: str = "15550001111",
               digits: list[tuple[float, str]] | None = None, duration: float = 15.0,
               hangup_after: float | None = None, local_ip: str = "127.0.0.1",
               talk: tuple[float, float] | None = None) -> CallResult:
    """``talk=(start, seconds)``: send a 440 Hz PCMU tone from ``start`` s after the answer."""
    host, _, port_text = target.partition(":")
    remote = (host, int(port_text or 5060))
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind((local_ip, 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((local_ip, 0))
    sip_port, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
    call_id, tag = secrets.token_hex(8) + "@test", secrets.token_hex(4)
    sdp = (f"v=0\r\no=t 1 1 IN IP4 {local_ip}\r\ns=-\r\nc=IN IP4 {local_ip}\r\nt=0 0\r\n"
           f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n")
    base = (f"Via: SIP/2.0/UDP {local_ip}:{sip_port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
            f"From: <sip:{caller}@{local_ip}>;tag={tag}\r\n"
            f"To: <sip:{callee}@{host}>{{to_tag}}\r\nCall-ID: {call_id}\r\n")
    invite = (f"INVITE sip:{callee}@{host}:{remote[1]} SIP/2.0\r\n" + base.format(to_tag="") +
              f"CSeq: 1 INVITE\r\nContact: <sip:{caller}@{local_ip}:{sip_port}>\r\n"
              f"Max-Forwards: 70\r\nContent-Type: application/sdp\r\n"
              f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
    result = CallResult()
    stop = threading.Event()
    answered_at = [0.0]

    def receive_rtp() -> None:
        rtp.settimeout(0.1)
        while not stop.is_set():
            try:
                packet = rtp.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(packet) >= 12:
                result.packets.append((time.monotonic(), packet[1] & 0x7F, packet[12:]))

    threading.Thread(target=receive_rtp, daemon=True).start()
    sent = time.monotonic()
    sip.sendto(invite.encode(), remote)
    sip.settimeout(0.5)
    remote_rtp: tuple[str, int] | None = None
    to_tag = ""
    deadline = sent + 10
    while time.monotonic() < deadline:
        try:
            data = sip.recv(65535).decode()
        except TimeoutError:
            sip.sendto(invite.encode(), remote)
            continue
        status = int(data.split(" ", 2)[1]) if data.startswith("SIP/2.0") else 0
        if not status:
            continue
        result.responses.append(status)
        if status >= 200:
            result.status = status
            headers = _headers(data.split("\r\n\r\n")[0])
            to_tag = headers.get("to", "").split("tag=")[-1] if "tag=" in headers.get(
                "to", "") else ""
            if status == 200:
                result.answer_ms = (time.monotonic() - sent) * 1000
                answered_at[0] = time.monotonic()
                body = data.split("\r\n\r\n", 1)[1]
                media_ip = next(line.split()[-1] for line in body.splitlines()
                                if line.startswith("c="))
                media_port = int(next(line.split()[1] for line in body.splitlines()
                                      if line.startswith("m=audio")))
                remote_rtp = (media_ip, media_port)
            ack = (f"ACK sip:{callee}@{host}:{remote[1]} SIP/2.0\r\n" +
                   base.format(to_tag=f";tag={to_tag}") + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
            sip.sendto(ack.encode(), remote)
            break
    if result.status != 200 or remote_rtp is None:
        stop.set()
        sip.close()
        rtp.close()
        return result
    if talk is not None:
        def speak() -> None:
            start, seconds = talk
            time.sleep(start)
            lin = b"".join(int(8000 * __import__("math").sin(2 * 3.14159 * 440 * i / 8000))
                           .to_bytes(2, "little", signed=True) for i in range(160))
            payload = audioop.lin2ulaw(lin, 2)
            for n in range(int(seconds / 0.02)):
                header = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * 160, 4242)
                rtp.sendto(header + payload, remote_rtp)
                time.sleep(0.02)

        threading.Thread(target=speak, daemon=True).start()
    pending = sorted(digits or [])
    ssrc, seq = random.randint(1, 2**31), random.randint(0, 1000)
    end = answered_at[0] + duration
    while time.monotonic() < end:
        now = time.monotonic() - answered_at[0]
        if pending and now >= pending[0][0]:
            _, key = pending.pop(0)
            event = "0123456789*#".index(key)
            for n in range(8):  # RFC 4733: marker on the first packet, 3 end packets
                header = struct.pack("!BBHII", 0x80, (0x80 if n == 0 else 0) | 101,
                                     seq & 0xFFFF, 1000, ssrc)
                payload = struct.pack("!BBH", event, (0x80 if n >= 5 else 0) | 10,
                                      min(n + 1, 5) * 160)
                rtp.sendto(header + payload, remote_rtp)
                seq += 1
                time.sleep(0.02)
        if hangup_after is not None and now >= hangup_after:
            bye = (f"BYE sip:{callee}@{host}:{remote[1]} SIP/2.0\r\n" +
                   base.format(to_tag=f";tag={to_tag}") + "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
            sip.sendto(bye.encode(), remote)
            result.ended_at = now
            break
        try:
            data = sip.recv(65535).decode()
        except TimeoutError:
            continue
        if data.startswith("BYE "):
            lines = data.split("\r\n\r\n")[0].split("\r\n")
            keep = [line for line in lines[1:] if line.split(":")[0].lower() in
                    ("via", "from", "to", "call-id", "cseq")]
            sip.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                        "\r\nContent-Length: 0\r\n\r\n").encode(), remote)
            result.bye_from_ivr = True
            result.ended_at = time.monotonic() - answered_at[0]
            break
    time.sleep(0.2)
    stop.set()
    sip.close()
    rtp.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="host:port of the IVR")
    parser.add_argument("--callee", default="ivr")
    parser.add_argument("--digits", default="", help="e.g. 2@2.5,1@6 (digit@seconds)")
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args()
    digits = [(float(t), d) for d, _, t in (x.partition("@") for x in args.digits.split(",")
                                            if x)]
    result = place_call(args.target, callee=args.callee, digits=digits,
                        duration=args.duration)
    mean, p99 = result.gap_stats()
    print(f"status {result.status}, answered in {result.answer_ms:.0f} ms, "
          f"{len(result.packets)} RTP packets (gap mean {mean:.1f} ms, p99 {p99:.1f} ms), "
          f"{result.speech_seconds:.1f} s of speech, "
          f"{'IVR hung up' if result.bye_from_ivr else 'no BYE'} at {result.ended_at:.1f} s")


if __name__ == "__main__":
    main()
