"""Every example request of seeds 000-003, replayed against a real ivr (waitress on 127.0.0.1).

HTTP examples are sent byte for byte over a socket (only the Host header is the document's
own); curl examples are run with the real curl, the document's host replaced by ours and its
credential placeholders by a real account. The answers must have the documented shape. The
curl examples of docs/http-api-dialects.md are run here too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ivr.api.app import create_app, serve_http
from ivr.api.restcomm import message_id_from_sid
from ivr.config import Settings
from ivr.service import Services, build_services
from ivr.sms.message import Status
from ivr.sms.store import MessageQuery
from ivr.users import User
from tools.http_peers import Recorder

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    services: Services
    port: int
    demo: User

    def raw(self, request: bytes, timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
        """Send ``request`` as is; return status, headers (lower-case) and body."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks = []
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("ivr")
    settings = Settings()
    settings.ivr.data_dir = str(directory)
    settings.sms.database_url = f"sqlite:///{directory}/ivr.db"
    settings.sms.transports = {"loopback": "loopback://?delay=0.05"}
    settings.sms.callback_allow = ["127.0.0.0/8"]   # the local receivers
    settings.sms.retry_base_seconds = 0.05
    services = build_services(settings)
    services.users.add("johndow", "12345678", {"sms"})       # seed 000's example account
    services.users.add("user", "password", {"sms"})          # seed 002's example account
    demo = services.users.ensure_demo_user()
    services.sms.start()
    http = serve_http(create_app(settings, services), "127.0.0.1", 0, 4)
    yield Server(services, http.port, demo)
    http.stop()
    services.sms.stop()
    services.users.close()


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


# -- 000 Acrobits ------------------------------------------------------------------------------

ACROBITS_GET = crlf(
    "GET /send_message/?from=johndow&password=12345678&sms_to=%2B15551231234&sms_body=Hello%20"
    "World&content_type=text/plain&disposition_notification=xkXRBMCL.twvNcfC9:positive-"
    "delivery,display HTTP/1.1\nHost: example.com\nConnection: close\nCache-Control: max-age=0\n"
    "User-Agent: CloudSoftphone/1.5.6\n\n")

ACROBITS_JSON_BODY = (
    '{\n"from" : "johndow",\n"password" : "12345678",\n"sms_to" : "+1(555)123-1234",\n'
    '"sms_body" : "Hello World",\n"content_type" : "text/plain",\n'
    '"disposition_notification" : "xkXRBMCL.twvNcfC9:positive-delivery, display"\n}')


def acrobits_post(body: str) -> bytes:
    # The document says "Content-Length: 183" but its body is longer (213+ bytes): replaying
    # that header would truncate the JSON, so the length is the body's real one.
    return crlf("POST /send_message/ HTTP/1.1\nHost: example.com\nConnection: close\n"
                "Cache-Control: max-age=0\nUser-Agent: CloudSoftphone/1.5.6\n"
                f"Content-Type: application/json\nContent-Length: {len(body.encode())}\n\n"
                ) + body.encode()


def test_acrobits_get_example(server: Server) -> None:
    status, headers, body = server.raw(ACROBITS_GET)
    assert status == 200 and headers["content-type"] == "application/json"
    message = server.services.sms.get(json.loads(body)["sms_id"])
    assert message is not None
    assert message.disposition_notification == "xkXRBMCL.twvNcfC9:positive-delivery,display"


def test_acrobits_post_json_example(server: Server) -> None:
    status, _, body = server.raw(acrobits_post(ACROBITS_JSON_BODY))
    assert status == 200 and list(json.loads(body)) == ["sms_id"]
    message = server.services.sms.get(json.loads(body)["sms_id"])
    assert message is not None and message.recipient == "+15551231234"
    assert message.disposition_notification == "xkXRBMCL.twvNcfC9:positive-delivery, display"


def test_acrobits_error_example_invalid_recipient(server: Server) -> None:
    status, _, body = server.raw(acrobits_post(
        ACROBITS_JSON_BODY.replace("+1(555)123-1234", "nobody")))
    assert (status, json.loads(body)) == (406, {"message": "Invalid recipient"})


# -- 001 JSON:API ------------------------------------------------------------------------------

def jsonapi(query: str) -> bytes:
    return crlf(f"POST /api/message?{query} HTTP/1.1\nHost: your.server.name\n"
                "Content-Length: 0\nConnection: close\n\n")


