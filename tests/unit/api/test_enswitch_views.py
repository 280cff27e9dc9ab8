"""Enswitch messages/text/send on the real app: ';'/'&', GET/POST, codes 204/400/401/402/403."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from ivr.api.app import create_app
from ivr.service import Services
from ivr.sms.store import MessageQuery
from tests.unit.api.test_acrobits_views import make_services

PATH = "/api/json/messages/text/send/"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Services, FlaskClient]]:
    services = make_services(tmp_path)
    services.users.add("user", "password", {"sms"})
    services.users.add("norole", "password", {"calls"})
    services.users.add("slow", "password", {"sms"}, rate_limit_per_minute=1)
    yield services, create_app(services.settings, services).test_client()
    services.users.close()


def answer(response: Any) -> tuple[int, dict[str, str]]:
    document = json.loads(response.data)
    assert list(document) == ["responses"] and len(document["responses"]) == 1
    return response.status_code, document["responses"][0]


def test_get_semicolons(env: tuple[Services, FlaskClient]) -> None:
    services, client = env
    response = client.get(PATH + "?auth_username=user;auth_password=password;stype=phone;"
                          "snumber=1234567;cnumber=2125551234;message=Hi%20there")
    assert answer(response) == (200, {"code": "204", "key": "", "message": "OK"})
    messages, total = services.sms.query(MessageQuery(owner="user"))
    assert total == 1 and messages[0].body == "Hi there" and messages[0].sender == "1234567"


def test_post_ampersands_with_attachment(env: tuple[Services, FlaskClient]) -> None:
    response = env[1].post(PATH, data={
        "auth_username": "user", "auth_password": "password", "snumber": "2125550000",
        "cnumber": "2125551234", "message": "file", "filename1": "a.txt",
        "file1": base64.b64encode(b"hello").decode()})
    assert answer(response)[1]["code"] == "204"


@pytest.mark.parametrize("query,status,key", [
    ("auth_username=user;auth_password=bad;snumber=1;cnumber=2;message=m", 401, ""),
    ("auth_username=norole;auth_password=password;snumber=1;cnumber=2;message=m", 402, ""),
    ("auth_username=user;auth_password=password;snumber=1;message=m", 400, "cnumber"),
    ("auth_username=user;auth_password=password;snumber=1;cnumber=2", 400, "message"),
    ("auth_username=user;auth_password=password;cnumber=2;message=m", 400, "snumber"),
    ("auth_username=user;auth_password=password;snumber=1;cnumber=abc;message=m", 400,
     "cnumber"),
    ("auth_username=user;auth_password=password;snumber=1;cnumber=2;message=m;stype=fax", 400,
     "stype"),
    ("auth_username=user;auth_password=password;snumber=1;cnumber=2;message=m;customer=x", 400,
     "customer"),
    ("auth_username=user;auth_password=password;snumber=1;cnumber=2;message=m;filename1=a;"
     "file1=***", 400, "file1"),
])
def test_error_codes(env: tuple[Services, FlaskClient], query: str, status: int,
                     key: str) -> None:
    code, body = answer(env[1].get(f"{PATH}?{query}"))
    assert (code, body["code"], body["key"]) == (status, str(status), key)
    assert body["message"]


def test_rate_plan_is_403(env: tuple[Services, FlaskClient]) -> None:
    query = "?auth_username=slow;auth_password=password;snumber=12;cnumber=2125551234;message=m"
    assert answer(env[1].get(PATH + query))[0] == 200
    assert answer(env[1].get(PATH + query)) == (
        403, {"code": "403", "key": "", "message": "Your rate plan does not allow this."})
