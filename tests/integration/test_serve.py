"""`ivr serve` as a user runs it: one process answering SIP and HTTP; notifications out."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from callback_receiver import CallbackReceiver
from sip_caller import place_call

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_api(port: int, timeout: float = 30.0) -> None:
    """Until a starting ``ivr serve`` answers HTTP on ``port`` (or ``timeout`` passed). The
    supervisor listens before its HTTP workers run, so a read can time out meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)


def test_serve_call_sms_and_ozeki_notifications(tmp_path: Path,
                                                receiver: CallbackReceiver) -> None:
    sip_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    config = tmp_path / "ivr.conf"
    config.write_text(f"""[ivr]
data_dir = {tmp_path}/var
[sms]
database_url = sqlite:///{tmp_path}/var/ivr.db
[sip]
rtp_port_low = 47000
rtp_port_high = 47100
default_script = {ROOT}/tests/data/sip/press2.xml
[audio]
cache_dir = {tmp_path}/cache
[http]
notification_url = {receiver.url}/events
""")
    server = subprocess.Popen([sys.executable, "-m", "ivr.cli", "serve", "--demo", "--config",
                               str(config), "--sip-port", str(sip_port), "--http-port",
                               str(http_port)], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        wait_for_api(http_port)
        result = place_call(f"127.0.0.1:{sip_port}", digits=[(1.0, "2")], duration=15)
        assert result.status == 200 and result.bye_from_ivr
        hits = receiver.wait_for(3, timeout=15)
        names = [hit.form.get("NotificationName") for hit in hits]
        assert sorted(names) == ["CallConnected", "CallEnded", "SmsDelivered"]
        assert names.index("CallConnected") < names.index("CallEnded")
        connected = hits[0].form
        assert connected["Caller"] == "15550001111" and connected["CallId"]
        delivered = next(h.form for h in hits if h.form["NotificationName"] == "SmsDelivered")
        assert (delivered["Recipient"], delivered["DeliveryStatus"]) == ("+3612345678",
                                                                          "Delivered")
        listing = requests.get(f"http://127.0.0.1:{http_port}/api?command=SendSms&Username="
                               "HTTP_User_1&Password=qwe123&Recipient=%2B3611&Message=hi",
                               timeout=10)
        assert "<Code>200</Code>" in listing.text
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output[-3000:]
    assert "Demo account" in output and "AccountSid: AC" in output
    assert "Traceback" not in output
