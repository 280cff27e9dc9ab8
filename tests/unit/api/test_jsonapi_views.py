"""JSON:API POST /api/message on the real app (Flask test client, real service and users)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from ivr.api.app import create_app
from ivr.service import Services
from tests.unit.api.test_acrobits_views import make_services


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Services, FlaskClient]]:
    services = make_services(tmp_path)
    services.users.add("LOGIN", "PASSWORD", {"sms"})
    services.users.ensure_demo_user()
    yield services, create_app(services.settings, services).test_client()
    services.users.close()


def doc(response: Any) -> Any:
    assert response.content_type == "application/vnd.api+json"
    document = json.loads(response.data)
    assert ("data" in document) != ("errors" in document)   # never both, never neither
    return document


def test_one_recipient(env: tuple[Services, FlaskClient]) -> None:
    services, client = env
    response = client.post("/api/message?_login=LOGIN&_password=PASSWORD"
                           "&destination_number=12123388100&body=test&require_dlr=1")
    data = doc(response)["data"]
    assert response.status_code == 200 and data["type"] == "message"
    assert data["attributes"] == {"destination_number": "12123388100", "segments": 1,
                                  "status": "ok"}
    assert data["meta"] == {"request_id": "1"}
    stored = services.sms.get(data["id"])
    assert stored is not None and stored.request_status_report and stored.owner == "LOGIN"


def test_several_recipients_in_a_form_body_with_request_ids(
        env: tuple[Services, FlaskClient]) -> None:
    services, client = env
    response = client.post("/api/message", data=MultiDict([
        ("_login", "HTTP_User_1"), ("_password", "qwe123"), ("source_name", "Shop"),
        ("destination_number", "12123388100"), ("body", "a" * 200), ("request_id", "r1"),
        ("require_dlr", "0"),
        ("destination_number", "12123388101"), ("body", "b"), ("request_id", "r2"),
        ("require_dlr", "1")]))
    data = doc(response)["data"]
    assert [(d["meta"]["request_id"], d["attributes"]["segments"]) for d in data] == [
        ("r1", 2), ("r2", 1)]
    first, second = (services.sms.get(d["id"]) for d in data)
    assert first is not None and second is not None
    assert (first.body, first.client_ref, first.request_status_report, first.sender) == (
        "a" * 200, "r1", False, "Shop")
    assert (second.body, second.request_status_report) == ("b", True)


def test_one_bad_recipient_among_several_is_an_error_item(
        env: tuple[Services, FlaskClient]) -> None:
    response = env[1].post("/api/message?_login=LOGIN&_password=PASSWORD&body=x"
                           "&destination_number=12123388100&destination_number=abc")
    data = doc(response)["data"]
    assert [d["attributes"]["status"] for d in data] == ["ok", "error"]


@pytest.mark.parametrize("query,status,code", [
    ("_login=LOGIN&_password=nope&destination_number=1&body=x", 401, "authentication"),
    ("_login=LOGIN&_password=PASSWORD&body=x", 400, "destination_number"),
    ("_login=LOGIN&_password=PASSWORD&destination_number=abc&body=x", 400,
     "destination_number"),
    ("_login=LOGIN&_password=PASSWORD&destination_number=1212", 400, "body"),
    ("_login=LOGIN&_password=PASSWORD&destination_number=1212&body=x&stealth_ping=1", 400,
     "stealth_ping"),
])
def test_errors(env: tuple[Services, FlaskClient], query: str, status: int, code: str) -> None:
    response = env[1].post(f"/api/message?{query}")
    errors = doc(response)["errors"]
    assert response.status_code == status
    assert errors[0]["code"] == code and errors[0]["detail"] and errors[0]["title"]


def test_stealth_ping_error_is_clear(env: tuple[Services, FlaskClient]) -> None:
    response = env[1].post("/api/message?_login=LOGIN&_password=PASSWORD"
                           "&destination_number=12123388100&stealth_ping=1")
    assert doc(response)["errors"][0]["detail"] == (
        "The route for 12123388100 (loopback) cannot send a silent SMS")
