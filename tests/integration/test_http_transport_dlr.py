"""Provider DLR webhook end to end: sent through a real HTTP provider, report by webhook."""

from __future__ import annotations

import time
from pathlib import Path

from ivr.api.app import create_app
from ivr.call import SmsRequest
from ivr.config import Settings
from ivr.service import build_services
from ivr.sms.callbacks import webhook_token
from ivr.sms.message import Status
from tools.http_peers import AcrobitsPeer


def test_reports_update_the_matching_message(tmp_path: Path) -> None:
    """A message sent through a real HTTP provider (id 12456), then its DLR by webhook."""
    settings = Settings()
    settings.ivr.data_dir = str(tmp_path / "var")
    settings.sms.database_url = f"sqlite:///{tmp_path}/var/ivr.db"
    with AcrobitsPeer() as peer:
        settings.sms.transports = {
            "acro": f"http+acrobits-generic://johndow:12345678@{peer.netloc}"}
        services = build_services(settings)
        services.sms.start()
        try:
            client = create_app(settings, services).test_client()
            message = services.sms.submit(SmsRequest(recipient="+15551231234", body="x"))
            deadline = time.monotonic() + 20
            while (stored := services.sms.get(message.id)) is not None and \
                    stored.status != Status.SENT and time.monotonic() < deadline:
                time.sleep(0.02)
            assert stored is not None and stored.parts[0].provider_id == "12456"
            token = webhook_token(services.sms.callbacks.key, "acro")
            # Without the webhook's token (or with another transport's) nothing changes.
            assert client.get("/dlr/http/acro?id=12456&status=16").status_code == 403
            other = webhook_token(services.sms.callbacks.key, "other")
            assert client.get(f"/dlr/http/acro?id=12456&status=16&token={other}"
                              ).status_code == 403
            assert client.get(f"/dlr/http/acro?id=12456&status=8&token={token}"
                              ).status_code == 200
            assert client.get(f"/dlr/http/acro?id=12456&status=1&token={token}"
                              ).status_code == 200
            stored = services.sms.get(message.id)
            assert stored is not None and stored.status == Status.DELIVERED
        finally:
            services.sms.stop()
            services.users.close()
