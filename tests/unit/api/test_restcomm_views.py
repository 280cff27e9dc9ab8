"""Restcomm SMS endpoints on the real app: Basic auth per account, POST, list paging, one, XML."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lxml import etree

from ivr.api.app import create_app
from ivr.api.restcomm import message_id_from_sid
from ivr.service import Services
from ivr.users import User
from tests.unit.api.test_acrobits_views import make_services


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Services, FlaskClient, User, User]]:
    services = make_services(tmp_path)
    alice = services.users.add("alice", "alice-pw", {"sms"})
    bob = services.users.add("bob", "bob-pw-1", {"sms"})
    yield services, create_app(services.settings, services).test_client(), alice, bob
    services.users.close()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def base(user: User) -> str:
    return f"/api/2012-04-24/Accounts/{user.account_sid}/SMS/Messages"


def post(client: FlaskClient, user: User, suffix: str = ".json", **form: str) -> Any:
    data = {"From": "19876543212", "To": "13216549878", "Body": "Test SMS"}
    data.update(form)
    return client.post(base(user) + suffix, data=data,
                       headers=basic(user.account_sid, user.auth_token))


def test_post_json(env: tuple[Services, FlaskClient, User, User]) -> None:
    services, client, alice, _ = env
    response = post(client, alice, StatusCallback="http://127.0.0.1:9/cb",
                    StatusCallbackMethod="GET")
    assert response.status_code == 200 and response.content_type == "application/json"
    resource = json.loads(response.data)
    assert list(resource) == ["sid", "date_created", "date_updated", "account_sid", "from",
                              "to", "body", "status", "direction", "api_version", "uri"]
    assert resource["account_sid"] == alice.account_sid and resource["status"] == "queued"
    assert resource["uri"] == f"{base(alice)}/{resource['sid']}.json"
    stored = services.sms.get(message_id_from_sid(resource["sid"]) or "")
    assert stored is not None and stored.callback_format == "restcomm"
    assert (stored.callback_url, stored.callback_method) == ("http://127.0.0.1:9/cb", "GET")


def test_post_xml_and_user_password_auth(env: tuple[Services, FlaskClient, User, User]) -> None:
    _, client, alice, _ = env
    response = client.post(base(alice), data={"From": "1987", "To": "13216549878", "Body": "x"},
                           headers=basic("alice", "alice-pw"))
    assert response.status_code == 200 and response.content_type == "application/xml"
    root = etree.fromstring(response.data)
    assert root.tag == "RestcommResponse" and root.findtext("SMSMessage/Status") == "queued"
    assert not root.findtext("SMSMessage/Uri").endswith(".json")


@pytest.mark.parametrize("form,message", [
    ({"To": ""}, "To is required"), ({"Body": ""}, "Body is required"),
    ({"From": ""}, "From is required"), ({"To": "abc"}, "To: "),
    ({"StatusCallbackMethod": "PUT"}, "StatusCallbackMethod must be GET or POST"),
])
def test_post_errors(env: tuple[Services, FlaskClient, User, User], form: dict[str, str],
                     message: str) -> None:
    response = post(env[1], env[2], **form)
    assert response.status_code == 400
    assert json.loads(response.data)["message"].startswith(message)


def test_auth_and_other_accounts(env: tuple[Services, FlaskClient, User, User]) -> None:
    _, client, alice, bob = env
    assert client.get(base(alice) + ".json").status_code == 401
    wrong = client.get(base(alice) + ".json", headers=basic(alice.account_sid, "bad"))
    assert wrong.status_code == 401
    other = client.get(base(alice) + ".json", headers=basic(bob.account_sid, bob.auth_token))
    assert other.status_code == 403
    sid = json.loads(post(client, alice).data)["sid"]
    # bob cannot read alice's message through his own account either
    peek = client.get(f"{base(bob)}/{sid}.json", headers=basic(bob.account_sid, bob.auth_token))
    assert peek.status_code == 404


def test_list_paging_filters_sorting(env: tuple[Services, FlaskClient, User, User]) -> None:
    _, client, alice, bob = env
    sids = [json.loads(post(client, alice, To=f"1321654987{i}", Body=f"m{i}").data)["sid"]
            for i in range(5)]
    post(client, bob)
    auth = basic(alice.account_sid, alice.auth_token)
    page0 = json.loads(client.get(base(alice) + ".json?PageSize=2", headers=auth).data)
    assert (page0["page"], page0["page_size"], page0["total"], page0["num_pages"]) == (0, 2, 5, 3)
    assert (page0["start"], page0["end"], page0["previous_page_uri"]) == ("0", "1", "null")
    assert [m["sid"] for m in page0["messages"]] == sids[:2]
    for key in ("uri", "first_page_uri", "next_page_uri", "last_page_uri"):
        assert page0[key].startswith(base(alice) + ".json")
    page1 = json.loads(client.get(page0["next_page_uri"], headers=auth).data)
    assert [m["sid"] for m in page1["messages"]] == sids[2:4]
    assert (page1["page"], page1["start"], page1["end"]) == (1, "2", "3")
    last = json.loads(client.get(page0["last_page_uri"], headers=auth).data)
    assert [m["sid"] for m in last["messages"]] == sids[4:] and last["next_page_uri"] == "null"
    desc = json.loads(client.get(base(alice) + ".json?SortBy=DateCreated:desc&PageSize=1",
                                 headers=auth).data)
    assert desc["messages"][0]["sid"] == sids[-1]
    only = json.loads(client.get(base(alice) + ".json?To=13216549873", headers=auth).data)
    assert [m["sid"] for m in only["messages"]] == [sids[3]] and only["total"] == 1
    none = json.loads(client.get(base(alice) + ".json?EndTime=2018-06-09", headers=auth).data)
    assert none["total"] == 0 and none["messages"] == []
    bad = client.get(base(alice) + ".json?SortBy=Body", headers=auth)
    assert bad.status_code == 400 and "SortBy" in json.loads(bad.data)["message"]
    xml = etree.fromstring(client.get(base(alice) + "?PageSize=2", headers=auth).data)
    listing = xml.find("SMSMessages")
    assert listing is not None and listing.get("total") == "5"
    assert len(listing.findall("SMSMessage")) == 2


def test_get_one_has_every_attribute(env: tuple[Services, FlaskClient, User, User]) -> None:
    _, client, alice, _ = env
    sid = json.loads(post(client, alice).data)["sid"]
    auth = basic(alice.account_sid, alice.auth_token)
    resource = json.loads(client.get(f"{base(alice)}/{sid}.json", headers=auth).data)
    assert set(resource) >= {"sid", "date_created", "date_updated", "date_sent", "account_sid",
                             "from", "to", "body", "status", "direction", "num_segments",
                             "api_version", "uri", "error_code", "error_message"}
    assert resource["date_created"].endswith("+0000") and resource["num_segments"] == 1
    xml = etree.fromstring(client.get(f"/restcomm/2012-04-24/Accounts/{alice.account_sid}"
                                      f"/SMS/Messages/{sid}", headers=auth).data)
    assert xml.findtext("SMSMessage/Sid") == sid
    missing = client.get(f"{base(alice)}/SM{'0' * 32}.json", headers=auth)
    assert missing.status_code == 404
