"""SIP (RFC 3261) and SDP (RFC 4566) messages as values. Pure: bytes in, values out.

Only what an IVR user agent needs: parse requests and responses (compact header forms
included), build responses that echo Via/From/To/Call-ID/CSeq exactly, build in-dialog and
out-of-dialog requests (a :class:`Dialog` for either side, the ACK of a failed INVITE, CANCEL),
answer digest challenges, and read/write the audio part of SDP offers and answers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass, field

__all__ = ["SipMessage", "SipParseError", "parse", "response", "request", "Sdp", "parse_sdp",
           "answer_sdp", "offer_sdp", "param", "uri_host_port", "new_tag", "new_branch",
           "name_addr_uri", "Dialog", "tag", "sipfrag_status", "replaces_uri", "choose_audio", "answer_direction", "DIRECTIONS", "ack_non_2xx", "cancel_for", "digest_authorization",
           "digest_response"]

_COMPACT = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact",
            "l": "Content-Length", "c": "Content-Type", "k": "Supported", "s": "Subject",
            "o": "Event", "r": "Refer-To", "b": "Referred-By"}
_CANONICAL = {name.lower(): name for name in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type",
    "Max-Forwards", "Record-Route", "Route", "WWW-Authenticate", "Proxy-Authenticate",
    "Authorization", "Proxy-Authorization", "Expires", "User-Agent", "Allow", "Supported",
    "Refer-To", "Event", "Subscription-State")}


class SipParseError(ValueError):
    pass


@dataclass
class SipMessage:
    method: str = ""          # requests
    uri: str = ""
    status: int = 0           # responses
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str, default: str = "") -> str:
        low = name.lower()
        return next((v for n, v in self.headers if n.lower() == low), default)

    def all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for n, v in self.headers if n.lower() == low]

    @property
    def call_id(self) -> str:
        return self.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.get("CSeq").partition(" ")
        try:
            return int(number), method.strip().upper()
        except ValueError:
            raise SipParseError(f"bad CSeq {self.get('CSeq')!r}") from None

    def encode(self) -> bytes:
        start = (f"{self.method} {self.uri} SIP/2.0" if self.method
                 else f"SIP/2.0 {self.status} {self.reason}")
        lines = [start] + [f"{n}: {v}" for n, v in self.headers
                           if n.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def parse(data: bytes) -> SipMessage:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("SIP headers are not UTF-8") from None
    lines = re.split(r"\r?\n", text)
    if not lines or not lines[0].strip():
        raise SipParseError("empty message")
    first = lines[0].split(" ", 2)
    message = SipMessage()
    if first[0] == "SIP/2.0":
        if len(first) < 2 or not first[1].isdigit():
            raise SipParseError(f"bad status line {lines[0]!r}")
        message.status, message.reason = int(first[1]), first[2] if len(first) > 2 else ""
    elif len(first) == 3 and first[2] == "SIP/2.0":
        message.method, message.uri = first[0].upper(), first[1]
    else:
        raise SipParseError(f"bad start line {lines[0]!r}")
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and message.headers:  # folded continuation line
            name, value = message.headers[-1]
            message.headers[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"bad header line {line!r}")
        name = name.strip()
        name = _COMPACT.get(name.lower(), _CANONICAL.get(name.lower(), name))
        if name in ("Via", "Contact", "Route", "Record-Route"):
            # Comma-separated values are separate headers (RFC 3261 §7.3.1).
            message.headers.extend((name, v.strip()) for v in _split_commas(value))
        else:
            message.headers.append((name, value.strip()))
    length = message.get("Content-Length").strip()
    if length and not (length.isdigit() and len(length) <= 10):
        # int() of 5,000 digits raises ValueError (Python's str-digit limit): refuse the
        # value itself, whatever its size (RFC 3261 §20.14: 1*DIGIT, the body's octets).
        raise SipParseError(f"bad Content-Length {length[:20]!r}")
    message.body = body[: int(length)] if length else body
    return message


def _split_commas(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def param(header: str, name: str) -> str:
    found = re.search(rf";\s*{re.escape(name)}=([^;,>\s]+)", header, re.IGNORECASE)
    return found.group(1).strip('"') if found else ""


def name_addr_uri(value: str) -> str:
    """The URI of a ``"Name" <sip:u@h>;tag=x`` or ``sip:u@h;tag=x`` header value."""
    inside = re.search(r"<([^>]*)>", value)
    return inside.group(1) if inside else value.split(";")[0].strip()


def uri_host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    hostpart = re.sub(r"^sips?:", "", uri).split(";")[0].split("?")[0]
    hostpart = hostpart.rsplit("@", 1)[-1]
    if hostpart.startswith("["):
        host, _, rest = hostpart[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, _, port = hostpart.partition(":")
    return host, int(port) if port.isdigit() else default_port


def uri_user(uri: str) -> str:
    rest = re.sub(r"^sips?:", "", name_addr_uri(uri))
    return rest.split("@", 1)[0] if "@" in rest else ""


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def response(req: SipMessage, status: int, reason: str, *, to_tag: str = "",
             headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> SipMessage:
    copied = [(n, v) for n, v in req.headers if n in ("Via", "From", "Call-ID", "CSeq",
                                                      "Record-Route")]
    to = req.get("To")
    if to_tag and not param(to, "tag") and status > 100:
        to = f"{to};tag={to_tag}"
    copied.insert(next((i for i, (n, _) in enumerate(copied) if n == "Call-ID"), 0),
                  ("To", to))
    return SipMessage(status=status, reason=reason,
                      headers=copied + list(headers or []), body=body)


def request(method: str, uri: str, headers: list[tuple[str, str]],
            body: bytes = b"") -> SipMessage:
    return SipMessage(method=method, uri=uri, headers=headers, body=body)


@dataclass
class Dialog:
    """RFC 3261 §12 dialog state as our side sees it: what in-dialog requests are built from.

    Either side of a call builds it the same way once the dialog exists, so BYE, REFER and the
    ACK of a 2xx are written once for incoming and outgoing calls.
    """

    call_id: str
    local: str                  # our party: From of the requests we send, with our tag
    remote: str                 # their party: To of the requests we send, with their tag
    remote_target: str          # their Contact URI: Request-URI of the requests we send
    route_set: tuple[str, ...]  # Route headers, in the order we send them
    cseq: int                   # the CSeq number we used last

    @classmethod
    def from_invite(cls, invite: SipMessage, local_tag: str) -> Dialog:
        """We are the UAS (§12.1.1): the route set is Record-Route as received."""
        to = invite.get("To")
        return cls(invite.call_id, to if param(to, "tag") else f"{to};tag={local_tag}",
                   invite.get("From"),
                   name_addr_uri(invite.get("Contact")) or name_addr_uri(invite.get("From")),
                   tuple(invite.all("Record-Route")), invite.cseq[0])

    @classmethod
    def from_2xx(cls, ok: SipMessage) -> Dialog:
        """We are the UAC (§12.1.2): the route set is Record-Route of the 2xx, reversed."""
        return cls(ok.call_id, ok.get("From"), ok.get("To"),
                   name_addr_uri(ok.get("Contact")) or name_addr_uri(ok.get("To")),
                   tuple(reversed(ok.all("Record-Route"))), ok.cseq[0])

    def request(self, method: str, via: str, headers: list[tuple[str, str]] | None = None,
                body: bytes = b"") -> SipMessage:
        """A request in this dialog; ACK reuses the INVITE's CSeq number (§13.2.2.4)."""
        if method != "ACK":
            self.cseq += 1
        return SipMessage(method=method, uri=self.remote_target, headers=[
            ("Via", via), ("Max-Forwards", "70"), ("From", self.local), ("To", self.remote),
            ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} {method}"),
            *[("Route", route) for route in self.route_set], *(headers or [])], body=body)

    def next_hop(self, fallback: tuple[str, int]) -> tuple[str, int]:
        """Where in-dialog requests go: the first route (loose routing) or the remote target."""
        uri = name_addr_uri(self.route_set[0]) if self.route_set else self.remote_target
        return uri_host_port(uri) if uri else fallback


