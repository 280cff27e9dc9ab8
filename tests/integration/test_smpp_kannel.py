"""Cross-check the SMSC simulator with Kannel's bearerbox as the ESME (Debian ``kannel``).

Kannel is an independent SMPP client in C: if it binds to tools/smpp_sim.py, submits what
smsbox's sendsms gives it and matches the simulator's receipts — including the hex-in-
submit_sm_resp / decimal-in-receipt mode, with Kannel's own ``msg-id-type = 0x01`` — then
the simulator speaks SMPP as real ESMEs expect, not just as our transport does.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from callback_receiver import CallbackReceiver
from smpp_sim import HappySMSC

BEARERBOX, SMSBOX = "/usr/sbin/bearerbox", "/usr/sbin/smsbox"


def free_port() -> int:
    # Kannel cannot listen on port 0; take one the kernel just handed out.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kannel_conf(smsc_port: int, admin: int, box: int, sendsms: int, logs: Path,
                msg_id_type: int) -> str:
    return f"""
group = core
admin-port = {admin}
admin-password = admin
smsbox-port = {box}
admin-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{logs}/bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = {smsc_port}
transceiver-mode = true
smsc-username = ivr
smsc-password = secret
system-type = ""
msg-id-type = {msg_id_type}
max-pending-submits = 10
enquire-link-interval = 30
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{logs}/smsbox.log"
log-level = 0

group = sendsms-user
username = tester
password = pw
max-messages = 5
concatenation = true

group = sms-service
keyword = default
text = "ok"
"""


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[tuple[HappySMSC, int, CallbackReceiver]]:
    smsc = HappySMSC(id_format="hex", receipt_id_format="other", receipt_tlvs=False,
                     receipt_delay=0.1).start()
    dlr = CallbackReceiver().start()
    admin, box, sendsms = free_port(), free_port(), free_port()
    conf = tmp_path / "kannel.conf"
    conf.write_text(kannel_conf(smsc.port, admin, box, sendsms, tmp_path, 0x01))
    bearerbox = subprocess.Popen([BEARERBOX, str(conf)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, cwd=tmp_path)
    smsbox = None
    try:
        deadline = time.monotonic() + 30
        while smsc.binds == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert smsc.binds >= 1, (tmp_path / "bearerbox.log").read_text()[-3000:]
        smsbox = subprocess.Popen([SMSBOX, str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=tmp_path)
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", sendsms), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield smsc, sendsms, dlr
    finally:
        for proc in (smsbox, bearerbox):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        dlr.stop()
        smsc.stop()


def test_kannel_submits_to_the_simulator_and_matches_its_receipts(
        kannel: tuple[HappySMSC, int, CallbackReceiver]) -> None:
    smsc, sendsms, dlr = kannel
    text = "Hello from Kannel, " * 10          # 190 chars: two concatenated parts
    query = urlencode({"username": "tester", "password": "pw", "from": "12345",
                       "to": "36201234567", "text": text, "dlr-mask": "3",
                       "dlr-url": f"{dlr.url}/dlr?type=%d&smscid=%F"})
    with urllib.request.urlopen(f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms?{query}",
                                timeout=20) as reply:
        assert reply.status == 202
    [hit] = dlr.wait_for(1, timeout=30)
    assert smsc.messages() == [("36201234567", text)]
    # Kannel asks for a receipt on the first part of a concatenated message only; the
    # simulator must send exactly that one receipt and Kannel must acknowledge it.
    assert [s.registered_delivery & 0x01 for s in smsc.accepted()] == [1, 0]
    deadline = time.monotonic() + 10
    while smsc.command_count("deliver_sm_resp") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert smsc.command_count("deliver_sm_resp") == 1
    # Kannel matched the decimal receipt id to the hex submit_sm_resp id (msg-id-type 0x01)
    # and reports type 1 = delivered to phone; %F is the id in Kannel's normalised form.
    first = smsc.accepted()[0].message_id
    assert (hit.query["type"], hit.query["smscid"]) == ("1", str(int(first, 16)))
    assert smsc.command_count("submit_sm") == 2
