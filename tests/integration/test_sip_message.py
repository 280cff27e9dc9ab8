"""RFC 3428 SIP MESSAGE to a registered client, through a real Kamailio registrar.

A SIPp client registers ``alice`` with Kamailio (127.0.0.1, free UDP ports); a second SIPp
instance listens on alice's Contact and answers the MESSAGE. The pure parts (request building,
response parsing, RFC 2617 digest) are checked first.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.errors import ConfigError, TransportError
from ivr.sms.message import Direction, Message
from ivr.voice.sip_message import (
    SipMessageSender,
    build_message,
    digest_response,
    from_url,
    parse_response,
)

KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
modparam("usrloc", "db_mode", 0)
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (is_method("MESSAGE")) {{
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""

UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="alice receives one MESSAGE">
  <recv request="MESSAGE" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""

REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register alice">
  <send retrans="500"><![CDATA[
REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:alice@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
To: <sip:alice@127.0.0.1>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:alice@127.0.0.1:{contact_port}>
Expires: 300
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" />
</scenario>
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- pure ------------------------------------------------------------------------------------

def test_rfc2617_digest_example() -> None:
    """RFC 2617 §3.5's worked example, method and URI as there."""
    challenge = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                 'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                 'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    answer = digest_response(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                             password="Circle Of Life", cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in answer
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in answer and "nc=00000001" in answer
    with pytest.raises(ValueError):
        digest_response('Basic realm="x"', method="MESSAGE", uri="sip:a@b", username="u",
                        password="p")


def test_build_and_parse() -> None:
    packet = build_message(request_uri="sip:alice@example.org", from_uri="sip:ivr@example.org",
                           to_uri="sip:alice@example.org", call_id="c1", cseq=1, branch="z9hG4bKx",
                           from_tag="t", via_host="127.0.0.1", via_port=5062, body="héllo")
    head, _, body = packet.partition(b"\r\n\r\n")
    assert head.startswith(b"MESSAGE sip:alice@example.org SIP/2.0\r\n")
    assert b"Content-Length: 6" in head and body == "héllo".encode()
    assert b"Contact:" not in head   # RFC 3428 §4: MESSAGE carries no Contact
    response = parse_response(b"SIP/2.0 202 Accepted\r\nv: SIP/2.0/UDP h;branch=b\r\n"
                              b"i: c1\r\nl: 0\r\n\r\n")
    assert (response.status, response.reason, response.header("Via")) == (
        202, "Accepted", "SIP/2.0/UDP h;branch=b")
    with pytest.raises(ValueError):
        parse_response(b"MESSAGE sip:a@b SIP/2.0\r\n\r\n")


def test_url() -> None:
    transport = from_url("clients", "sipmessage://ivr:pw@127.0.0.1:5070?domain=example.org")
    assert (transport.sender.port, transport.sender.domain, transport.sender.password) == (
        5070, "example.org", "pw")
    with pytest.raises(ConfigError, match="bogus"):
        from_url("c", "sipmessage://h?bogus=1")


# -- Kamailio + SIPp -------------------------------------------------------------------------

@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[int]:
    port = free_udp_port()
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.format(port=port))
    process = subprocess.Popen(["kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(tmp_path),
                                "-m", "32", "-M", "4"], stdout=subprocess.DEVNULL,
                               stderr=(tmp_path / "kamailio.log").open("wb"))
    try:
        # Kamailio is up when it answers an OPTIONS with 405 (our route refuses it)
        deadline = time.monotonic() + 20
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(0.2)
            while True:
                assert time.monotonic() < deadline and process.poll() is None, (
                    tmp_path / "kamailio.log").read_text()
                probe.sendto(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"
                             + str(probe.getsockname()[1]).encode()
                             + b";branch=z9hG4bKprobe\r\nFrom: <sip:p@h>;tag=1\r\nTo: <sip:p@h>"
                             b"\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\n"
                             b"Content-Length: 0\r\n\r\n", ("127.0.0.1", port))
                try:
                    if probe.recv(4096).startswith(b"SIP/2.0 405"):
                        break
                except TimeoutError:
                    continue
        yield port
    finally:
        stop(process)


def start_alice(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A SIPp UAS "alice" that takes one MESSAGE and writes it to the returned trace file
    (register it with :func:`register_alice`)."""
    contact_port = free_udp_port()
    (tmp_path / "uas.xml").write_text(UAS)
    (tmp_path / "reg.xml").write_text(REGISTER.format(contact_port=contact_port))
    trace = tmp_path / "alice.msg"
    alice = subprocess.Popen(["sipp", "-sf", str(tmp_path / "uas.xml"), "-i", "127.0.0.1",
                              "-p", str(contact_port), "-m", "1", "-timeout", "60",
                              "-trace_msg", "-message_file", str(trace)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    return alice, trace


def register_alice(tmp_path: Path, kamailio: int) -> None:
    """REGISTER alice's contact (from :func:`start_alice`) with the Kamailio registrar."""
    registered = subprocess.run(
        ["sipp", "-sf", str(tmp_path / "reg.xml"), "-i", "127.0.0.1", "-p",
         str(free_udp_port()), "-m", "1", "-timeout", "30", f"127.0.0.1:{kamailio}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=60)
    assert registered.returncode == 0


def test_message_reaches_registered_sipp_client(kamailio: int, tmp_path: Path) -> None:
    alice, trace = start_alice(tmp_path)
    try:
        register_alice(tmp_path, kamailio)
        transport = from_url("clients", f"sipmessage://127.0.0.1:{kamailio}?timeout=20")
        message = Message(id="m-sip", direction=Direction.OUTBOUND, sender="19876543212",
                          recipient="client:alice", body="Test SIP message ✓")
        result = transport.send(message)
        assert alice.wait(timeout=30) == 0
        received = trace.read_text(encoding="utf-8")
        assert "MESSAGE sip:alice@127.0.0.1" in received
        assert f"Call-ID: {result.provider_ids[0]}" in received
        assert "From: <sip:19876543212@127.0.0.1>" in received
        assert "\nTest SIP message ✓" in received
    finally:
        stop(alice)


def test_unregistered_client_is_a_permanent_404(kamailio: int) -> None:
    sender = SipMessageSender("127.0.0.1", kamailio, timeout=20)
    with pytest.raises(TransportError) as info:
        sender.send("nobody", "hello")
    assert (info.value.code, info.value.retryable) == ("SIP 404", False)


def test_silent_server_times_out_as_transient() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        sender = SipMessageSender("127.0.0.1", black_hole.getsockname()[1], timeout=1.8)
        with pytest.raises(TransportError) as info:
            sender.send("alice", "hi")
        assert info.value.retryable and info.value.code == "SIP timeout"
        # timer E (RFC 3261 §17.1.2.2): sent at 0, 0.5 and 1.5 s (T1, then 2*T1)
        black_hole.settimeout(0.1)
        count = 0
        try:
            while True:
                black_hole.recv(4096)
                count += 1
        except TimeoutError:
            pass
        assert count == 3