def ack_non_2xx(final: SipMessage, request_uri: str) -> SipMessage:
    """ACK of a 3xx–6xx answer to our INVITE: part of the INVITE transaction (§17.1.1.3), so it
    reuses the INVITE's Via (echoed in the response) and CSeq number, with the response's To."""
    return SipMessage(method="ACK", uri=request_uri, headers=[
        ("Via", final.all("Via")[0] if final.all("Via") else ""), ("Max-Forwards", "70"),
        ("From", final.get("From")), ("To", final.get("To")), ("Call-ID", final.call_id),
        ("CSeq", f"{final.cseq[0]} ACK")])


def cancel_for(invite: SipMessage) -> SipMessage:
    """CANCEL of our pending INVITE (§9.1): same Request-URI, top Via, From, To, Call-ID and
    CSeq number as the INVITE, so the far end matches it to the INVITE transaction."""
    return SipMessage(method="CANCEL", uri=invite.uri, headers=[
        ("Via", invite.all("Via")[0]), ("Max-Forwards", "70"), ("From", invite.get("From")),
        ("To", invite.get("To")), ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq[0]} CANCEL"), *[("Route", r) for r in invite.all("Route")]])


def digest_response(challenge: str, *, method: str, uri: str, username: str, password: str,
                    cnonce: str = "", nc: int = 1) -> str:
    """The ``Digest ...`` credentials answering a WWW-/Proxy-Authenticate challenge
    (RFC 2617 §3.2.2, MD5, with qop=auth when offered); ValueError for another scheme or
    algorithm. ``cnonce`` is random unless given (tests replay RFC 2617's example)."""
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"unsupported auth scheme {scheme!r}")
    params = {key.strip().lower(): value.strip().strip('"') for key, _, value in
              (item.strip().partition("=") for item in _split_commas(rest) if item.strip())}
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 (RFC 2617 mandates MD5)

    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        count = f"{nc:08x}"
        response = md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        fields.append(f'response="{md5(f"{ha1}:{nonce}:{ha2}")}"')
    fields.append("algorithm=MD5")
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


