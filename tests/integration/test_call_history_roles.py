"""Call history and the address book on PostgreSQL with ``ivr serve``'s process roles: the
voice process writes each call's record and its script sends an SMS to a contact by name,
the HTTP workers (other processes) page through the history with ListCallHistory and resolve
a list name for SendSms, and ``ivr contacts`` / ``ivr calls`` read and write the same
database."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
import requests
from sip_caller import place_call

from ivr.cli import main as cli_main
from tests.integration.roles_peers import AUTH, Served, wait_until
from tests.integration.test_serve import free_port, wait_for_api

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_http_workers_read_the_voice_roles_history_on_postgres(
        tmp_path: Path, fresh_postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    sip_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    script = tmp_path / "hello.xml"
    script.write_text('<Response><Speak>Hello.</Speak><SendSms Recipient="BOB">call from '
                      '$caller</SendSms><Hangup/></Response>')
    config = tmp_path / "ivr.conf"
    config.write_text(f"""[ivr]
data_dir = {tmp_path}/var
[sms]
database_url = {fresh_postgres_url}
database_pool_size = 4
[sms.transports]
loopback = loopback://?delay=0
[sip]
bind_port = {sip_port}
rtp_port_low = 47600
rtp_port_high = 47700
default_script = {script}
[audio]
cache_dir = {tmp_path}/cache
[http]
port = {http_port}
workers = 2
rate_limit_per_minute = 0
""")
    assert cli_main(["contacts", "--config", str(config), "add", "Alice", "+3611111111",
                     "--list", "night-shift"]) == 0
    assert cli_main(["contacts", "--config", str(config), "add", "bob", "+3622222222",
                     "--list", "Night-Shift"]) == 0
    served = Served(tmp_path / "serve.log", "--demo", "--config", str(config))
    base = f"http://127.0.0.1:{http_port}/api"

    def api(command: str, **params: str) -> dict[str, object]:
        reply = requests.get(base, timeout=10, params={"command": command, **AUTH,
                                                       "format": "json", **params})
        result: dict[str, object] = reply.json()
        return result

    try:
        wait_for_api(http_port)
        for label in ("voice", "http-1", "http-2"):
            served.wait_started(label)
        results = [place_call(f"127.0.0.1:{sip_port}", caller=f"777000{n}", duration=8)
                   for n in range(3)]
        assert all(r.status == 200 and r.bye_from_ivr for r in results)
        # Several requests, so that both HTTP workers (each its own process) answer some.
        for _ in range(6):
            wait_until(lambda: api("ListCallHistory")["TotalCount"] == "3", 10,
                       "three calls in the history")
        page = api("ListCallHistory", PageSize="2", Page="2", Direction="inbound")
        assert page["TotalCount"] == "3", page
        [oldest] = page["CallHistory"]  # type: ignore[misc]
        assert oldest["Caller"] == "7770000" and oldest["HangupCause"] == "script ended"
        assert abs(float(oldest["Duration"]) - results[0].ended_at) < 0.5
        assert api("ListCallHistory", Caller="7770002")["TotalCount"] == "1"
        names = api("ListAddressbookNames")
        assert names["AddressbookNames"] == [{"Name": "Night-Shift", "ContactCount": "2"}]
        sent = api("SendSms", Recipient="night-shift", Message="night shift, all hands")
        assert sent["Code"] == 200, sent
        call_id = str(oldest["CallId"])
    finally:
        assert served.stop() == 0
    assert "Traceback" not in served.text(), served.text()[-3000:]
    with psycopg.connect(fresh_postgres_url) as db:     # names resolved in both processes
        sent_to = sorted(r[:2] for r in db.execute("SELECT recipient, body FROM messages"))
    assert sent_to == [("+3611111111", "night shift, all hands"),
                       *sorted(("+3622222222", f"call from 777000{n}") for n in range(3)),
                       ("+3622222222", "night shift, all hands")]
    capsys.readouterr()
    assert cli_main(["calls", "--config", str(config), "show", call_id]) == 0
    assert "Caller: 7770000" in capsys.readouterr().out
