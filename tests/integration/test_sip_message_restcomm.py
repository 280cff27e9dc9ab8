"""Restcomm ``To=client:alice`` through the real API: a SIP MESSAGE via Kamailio to SIPp alice.

Seed 003: "If the recipient is a registered CPaaS Client then a SIP message is generated and
routed to the VoIP client". The route ``client:`` -> the SIP MESSAGE transport is configured as
a user would; a 200 OK from alice makes the message ``delivered`` (RFC 3428 §7).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from ivr.api.app import create_app, serve_http
from ivr.api.restcomm import message_id_from_sid
from ivr.config import Settings
from ivr.service import Services, _callback_formats, build_sms_service
from ivr.sms.message import Status
from ivr.users import UserStore
from ivr.voice.sip_message import from_url
from tests.integration.test_sip_message import (  # noqa: F401 (kamailio is a fixture)
    kamailio,
    register_alice,
    start_alice,
    stop,
)


def test_client_recipient_gets_a_sip_message(kamailio: int, tmp_path: Path) -> None:  # noqa: F811
    alice, trace = start_alice(tmp_path)
    settings = Settings()
    settings.ivr.data_dir = str(tmp_path / "var")
    settings.sms.database_url = f"sqlite:///{tmp_path}/var/ivr.db"
    settings.sms.transports = {"loopback": "loopback://"}
    settings.sms.routes = {"client:": "clients"}
    sms = build_sms_service(settings, callback_formats=_callback_formats(), extra_transports={
        "clients": from_url("clients", f"sip://127.0.0.1:{kamailio}?timeout=20")})
    services = Services(settings=settings, sms=sms, users=UserStore(tmp_path / "users.db"))
    account = services.users.add("cpaas", "cpaas-pw", {"sms"})
    sms.start()
    http = serve_http(create_app(settings, services), "127.0.0.1", 0, 4)
    try:
        register_alice(tmp_path, kamailio)
        response = requests.post(
            f"http://127.0.0.1:{http.port}/api/2012-04-24/Accounts/{account.account_sid}"
            "/SMS/Messages.json", data={"From": "19876543212", "To": "client:alice",
                                        "Body": "Test SIP message"},
            auth=(account.account_sid, account.auth_token), timeout=20)
        assert response.status_code == 200
        resource = json.loads(response.text)
        assert resource["to"] == "client:alice"
        assert alice.wait(timeout=30) == 0
        assert "\nTest SIP message" in trace.read_text(encoding="utf-8")
        message_id = message_id_from_sid(resource["sid"]) or ""
        deadline = time.monotonic() + 20
        while True:
            message = sms.get(message_id)
            assert message is not None
            if message.status == Status.DELIVERED or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert message.status == Status.DELIVERED and message.transport == "clients"
    finally:
        http.stop()
        sms.stop()
        services.users.close()
        stop(alice)
