"""Hostile SIP traffic for the hardening tests: INVITE floods, malformed datagrams and
extreme SDP values. Every generator is bounded in count; a seed makes a run repeatable."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["FloodResult", "invite", "flood", "malformed", "extreme_sdps", "options_answered"]


def invite(target: tuple[str, int], local: tuple[str, int], call_id: str, sdp: str | None = None,
           *, from_tag: str = "f1", cseq: int = 1, extra: str = "") -> bytes:
    """An INVITE as a softphone writes it (PCMU + telephone-event unless ``sdp`` is given)."""
    if sdp is None:
        sdp = ("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {local[1] + 1} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    return (f"INVITE sip:ivr@{target[0]}:{target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{call_id}-{cseq}\r\n"
            f"From: <sip:flood@{local[0]}>;tag={from_tag}\r\nTo: <sip:ivr@{target[0]}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:flood@{local[0]}:{local[1]}>\r\n{extra}"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
            ).encode()


@dataclass
class FloodResult:
    trying_ms: list[float] = field(default_factory=list)   # INVITE -> 100 Trying, per call
    finals: dict[int, int] = field(default_factory=dict)    # final status -> how many
    retry_after: set[str] = field(default_factory=set)      # Retry-After values seen

    def median_trying_ms(self) -> float:
        ordered = sorted(self.trying_ms)
        return ordered[len(ordered) // 2] if ordered else float("inf")


def flood(target: tuple[str, int], count: int, rate: float, *, linger: float = 1.0,
          prefix: str = "flood") -> FloodResult:
    """``count`` INVITEs at ``rate`` per second that are never ACKed (nor answered to BYE)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.005)
    local = sock.getsockname()
    sent: dict[str, float] = {}
    result = FloodResult()
    seen_trying: set[str] = set()
    finals: dict[str, int] = {}
    start = time.monotonic()
    end = start + count / rate + linger
    number = 0
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            while number < count and now >= start + number / rate:
                call_id = f"{prefix}-{number}-{random.randrange(10**9)}"
                sock.sendto(invite(target, local, call_id), target)
                sent[call_id] = time.monotonic()
                number += 1
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
            if not head[0].startswith("SIP/2.0 "):
                continue
            status = int(head[0].split()[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in head[1:])}
            call_id = headers.get("call-id", "")
            if call_id not in sent:
                continue
            if status == 100 and call_id not in seen_trying:
                seen_trying.add(call_id)
                result.trying_ms.append((time.monotonic() - sent[call_id]) * 1000)
            elif status >= 200 and call_id not in finals:
                finals[call_id] = status
                if "retry-after" in headers:
                    result.retry_after.add(headers["retry-after"])
    finally:
        sock.close()
    for status in finals.values():
        result.finals[status] = result.finals.get(status, 0) + 1
    return result


