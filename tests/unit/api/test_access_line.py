"""One INFO line per API request: the access line carries what the view did (the accepted
message's id, user, recipient), so an accepted SendSms costs one log record, not two."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from ivr.api.app import create_app
from tests.unit.api.test_acrobits_views import make_services

_SEND = ("/api?command=SendSms&Username=alice&Password=s3cret!1&Recipient=%2B36201234567,"
         "%2B36201234568&Message=Hello")


def test_an_accepted_sendsms_is_one_line_with_each_message(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    services = make_services(tmp_path)
    services.users.add("alice", "s3cret!1", {"sms"})
    client = create_app(services.settings, services).test_client()
    caplog.set_level(logging.INFO)
    response = client.get(_SEND, headers={"X-Request-Id": "r-1"})
    ids = re.findall(rb"<SmsId>([^<]+)</SmsId>", response.data)
    assert len(ids) == 2
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("[req r-1] 127.0.0.1 GET /api -> 200 (")
    for sms_id, recipient in zip(ids, ("+36201234567", "+36201234568"), strict=True):
        assert f"[sms {sms_id.decode()}] accepted from api:ozeki user alice for {recipient} " \
               "(1 part(s), gsm7)" in line
    services.users.close()


def test_a_refused_request_is_one_line_without_notes(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    services = make_services(tmp_path)
    client = create_app(services.settings, services).test_client()
    caplog.set_level(logging.INFO)
    client.get("/api?command=SendSms&Username=nobody&Password=whatever1&Recipient=1&Message=x")
    lines = [r.getMessage() for r in caplog.records
             if r.levelno >= logging.INFO and r.name == "ivr.api.app"]
    assert len(lines) == 1 and lines[0].endswith("ms)")
    services.users.close()


def test_access_log_off_logs_nothing_at_info(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """``[http] access_log = false``: the request's line goes to DEBUG, the message's
    acceptance with it (it is part of that line); errors still log."""
    services = make_services(tmp_path)
    services.settings.http.access_log = False
    services.users.add("alice", "s3cret!1", {"sms"})
    client = create_app(services.settings, services).test_client()
    caplog.set_level(logging.DEBUG)
    assert b"<Code>200</Code>" in client.get(_SEND).data
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    debug = [r.getMessage() for r in caplog.records if r.name == "ivr.api.app"]
    assert len(debug) == 1 and "accepted from api:ozeki user alice" in debug[0]
    services.users.close()


def test_other_dialects_log_their_acceptance_in_the_access_line_too(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    services = make_services(tmp_path)
    services.users.add("alice", "s3cret!1", {"sms"})
    client = create_app(services.settings, services).test_client()
    caplog.set_level(logging.INFO)
    response = client.get("/send_message/?from=alice&password=s3cret!1&sms_to=%2B15551231234"
                          "&sms_body=Hi")
    sms_id = response.get_json()["sms_id"]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1 and f"[sms {sms_id}] accepted from api:acrobits user alice" \
        in lines[0], lines
    services.users.close()


def test_a_submit_outside_a_request_logs_on_its_own(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from ivr.api.app import access_log
    from ivr.call import SmsRequest

    services = make_services(tmp_path)
    caplog.set_level(logging.INFO)
    message = services.sms.submit(SmsRequest(recipient="+15551231234", body="Hi",
                                             source="cli"), log_to=access_log())
    assert any(f"[sms {message.id}] accepted from cli" in r.getMessage()
               for r in caplog.records)
    services.users.close()
