"""What a hostile client tried against the HTTP API (security issue items 7, 8, 12, 13, 15,
16, 18), against the real waitress server on 127.0.0.1 with the real SMS pipeline."""

from __future__ import annotations

import logging
import statistics
import time
import urllib.parse

import pytest
import requests
from lxml import etree

from ivr.sms.submit import MessageQuery
from tests.integration.test_api_ozeki import Api, api  # noqa: F401 (the fixture)

RESTCOMM = "/api/2012-04-24/Accounts/{sid}/SMS/Messages"


def _ozeki(api: Api, **params: str) -> requests.Response:  # noqa: F811
    return requests.get(f"{api.base}/api", params={"command": "SendSms", **params}, timeout=10)


def _stored(api: Api) -> int:  # noqa: F811
    return api.services.sms.query(MessageQuery(limit=1))[1]


# -- item 7: recipients per request ----------------------------------------------------------
def test_too_many_recipients_are_refused_before_anything_is_stored(api: Api) -> None:  # noqa: F811
    cap = api.services.settings.http.max_recipients
    many = ",".join(f"+3620{n:07d}" for n in range(cap + 1))
    response = _ozeki(api, Username="smsonly", Password="password1", Recipient=many,
                      Message="x")
    root = etree.fromstring(response.content)
    assert root.findtext("Code") == "302"
    assert "Recipient" in (root.findtext("Message") or "")
    assert f"at most {cap}" in (root.findtext("Message") or "")
    assert _stored(api) == 0


def test_each_recipient_costs_one_rate_limit_token(api: Api) -> None:  # noqa: F811
    api.services.users.add("five", "password1", {"sms"}, rate_limit_per_minute=5)
    three = "+3611,+3612,+3613"
    first = _ozeki(api, Username="five", Password="password1", Recipient=three, Message="x")
    second = _ozeki(api, Username="five", Password="password1", Recipient=three, Message="x")
    assert api.code(first) == 200 and api.code(second) == 429
    assert _stored(api) == 3


# -- item 8: client address behind a proxy, Restcomm AccountSid logins -------------------------
def _restcomm(api: Api, sid: str, token: str, client: str = "",  # noqa: F811
              **form: str) -> requests.Response:
    headers = {"X-Forwarded-For": client} if client else {}
    return requests.post(api.base + RESTCOMM.format(sid=sid) + ".json", auth=(sid, token),
                         data=form or {"To": "+3611", "From": "+3612", "Body": "hi"},
                         headers=headers, timeout=10)


def test_demo_account_sid_is_refused_through_a_proxy(api: Api) -> None:  # noqa: F811
    demo = api.services.users.ensure_demo_user()
    assert _restcomm(api, demo.account_sid, demo.auth_token,
                     client="203.0.113.9").status_code == 403
    assert _restcomm(api, demo.account_sid, demo.auth_token).status_code in (200, 201)
    ozeki = requests.get(f"{api.base}/api", params={
        "command": "SendSms", "Username": "HTTP_User_1", "Password": "qwe123",
        "Recipient": "+3611", "Message": "x"}, headers={"X-Forwarded-For": "203.0.113.9"},
        timeout=10)
    assert api.code(ozeki) == 307


def test_bad_account_sids_lock_out_only_their_own_client(api: Api) -> None:  # noqa: F811
    user = api.services.users.add("tenant", "password1", {"sms"})
    for n in range(5):
        bad = f"AC{n:032d}"
        assert _restcomm(api, bad, "wrong", client="203.0.113.9").status_code == 401
    assert _restcomm(api, user.account_sid, user.auth_token,
                     client="203.0.113.9").status_code == 429
    assert _restcomm(api, user.account_sid, user.auth_token,
                     client="198.51.100.7").status_code in (200, 201)


# -- item 12 and 18: control characters ------------------------------------------------------
def test_control_character_in_restcomm_body_is_refused_before_the_commit(
        api: Api) -> None:  # noqa: F811
    user = api.services.users.add("xmlclient", "password1", {"sms"})
    url = api.base + RESTCOMM.format(sid=user.account_sid)
    refused = requests.post(url, auth=(user.account_sid, user.auth_token), timeout=10,
                            data={"To": "+3611", "From": "+3612", "Body": "a\x01b"})
    assert refused.status_code == 400
    root = etree.fromstring(refused.content)          # well-formed although it quotes input
    assert "U+0001" in (root.findtext(".//Message") or "")
    assert _stored(api) == 0
    listed = requests.get(url, auth=(user.account_sid, user.auth_token), timeout=10)
    assert listed.status_code == 200
    etree.fromstring(listed.content)


def test_ozeki_answer_quoting_a_control_character_is_well_formed(api: Api) -> None:  # noqa: F811
    response = _ozeki(api, Username="smsonly", Password="password1", Recipient="+36\x0111",
                      Message="x")
    root = etree.fromstring(response.content)
    assert root.findtext("Code") == "302"
    assert "\\x01" in (root.findtext("Message") or "")


# -- item 13: provider webhook token -----------------------------------------------------------
def test_non_ascii_webhook_token_is_refused_not_a_500(api: Api) -> None:  # noqa: F811
    [transport] = api.services.settings.sms.transports
    token = urllib.parse.quote("é" * 32)
    response = requests.get(f"{api.base}/dlr/http/{transport}?id=1&status=1&token={token}",
                            timeout=10)
    assert response.status_code == 403


# -- item 15: forged log lines, credentials in logs ---------------------------------------------
def test_crlf_in_request_id_and_path_cannot_forge_log_lines(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.INFO, logger="ivr.api.app")
    response = requests.get(f"{api.base}/api%0d%0aFORGED%20line?command=x", timeout=10,
                            headers={"X-Request-Id": "abc FORGED line"})
    assert response.headers["X-Request-Id"] != "abc FORGED line"
    lines = [r.getMessage() for r in caplog.records if r.name == "ivr.api.app"]
    assert lines and all("\n" not in line and "\r" not in line for line in lines)
    assert any("\\r\\nFORGED" in line for line in lines)


# -- item 16: login timing ---------------------------------------------------------------------
def test_unknown_and_known_users_take_the_same_time(api: Api) -> None:  # noqa: F811
    users = api.services.users

    addresses = iter(range(1, 255))

    def seconds(name: str) -> float:      # one address each: no lockout in the way
        started = time.perf_counter()
        try:
            users.authenticate(name, "wrong-password", f"192.0.2.{next(addresses)}")
        except Exception:
            pass
        return time.perf_counter() - started

    unknown = statistics.median(seconds(f"nobody{n}") for n in range(4))
    known = statistics.median(seconds("smsonly") for _ in range(4))
    assert 0.5 <= unknown / known <= 2.0, (unknown, known)