ONE = "_login=LOGIN&_password=PASSWORD&destination_number=12123388100&body=test&require_dlr=1"
TWO = ONE + "&destination_number=12123388101&body=test1&require_dlr=1"


def shape(item: dict[str, Any]) -> None:
    assert list(item) == ["attributes", "id", "meta", "type"] and item["type"] == "message"
    assert list(item["attributes"]) == ["destination_number", "segments", "status"]
    assert item["attributes"]["status"] == "ok" and isinstance(item["id"], str)


def test_jsonapi_examples(server: Server) -> None:
    # "Error": the document's request, before the LOGIN account exists
    status, headers, body = server.raw(jsonapi(ONE))
    assert status == 401 and headers["content-type"] == "application/vnd.api+json"
    assert json.loads(body) == {"errors": [{"code": "authentication",
                                            "detail": "Please check your login and password",
                                            "title": "Authentication error"}]}
    if server.services.users.get("LOGIN") is None:
        server.services.users.add("LOGIN", "PASSWORD", {"sms"})
    status, _, body = server.raw(jsonapi(ONE))
    document = json.loads(body)
    assert status == 200 and list(document) == ["data"]
    shape(document["data"])
    assert document["data"]["attributes"]["destination_number"] == "12123388100"
    assert document["data"]["meta"] == {"request_id": "1"}
    status, _, body = server.raw(jsonapi(TWO))
    data = json.loads(body)["data"]
    assert isinstance(data, list) and len(data) == 2
    for item in data:
        shape(item)
    assert [d["meta"]["request_id"] for d in data] == ["1", "2"]
    assert [d["attributes"]["destination_number"] for d in data] == ["12123388100",
                                                                     "12123388101"]


# -- 002 Enswitch ------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "auth_username=user;auth_password=password;stype=;snumber=2125550000;cnumber=2125551234;"
    "message=This%20is%20an%example%20message",
    "auth_username=user;auth_password=password;stype=phone;snumber=1234567;cnumber=2125551234;"
    "message=This%20is%20an%example%20message",
])
def test_enswitch_examples(server: Server, query: str) -> None:
    status, _, body = server.raw(crlf(f"GET /api/json/messages/text/send/?{query} HTTP/1.1\n"
                                      "Host: enswitch.example.com\nConnection: close\n\n"))
    assert status == 200
    assert json.loads(body) == {"responses": [{"code": "204", "key": "", "message": "OK"}]}


# -- 003 Restcomm (curl) -----------------------------------------------------------------------

def curl(server: Server, command: str, callback: str = "") -> str:
    """Run one of the document's curl commands with our host and the demo account."""
    command = (command.replace("https://mycompany.restcomm.com", f"http://127.0.0.1:{server.port}")
               .replace("ACCOUNT_SID", server.demo.account_sid)
               .replace("YourAccountSid:YourAuthToken",
                        f"{server.demo.account_sid}:{server.demo.auth_token}")
               .replace("http://status.callback.url", callback))
    args = [a.strip("'") for a in re.findall(r"'[^']*'|\S+", command.replace("\\\n", " "))]
    result = subprocess.run(args + ["-s", "--max-time", "20"], capture_output=True, timeout=30,
                            check=True)
    return result.stdout.decode()


POST_KEYS = ["sid", "date_created", "date_updated", "account_sid", "from", "to", "body",
             "status", "direction", "api_version", "uri"]


def test_restcomm_send_example_with_status_callbacks(server: Server) -> None:
    with Recorder() as recorder:
        out = curl(server, """curl -X POST https://mycompany.restcomm.com/restcomm/2012-04-24/Accounts/ACCOUNT_SID/SMS/Messages.json \\
-d 'From=19876543212' \\
-d 'To=13216549878' \\
-d 'Body=Test SMS' \\
-d 'StatusCallback=http://status.callback.url' \\
-u 'YourAccountSid:YourAuthToken'""", callback=f"{recorder.url}/status")
        resource = json.loads(out)
        assert list(resource) == POST_KEYS
        assert resource["uri"].startswith(f"/restcomm/2012-04-24/Accounts/"
                                          f"{server.demo.account_sid}/SMS/Messages/SM")
        hits = recorder.wait_for(2)
    assert [h.method for h in hits] == ["POST", "POST"]
    assert [h.first("MessageStatus") for h in hits] == ["sent", "delivered"]
    assert [list(h.params) for h in hits] == [
        ["MessageSid", "MessageStatus", "AccountSid", "From", "To", "Body"]] * 2
    assert hits[0].first("MessageSid") == resource["sid"]
    assert hits[0].first("AccountSid") == server.demo.account_sid


