"""Acrobits /send_message/ on the real app (Flask test client, real SmsService and UserStore)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from ivr.api.app import create_app
from ivr.config import Settings
from ivr.service import Services, build_services


def make_services(tmp_path: Path) -> Services:
    settings = Settings()
    settings.ivr.data_dir = str(tmp_path / "var")
    settings.sms.database_url = f"sqlite:///{tmp_path}/var/ivr.db"
    settings.sms.transports = {"loopback": "loopback://?delay=0.05"}
    settings.sms.callback_allow = ["127.0.0.0/8"]      # callbacks to the tests' receivers
    return build_services(settings)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Services, FlaskClient]]:
    services = make_services(tmp_path)
    services.users.add("johndow", "12345678", {"sms"})
    services.users.add("nosms", "12345678", {"calls"})
    services.users.ensure_demo_user()
    yield services, create_app(services.settings, services).test_client()
    services.users.close()


def body(response: Any) -> Any:
    assert response.content_type == "application/json"
    return json.loads(response.data)


def test_get_stores_content_type_and_disposition(env: tuple[Services, FlaskClient]) -> None:
    services, client = env
    response = client.get("/send_message/?from=johndow&password=12345678&sms_to=%2B15551231234"
                          "&sms_body=Hello%20World&content_type=text/plain"
                          "&disposition_notification=xkXRBMCL.twvNcfC9:positive-delivery,display")
    assert response.status_code == 200
    sms_id = body(response)["sms_id"]
    stored = services.sms.get(sms_id)
    assert stored is not None and stored.recipient == "+15551231234"
    assert stored.owner == "johndow" and stored.body == "Hello World"
    assert stored.content_type == "text/plain"
    assert stored.disposition_notification == "xkXRBMCL.twvNcfC9:positive-delivery,display"


def test_json_and_form_posts_and_punctuated_numbers(env: tuple[Services, FlaskClient]) -> None:
    services, client = env
    response = client.post("/send_message/", json={
        "from": "johndow", "password": "12345678", "sms_to": "+1(555)123-1234",
        "sms_body": "Hello World", "content_type": "application/x-acro-filetransfer+json"})
    stored = services.sms.get(body(response)["sms_id"])
    assert stored is not None and stored.recipient == "+15551231234"
    assert stored.content_type == "application/x-acro-filetransfer+json"
    response = client.post("/send_message", data={"from": "HTTP_User_1", "password": "qwe123",
                                                   "to": "+15551231234", "body": "form"})
    assert response.status_code == 200 and "sms_id" in body(response)


@pytest.mark.parametrize("query,status,message", [
    ("from=johndow&password=wrong&sms_to=1555&sms_body=x", 401, "Invalid username or password"),
    ("password=12345678&sms_to=1555&sms_body=x", 401,
     "Missing account credentials (from, password)"),
    ("from=johndow&password=12345678&sms_to=not%20a%20number&sms_body=x", 406,
     "Invalid recipient"),
    ("from=johndow&password=12345678&sms_body=x", 406, "Invalid recipient"),
    ("from=johndow&password=12345678&sms_to=1555", 400, "Empty message body"),
    ("from=nosms&password=12345678&sms_to=1555&sms_body=x", 403,
     "This account may not send messages"),
])
def test_errors_are_non_2xx_with_message(env: tuple[Services, FlaskClient], query: str,
                                         status: int, message: str) -> None:
    response = env[1].get(f"/send_message/?{query}")
    assert response.status_code == status
    assert body(response) == {"message": message}


def test_demo_user_refused_from_another_address(env: tuple[Services, FlaskClient]) -> None:
    response = env[1].get("/send_message/?from=HTTP_User_1&password=qwe123&sms_to=1555"
                          "&sms_body=x", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.status_code == 403