def digest_authorization(challenge: str, method: str, uri: str, username: str,
                         password: str) -> str:
    """:func:`digest_response` for our own requests (INVITE, REGISTER, MESSAGE)."""
    return digest_response(challenge, method=method, uri=uri, username=username,
                           password=password)


DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
                     "inactive": "inactive"}


@dataclass(frozen=True)
class Sdp:
    address: str
    port: int
    payloads: dict[int, str]    # payload type -> "PCMU/8000", "telephone-event/8000", ...
    formats: tuple[int, ...]    # m= order
    direction: str = "sendrecv"  # a= attribute of the audio stream (RFC 3264 §5.1)

    @property
    def on_hold(self) -> bool:
        """The offerer will not listen: a=sendonly/inactive, or RFC 2543's c=0.0.0.0."""
        return self.direction in ("sendonly", "inactive") or self.address == "0.0.0.0"


def answer_direction(offered: str, holding: bool = False) -> str:
    """RFC 3264 §6.1: sendonly is answered recvonly, recvonly sendonly, inactive inactive;
    while we hold the far end we only send, so sendrecv becomes sendonly and recvonly
    becomes inactive (RFC 3264 §8.4)."""
    answer = _ANSWER_DIRECTION.get(offered, "sendrecv")
    if holding:
        answer = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(answer, answer)
    return answer


def choose_audio(offer: Sdp) -> tuple[int, int | None] | None:
    """The G.711 payload type we answer with (the offerer's preference, RFC 3264 §6.1) and
    the telephone-event type that goes with it: only an 8000 Hz event, whatever its
    number, because an answer may not relabel the offerer's 48 kHz or 16 kHz event types
    (RFC 4733 §2.1, RFC 3264 §6.1). None when neither PCMU nor PCMA is offered."""
    codec = next((pt for pt in offer.formats if pt in (0, 8) and
                  offer.payloads.get(pt, "").upper().split("/")[0] in ("PCMU", "PCMA", "")),
                 None)
    if codec is None:
        return None
    event = next((pt for pt in offer.formats
                  if offer.payloads.get(pt, "").lower().replace(" ", "")
                  .startswith("telephone-event/8000")), None)
    return codec, event


_STATIC = {0: "PCMU/8000", 8: "PCMA/8000", 18: "G729/8000", 3: "GSM/8000", 9: "G722/8000"}