def malformed(seed: int, count: int) -> Iterator[bytes]:
    """Datagrams a parser must refuse or survive: noise, truncations, hostile headers."""
    rnd = random.Random(seed)
    good = invite(("127.0.0.1", 5060), ("127.0.0.1", 5070), "fuzz-base")
    fixed = [
        b"", b"\r\n\r\n", b"\x00" * 64, b"SIP/2.0", b"SIP/2.0 abc OK\r\n\r\n",
        b"INVITE\r\n\r\n", b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nCall-ID: c\r\nCSeq: x INVITE\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nCall-ID: c\r\nCSeq: " + b"9" * 5000 + b" INVITE\r\n\r\n",
        good.replace(b"Content-Length: ", b"Content-Length: " + b"9" * 5000),
        good.replace(b"Content-Length: ", b"Content-Length: -"),
        b"BYE sip:x SIP/2.0\r\nCall-ID: nobody\r\nCSeq: 1 BYE\r\n\r\n",
        b"OPTIONS sip:x SIP/2.0\r\n" + b"X: " + b"a" * 60000 + b"\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\n" + b"Via: a,\r\n" * 2000 + b"\r\n",
        b"SIP/2.0 200 OK\r\nCall-ID: nobody\r\nCSeq: 1 INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\nCall-ID: nobody\r\nCSeq: 1 INVITE\r\nTo: <sip:[::1>\r\n\r\n",
        b"\xff\xfe INVITE sip:x SIP/2.0\r\n\r\n",
        good.replace(b"Via: ", b"Via:\r\n "),
    ]
    yield from fixed[:count]
    for _ in range(max(0, count - len(fixed))):
        kind = rnd.randrange(4)
        if kind == 0:
            yield rnd.randbytes(rnd.randrange(1, 1500))
        elif kind == 1:
            yield good[: rnd.randrange(len(good))]
        elif kind == 2:
            data = bytearray(good)
            for _ in range(rnd.randrange(1, 20)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
            yield bytes(data)
        else:
            lines = good.split(b"\r\n")
            rnd.shuffle(lines)
            yield b"\r\n".join(lines)


def extreme_sdps() -> list[tuple[str, int]]:
    """SDP offers with values at and beyond every limit, with the final status each must
    get: 488 for what cannot be used, 200 for what is odd but still offers G.711."""
    head = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    many = " ".join(str(n) for n in range(128)) + " " + " ".join("1" * 50 for _ in range(200))
    return [
        (head + "m=audio 99999999 RTP/AVP 0\r\n", 488),
        (head + "m=audio 0 RTP/AVP 0\r\n", 488),
        (head + "m=audio 65536 RTP/AVP 0\r\n", 488),
        (head + "m=audio -1 RTP/AVP 0\r\n", 488),
        (head + f"m=audio {'9' * 5000} RTP/AVP 0\r\n", 488),
        (head + "m=\r\n", 488),
        (head + "m=audio\r\n", 488),
        (head + "m=audio 40000/2 RTP/AVP 0\r\n", 488),
        (head + "m=audio 40000 RTP/AVP 18 96 97\r\n", 488),
        (head.replace("IN IP4 127.0.0.1\r\nt", "IN IP4 999.1.1.1\r\nt") +
         "m=audio 4000 RTP/AVP 0\r\n", 488),
        (head.replace("c=IN IP4 127.0.0.1", "c=") + "m=audio 40000 RTP/AVP 0\r\n", 488),
        (head.replace("c=IN IP4 127.0.0.1", "c=IN IP4 " + "a" * 5000) +
         "m=audio 4000 RTP/AVP 0\r\n", 488),
        ("\x00\xff" * 100, 488),
        (head + f"m=audio 40000 RTP/AVP {many}\r\n", 200),
        (head + "m=audio 40000 RTP/AVP 0\r\n" + "a=rtpmap:0 PCMU/8000\r\n" * 2000, 200),
        (head + "m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/99999999999\r\n",
         200),
        (head + "m=audio 40000 RTP/AVP 0\r\na=rtpmap:" + "9" * 5000 + " x/8000\r\n", 200),
    ]


def options_answered(target: tuple[str, int], timeout: float = 4.0) -> bool:
    """An OPTIONS ping, retransmitted like any UAC's request (RFC 3261 timer E: 0.5, 1,
    2 s): True when a 200 comes back within ``timeout`` seconds."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    call_id = f"ping-{random.randrange(10**12)}"
    local = sock.getsockname()
    request = (f"OPTIONS sip:ivr@{target[0]}:{target[1]} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{call_id}\r\n"
               f"From: <sip:ping@{local[0]}>;tag=p\r\nTo: <sip:ivr@{target[0]}>\r\n"
               f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
               ).encode()
    deadline, interval = time.monotonic() + timeout, 0.5
    try:
        while time.monotonic() < deadline:
            sock.sendto(request, target)
            sock.settimeout(min(interval, max(0.01, deadline - time.monotonic())))
            interval *= 2
            try:
                while True:
                    data = sock.recv(65535)
                    if data.startswith(b"SIP/2.0 200") and call_id.encode() in data:
                        return True
            except TimeoutError:
                continue
    finally:
        sock.close()
    return False


class RawCaller:
    """A caller on raw sockets, for what a well-behaved peer never does: delay the ACK, or
    let a third party (another socket) send requests in its dialog."""

    def __init__(self, target: tuple[str, int], *, from_tag: str = "legit") -> None:
        self.target = target
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.sip.settimeout(3.0)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.local = self.sip.getsockname()
        self.call_id = f"raw-{random.randrange(10**12)}"
        self.from_tag = from_tag
        self.to_tag = ""

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def invite(self) -> int:
        """Send the INVITE; the final status (the To tag is kept)."""
        sdp = ("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {self.rtp.getsockname()[1]} RTP/AVP 0 101\r\n"
               "a=rtpmap:101 telephone-event/8000\r\n")
        self.sip.sendto(invite(self.target, self.local, self.call_id, sdp,
                               from_tag=self.from_tag), self.target)
        while True:
            status, headers = self.response()
            if status >= 200:
                self.to_tag = headers.get("to", "").partition(";tag=")[2]
                return status

    def response(self) -> tuple[int, dict[str, str]]:
        data = self.sip.recv(65535)
        head = data.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
        return int(head[0].split()[1]), {k.strip().lower(): v.strip() for k, _, v in
                                        (line.partition(":") for line in head[1:])}

    def request(self, method: str, cseq: int, *, from_tag: str | None = None,
                to_tag: str | None = None, body: str = "",
                sock: socket.socket | None = None, call_id: str = "",
                content_type: str = "application/sdp") -> bytes:
        """A request in (or pretending to be in) the dialog; sent from ``sock``."""
        sender = sock or self.sip
        local = sender.getsockname()
        to_tag = self.to_tag if to_tag is None else to_tag
        data = (f"{method} sip:ivr@{self.target[0]}:{self.target[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{method}{cseq}"
                f"{random.randrange(10**6)}\r\n"
                f"From: <sip:flood@127.0.0.1>;tag={self.from_tag if from_tag is None else from_tag}"
                f"\r\nTo: <sip:ivr@{self.target[0]}>{';tag=' + to_tag if to_tag else ''}\r\n"
                f"Call-ID: {call_id or self.call_id}\r\nCSeq: {cseq} {method}\r\n"
                f"Max-Forwards: 70\r\nContact: <sip:x@{local[0]}:{local[1]}>\r\n"
                + (f"Content-Type: {content_type}\r\n" if body else "")
                + f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
        sender.sendto(data, self.target)
        return data

    def rtp_packets(self, seconds: float, sock: socket.socket | None = None) -> int:
        """How many RTP packets reach ``sock`` (our media port) within ``seconds``."""
        receiver = sock or self.rtp
        receiver.settimeout(0.05)
        count, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                receiver.recv(2048)
                count += 1
            except TimeoutError:
                continue
        return count

    # -- answering what the IVR sends in the dialog (hold re-INVITEs, REFER) ---------------
    def expect(self, method: str, timeout: float = 10.0) -> SipRequest:
        """The next request of ``method`` the IVR sends us (responses are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sip.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sip.recv(65535)
            except TimeoutError:
                break
            if data.startswith(method.encode() + b" "):
                return SipRequest(data)
        raise AssertionError(f"no {method} from the IVR within {timeout} s")

    def reply(self, request: SipRequest, status: int = 200, direction: str = "") -> None:
        """Answer ``request``; ``direction``: with an SDP answer carrying that a= line."""
        body = ("v=0\r\no=t 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {self.rtp.getsockname()[1]} RTP/AVP 0 101\r\n"
                f"a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n") if direction else ""
        copied = "".join(f"{line}\r\n" for line in request.lines
                         if line.split(":")[0].lower() in ("via", "from", "to", "call-id",
                                                          "cseq"))
        self.sip.sendto((f"SIP/2.0 {status} {'OK' if status < 300 else 'Refused'}\r\n{copied}"
                         f"Contact: <sip:flood@127.0.0.1:{self.local[1]}>\r\n"
                         + ("Content-Type: application/sdp\r\n" if body else "")
                         + f"Content-Length: {len(body)}\r\n\r\n{body}").encode(),
                        self.target)


class SipRequest:
    """A request as received: its lines and body, enough to answer it."""

    def __init__(self, data: bytes) -> None:
        head, _, body = data.partition(b"\r\n\r\n")
        self.lines = head.decode().split("\r\n")
        self.body = body.decode("utf-8", "replace")

    def header(self, name: str) -> str:
        return next((line.partition(":")[2].strip() for line in self.lines[1:]
                     if line.partition(":")[0].strip().lower() == name.lower()), "")