def test_restcomm_client_example(server: Server) -> None:
    out = curl(server, """curl -X POST https://mycompany.restcomm.com/restcomm/2012-04-24/Accounts/ACCOUNT_SID/SMS/Messages.json \\
-d 'From=19876543212' \\
-d 'To=client:alice8' \\
-d 'Body=Test SIP message' \\
-d 'StatusCallback=http://status.callback.url' \\
-u 'YourAccountSid:YourAuthToken'""", callback="http://127.0.0.1:9/never")
    resource = json.loads(out)
    assert list(resource) == POST_KEYS and resource["to"] == "client:alice8"
    stored = server.services.sms.get(message_id_from_sid(resource["sid"]) or "")
    assert stored is not None and stored.callback_url == ""   # not applicable to clients


def test_restcomm_list_and_get_examples(server: Server) -> None:
    listing = json.loads(curl(server, "curl -X GET https://mycompany.restcomm.com/restcomm/"
                              "2012-04-24/Accounts/ACCOUNT_SID/SMS/Messages.json?From="
                              "19876543212&To=13216549878&StartTime=2018-05-30&EndTime="
                              "2018-06-09&Page=0&PageSize=10&SortBy=DateCreated:asc "
                              "-u 'YourAccountSid:YourAuthToken'"))
    for key in ("page", "num_pages", "page_size", "total", "start", "end", "uri",
                "first_page_uri", "previous_page_uri", "next_page_uri", "last_page_uri",
                "messages"):
        assert key in listing
    assert listing["total"] == 0 and listing["page_size"] == 10
    limited = json.loads(curl(server, "curl -X GET https://mycompany.restcomm.com/restcomm/"
                              "2012-04-24/Accounts/ACCOUNT_SID/SMS/Messages.json?PageSize=10"
                              "&Limit=500 -u 'YourAccountSid:YourAuthToken'"))
    assert limited["total"] >= 1 and limited["messages"]
    sid = limited["messages"][0]["sid"]
    one = json.loads(curl(server, "curl -X GET https://mycompany.restcomm.com/restcomm/"
                          "2012-04-24/Accounts/ACCOUNT_SID/SMS/Messages/MESSAGE_SID.json "
                          "-u 'YourAccountSid:YourAuthToken'".replace("MESSAGE_SID", sid)))
    assert list(one)[:2] == ["sid", "date_created"] and one["sid"] == sid
    assert {"date_sent", "num_segments", "error_code", "error_message"} <= set(one)


# -- docs/http-api-dialects.md -----------------------------------------------------------------

def doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "http-api-dialects.md").read_text(encoding="utf-8")
    return [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if b.lstrip().startswith("curl")]


def test_docs_have_curl_examples_for_every_dialect() -> None:
    blocks = "\n".join(doc_blocks())
    for path in ("/send_message/", "/api/message", "/api/json/messages/text/send/",
                 "/SMS/Messages"):
        assert path in blocks


@pytest.mark.parametrize("block", doc_blocks())
def test_doc_curl_example_runs(server: Server, block: str) -> None:
    assert shutil.which("curl")
    env = dict(os.environ, IVR=f"http://127.0.0.1:{server.port}",
               SID=server.demo.account_sid, TOKEN=server.demo.auth_token)
    result = subprocess.run(["bash", "-c", block], capture_output=True, env=env, timeout=30)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    if out.startswith("<?xml"):
        assert etree.fromstring(out.encode()).tag == "RestcommResponse"
        return
    document = json.loads(out)
    assert ("sms_id" in document or "data" in document or "sid" in document
            or "messages" in document
            or document.get("responses", [{}])[0].get("code") == "204"), out


def test_demo_messages_reach_a_final_status(server: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages, _ = server.services.sms.query(MessageQuery(owner="HTTP_User_1", limit=500))
        if messages and all(m.status == Status.DELIVERED for m in messages):
            return
        time.sleep(0.1)
    raise AssertionError([(m.recipient, m.status) for m in messages])