def parse_sdp(body: bytes) -> Sdp:
    """The audio stream of an offer or answer, validated so that nothing a remote party writes
    can reach a socket call unchecked: the port must be 1-65535 and the address an IPv4
    literal. A host name is refused rather than resolved: resolving it would block (and
    formerly ran per packet on the media clock), and RFC 4566 §5.7 lets a peer use a literal."""
    address, port = "", 0
    formats: tuple[int, ...] = ()
    payloads: dict[int, str] = {}
    media_address = ""
    in_audio = False
    direction = "sendrecv"
    for line in body.decode("utf-8", "replace").splitlines():
        key, _, value = line.strip().partition("=")
        if key == "c" and value:
            addr = value.split()[-1].split("/")[0]
            if in_audio:
                media_address = addr
            else:
                address = addr
        elif key == "m":
            fields = value.split()
            in_audio = bool(fields) and fields[0] == "audio"
            if in_audio and len(fields) >= 4 and fields[1].isdigit():
                port = _media_port(fields[1])
                formats = tuple(int(f) for f in fields[3:] if f.isdigit() and len(f) <= 3)
        elif key == "a" and value in DIRECTIONS:
            if in_audio or not formats:     # media level, or session level before m=
                direction = value
        elif key == "a" and in_audio and value.startswith("rtpmap:"):
            pt, _, name = value[len("rtpmap:"):].partition(" ")
            if pt.isdigit() and len(pt) <= 3:
                payloads[int(pt)] = name.strip()
    if not port:
        raise SipParseError("the SDP offer has no audio stream")
    chosen = media_address or address
    if not _is_ipv4_literal(chosen):
        raise SipParseError(f"the SDP connection address {chosen[:64]!r} is not an IPv4 "
                            "address (host names are not resolved)")
    for fmt in formats:
        payloads.setdefault(fmt, _STATIC.get(fmt, ""))
    return Sdp(chosen, port, payloads, formats, direction)


def _media_port(text: str) -> int:
    if len(text) > 5 or not 0 < int(text) < 65536:
        raise SipParseError(f"the SDP media port {text[:16]!r} is outside 1-65535")
    return int(text)


def _is_ipv4_literal(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def answer_sdp(address: str, port: int, event_pt: int | None, session: int, *,
               codecs: tuple[int, ...] = (0,), version: int = 0,
               direction: str = "sendrecv") -> bytes:
    """Our session description: the G.711 ``codecs`` in order (we encode both ourselves),
    an 8000 Hz telephone-event, and the stream direction. ``version`` is o='s version,
    raised whenever the description changes (RFC 3264 §8)."""
    formats = " ".join(str(pt) for pt in codecs) + (f" {event_pt}" if event_pt is not None
                                                     else "")
    lines = ["v=0", f"o=ivr {session} {session + version} IN IP4 {address}", "s=ivr",
             f"c=IN IP4 {address}", "t=0 0", f"m=audio {port} RTP/AVP {formats}"]
    lines += [f"a=rtpmap:{pt} {_STATIC[pt]}" for pt in codecs]
    if event_pt is not None:
        lines += [f"a=rtpmap:{event_pt} telephone-event/8000", f"a=fmtp:{event_pt} 0-15"]
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def offer_sdp(address: str, port: int, session: int, *, version: int = 0,
              direction: str = "sendrecv", codecs: tuple[int, ...] = (0, 8)) -> bytes:
    """Our offer on outgoing calls (and our hold re-INVITEs): PCMU and PCMA, telephone-event
    as type 101."""
    return answer_sdp(address, port, 101, session, codecs=codecs, version=version,
                      direction=direction)


def sipfrag_status(body: bytes) -> int:
    """The status of a ``message/sipfrag`` NOTIFY body (RFC 3515 §2.4.5, RFC 3420):
    ``SIP/2.0 200 OK`` → 200; 0 when it is not a status line."""
    first = body.split(b"\n", 1)[0].strip().split(b" ", 2)
    if len(first) >= 2 and first[0] == b"SIP/2.0" and first[1].isdigit() and \
            len(first[1]) == 3:
        return int(first[1])
    return 0


def replaces_uri(target: str, call_id: str, to_tag: str, from_tag: str) -> str:
    """``target`` with an escaped Replaces header (RFC 3891 §3, RFC 3515 §2.1): the
    transferee's INVITE to the target then replaces our consultation dialog, which the target
    knows by its Call-ID, its own tag (to-tag) and ours (from-tag)."""
    from urllib.parse import quote

    value = f"{call_id};to-tag={to_tag};from-tag={from_tag}"
    return f"{target}?Replaces={quote(value, safe='')}"


def tag(header: str) -> str:
    """The tag parameter of a From or To value (RFC 3261 §19.3), "" when there is none."""
    return param(header, "tag")
