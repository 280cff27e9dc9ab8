"""Provider DLR endpoints on the real app: unknown transport, bad fields, accepted reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from ivr.api.app import create_app
from ivr.service import Services
from ivr.sms.callbacks import webhook_token
from tests.unit.api.test_acrobits_views import make_services


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Services, FlaskClient]]:
    services = make_services(tmp_path)
    yield services, create_app(services.settings, services).test_client()
    services.users.close()


def test_unknown_transport_is_404(env: tuple[Services, FlaskClient]) -> None:
    response = env[1].post("/dlr/restcomm/nope", data={"MessageSid": "SM1",
                                                       "MessageStatus": "sent"})
    assert response.status_code == 404


def test_bad_field_is_400_naming_it(env: tuple[Services, FlaskClient]) -> None:
    token = webhook_token(env[0].sms.callbacks.key, "loopback")
    response = env[1].get(f"/dlr/http/loopback?id=1&status=weird&token={token}")
    assert response.status_code == 400 and b"status" in response.data
